import Facts
import Foundation
import Projections
import Routing
import Testing

/// LAN forwarding rules and inline `SMTP:` targets in the router, without a database.
@Suite("LAN forwarding")
struct LANForwardingTests {
    static let exchange = LANForwardRule(name: "exchange", addresses: ["sales*@example.com", "*@branch.example.net", "desk"],
                                         server: "10.0.0.5", port: 587, user: "relay", rewrite: "*@corp.example")
    static let linux = LANForwardRule(name: "linux", addresses: ["~@example.com"], server: "mail.lan")

    static func router(bareNames: Bool = false) -> Router {
        var router = Router(snapshot: RouterTests.snapshot)
        router.lanForwarding = LANForwarding([exchange, linux], bareUserNames: bareNames)
        return router
    }

    @Test("explicit patterns come before the directory, with the rule's rewriting")
    func explicitRules() {
        let router = Self.router()
        // `sales@example.com` is an alias of bob's, but the rule's pattern comes first.
        #expect(router.route(localPart: "Sales", domain: "example.com", from: RouterTests.outsider)
                == .lan(Self.exchange.target, address: "Sales@corp.example"))
        // Any domain a rule names is accepted from anyone: it goes to the LAN, not the internet.
        #expect(router.route(localPart: "ann", domain: "branch.example.net", from: RouterTests.outsider)
                == .lan(Self.exchange.target, address: "ann@corp.example"))
        #expect(router.route(localPart: "ann", domain: "other.example.net", from: RouterTests.outsider) == .relayDenied)
    }

    @Test("~@domain is the fallback after users, aliases and lists")
    func fallback() {
        let router = Self.router()
        #expect(router.route(localPart: "alice", domain: "example.com", from: RouterTests.outsider) == .local(user: "alice"))
        #expect(router.route(localPart: "news", domain: "example.com", from: RouterTests.outsider) == .list("news"))
        #expect(router.route(localPart: "nobody", domain: "example.com", from: RouterTests.outsider)
                == .lan(Self.linux.target, address: "nobody@example.com"))
        // Not a domain of any fallback: unknown as before.
        #expect(router.route(localPart: "nobody", domain: "a.example.org", from: RouterTests.outsider) == .unknownLocal)
    }

    @Test("bare user names match on local domains only when allowed")
    func bareNames() {
        #expect(Self.router().route(localPart: "desk", domain: "example.com", from: RouterTests.outsider)
                == .lan(Self.linux.target, address: "desk@example.com"))
        let allowed = Self.router(bareNames: true)
        #expect(allowed.route(localPart: "desk", domain: "x.example.org", from: RouterTests.outsider)
                == .lan(Self.exchange.target, address: "desk@corp.example"))
        #expect(allowed.route(localPart: "desk", domain: "elsewhere.test", from: RouterTests.outsider) == .relayDenied)
    }

    @Test("a list's inline SMTP: member and its LAN-forwarded member go to the LAN queue, with the list as sender")
    func listMembers() throws {
        var snapshot = RouterTests.snapshot
        let secret = UUID()
        snapshot.listMembers["news"] = ["SMTP:Bob.Smith@Example.com@fred:{sealed:\(secret.uuidString)}@192.168.1.1:587",
                                        "sales@example.com", "reader@elsewhere.test"]
        var router = Router(snapshot: snapshot)
        router.lanForwarding = LANForwarding([Self.exchange])
        let expanded = router.expand(list: "news", address: "news@example.com", notify: [], originalRecipient: nil, remoteAllowed: false)
        #expect(expanded.withheld == ["reader@elsewhere.test"])
        #expect(expanded.recipients.map(\.route) == [.lan, .lan])
        let inline = try #require(expanded.recipients.first)
        #expect(inline.address == "Bob.Smith@example.com")
        #expect(inline.envelopeSender == "news@example.com")
        #expect(inline.lan == LANTarget(rule: nil, server: "192.168.1.1", port: 587, user: "fred", passwordSecret: secret,
                                        vaultSubject: "list:news"))
        #expect(inline.lan?.label == "lan:192.168.1.1:587")
        #expect(expanded.recipients.last?.address == "sales@corp.example")
    }

    @Test("inline targets parse strictly and say what is wrong without repeating the password")
    func inlineParsing() throws {
        let full = try InlineSMTPTarget.parse("SMTP:bob@example.com@fred:my@pass@192.168.1.1:587").get()
        #expect(full.address == "bob@example.com" && full.user == "fred" && full.password == .clear("my@pass"))
        #expect(full.server == MailSender.RelayServer(host: "192.168.1.1", port: 587))
        let plain = try InlineSMTPTarget.parse("smtp:bob@example.com@mail.lan").get()
        #expect(plain.user == nil && plain.server.port == 25)
        let sealed = UUID()
        #expect(try InlineSMTPTarget.parse("SMTP:bob@example.com@fred:{sealed:\(sealed.uuidString)}@[::1]:2525").get().stored
                == "SMTP:bob@example.com@fred:{sealed:\(sealed.uuidString)}@[::1]:2525")
        for (text, fault) in [
            ("SMTP:bob@example.com", "write SMTP:"), ("SMTP:@example.com@host", "no user part"),
            ("SMTP:bob@exa mple.com@host", "no spaces"), ("SMTP:bob@-bad-@host", "not a domain name"),
            ("SMTP:bob@example.com@fredsecret@host", "<user>:<password>"), ("SMTP:bob@example.com@:secret@host", "no user"),
            ("SMTP:bob@example.com@fred:@host", "no password"), ("SMTP:bob@example.com@host:99999", "1...65535"),
            ("SMTP:bob@example.com@host:x", "not a number"), ("SMTP:bob@example.com@fred:secret@", "not a host name"),
        ] {
            guard case .failure(let problem) = InlineSMTPTarget.parse(text) else {
                Issue.record("\(text) parsed")
                continue
            }
            #expect(problem.description.contains(fault), "\(text): \(problem)")
            #expect(!problem.description.contains("secret"))
        }
    }

    @Test("rules are checked when set: patterns, server, port, encryption, rewrite, names")
    func ruleProblems() {
        #expect(LANForwarding.problem([Self.exchange, Self.linux]) == nil)
        func problem(_ edit: (inout LANForwardRule) -> Void) -> String? {
            var rule = Self.exchange
            edit(&rule)
            return rule.problem
        }
        #expect(problem { $0.addresses = [] }?.contains("no addresses") == true)
        #expect(problem { $0.addresses = ["a@b@c"] }?.contains("more than one @") == true)
        #expect(problem { $0.addresses = ["x~@example.com"] }?.contains("~ stands alone") == true)
        #expect(problem { $0.server = "10.0.0.5:25" }?.contains("port with port") == true)
        #expect(problem { $0.server = "bad host" }?.contains("not a host name") == true)
        #expect(problem { $0.port = 0 }?.contains("1...65535") == true)
        #expect(problem { $0.encryption = .ssl }?.contains("implicit TLS") == true)
        #expect(problem { $0.rewrite = "corp.example" }?.contains("*@newdomain") == true)
        #expect(problem { $0.name = "a b" }?.contains("name") == true)
        #expect(LANForwarding.problem([Self.exchange, Self.exchange])?.contains("same name") == true)
        #expect(Self.exchange.rewritten("Sales@example.com") == "Sales@corp.example")
        var fixed = Self.exchange
        fixed.rewrite = "desk@corp.example"
        #expect(fixed.rewritten("sales@example.com") == "desk@corp.example")
    }
}
