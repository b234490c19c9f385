import Facts
import Projections
import Routing
import Testing

/// Where collected mail goes, over the router's in-memory directory.
@Suite("Collected mail routing")
struct CollectedMailRoutingTests {
    static func routing(_ rules: MailCollector.HeaderRouting) -> CollectedMailRouting {
        var snapshot = RouterTests.snapshot
        snapshot.aliases["sarah@isp.example"] = AliasTarget(kind: .remote, name: "")
        snapshot.aliases["boss@isp.example"] = AliasTarget(kind: .user, name: "carol")
        return CollectedMailRouting(router: Router(snapshot: snapshot), routing: .parseHeaders(rules))
    }

    static func header(_ text: String) -> [UInt8] { Array((text + "\r\n").utf8) }

    @Test("all-to: a user, a list, a local address; an unknown target routes nowhere")
    func allTo() {
        let router = Router(snapshot: RouterTests.snapshot)
        #expect(CollectedMailRouting(router: router, routing: .allTo("Alice")).recipients(header: []).map(\.route) == [.local(user: "alice")])
        #expect(CollectedMailRouting(router: router, routing: .allTo("team")).recipients(header: []).map(\.route) == [.list("team")])
        #expect(CollectedMailRouting(router: router, routing: .allTo("sales@example.com")).recipients(header: []).map(\.route)
                == [.local(user: "bob")])
        #expect(CollectedMailRouting(router: router, routing: .allTo("nobody")).recipients(header: []).isEmpty)
    }

    @Test("headers: To, Cc, Received for, Delivered-To; accepted domains and addresses; each user once; *REMOTE and other domains passed over")
    func headers() {
        let routing = Self.routing(.init(acceptedDomains: ["isp.example", "bob@mailbox.example"]))
        let header = Self.header("""
            To: "Alice" <alice@isp.example>, sarah@isp.example\r
            Cc: boss@isp.example, ALICE@isp.example, mallory@evil.example\r
            Received: from mx by isp for <bob@mailbox.example>; Mon, 1 Jan 2026 00:00:00 +0000\r
            Delivered-To: team@isp.example\r
            Subject: x
            """)
        #expect(routing.recipients(header: header).map(\.route) == [.local(user: "alice"), .local(user: "carol"), .local(user: "bob"),
                                                                   .list("team")])
    }

    @Test("special header fields with a pattern; the mappings off leave only the directory's own addresses")
    func specialFields() {
        let header = Self.header("To: undisclosed-recipients:;\r\nX-Recipient: account-5123 alice@isp.example delivered\r\nX-RCPTTO: bob@isp.example")
        let withPattern = Self.routing(.init(acceptedDomains: ["isp.example"], specialHeaders: ["X-Recipient: account-5123 * ~", "X-RCPTTO"]))
        #expect(withPattern.recipients(header: header).map(\.route) == [.local(user: "alice"), .local(user: "bob")])
        let wrongPattern = Self.routing(.init(acceptedDomains: ["isp.example"], specialHeaders: ["X-Recipient: account-9999 * ~"]))
        #expect(wrongPattern.recipients(header: header).isEmpty)
        let noMappings = Self.routing(.init(acceptedDomains: ["isp.example"], specialHeaders: ["X-RCPTTO"], disableMappings: true))
        #expect(noMappings.recipients(header: header).isEmpty)
        #expect(noMappings.recipients(header: Self.header("To: boss@isp.example")).map(\.route) == [.local(user: "carol")])
    }

    @Test("routing-error actions read and write as their JSON words", arguments: [
        "error-to-administrator", "message-to-administrator", "error-to:alice", "message-to:bob", "bounce",
    ])
    func routingErrors(text: String) {
        #expect(MailCollector.RoutingError(text)?.description == text)
    }

    @Test("a collector's rules: names, servers, ranges, accepted domains without *")
    func problems() {
        var collector = MailCollector(name: "isp", server: "pop.isp.example", user: "office", routing: .allTo("alice"))
        #expect(collector.problem == nil)
        #expect(collector.endpoint?.port == 110)
        collector.encryption = .ssl
        #expect(collector.endpoint?.port == 995)
        collector.server = "pop.isp.example:1110"
        #expect(collector.endpoint?.port == 1110)
        collector.routing = .parseHeaders(.init(acceptedDomains: ["*.isp.example"]))
        #expect(collector.problem?.contains("without *") == true)
        collector.routing = .allTo("alice")
        collector.leaveOnServerDays = -1
        #expect(collector.problem != nil)
        #expect(MailCollector.problem([MailCollector(name: "a", server: "x", user: "u", routing: .allTo("alice")),
                                       MailCollector(name: "A", server: "y", user: "v", routing: .allTo("bob"))])?.contains("two") == true)
    }
}

/// Download rules: their command-line form, and which messages they match.
@Suite("Collector download rules")
struct DownloadRuleTests {
    @Test("the command-line form: action, sizes, Field:pattern; round trip; clear errors")
    func parsing() throws {
        let rule = try MailCollector.DownloadRule(parsing: "delete >20 <100 Subject: *win  big*")
        #expect(rule == MailCollector.DownloadRule(action: .delete, header: "Subject", pattern: "*win  big*", largerThanKiB: 20, smallerThanKiB: 100))
        #expect(try MailCollector.DownloadRule(parsing: rule.text) == rule)
        #expect(try MailCollector.DownloadRule(parsing: "SKIP >5000") == MailCollector.DownloadRule(action: .skip, largerThanKiB: 5000))
        #expect(try MailCollector.DownloadRule(parsing: "keep") == MailCollector.DownloadRule(action: .keep))
        for bad in ["", "drop Subject:x", "skip >x", "skip >-1", "delete Subject", "delete :x", "delete Sub ject:x", "skip >99999999"] {
            #expect(throws: MailCollector.RuleSyntaxError.self, "\(bad)") { try MailCollector.DownloadRule(parsing: bad) }
        }
    }

    @Test("matching: size bounds in KiB, wildcards over any occurrence of the field, case-insensitive")
    func matching() {
        let large = MailCollector.DownloadRule(action: .skip, largerThanKiB: 2)
        #expect(!large.matches(size: 2048, values: { _ in [] }))
        #expect(large.matches(size: 2049, values: { _ in [] }))
        let small = MailCollector.DownloadRule(action: .keep, smallerThanKiB: 1)
        #expect(small.matches(size: 1023, values: { _ in [] }) && !small.matches(size: 1024, values: { _ in [] }))
        let spam = MailCollector.DownloadRule(action: .delete, header: "X-Spam", pattern: "*LOTTERY*")
        #expect(spam.matches(size: 10, values: { $0 == "X-Spam" ? ["no", "win the lottery"] : [] }))
        #expect(!spam.matches(size: 10, values: { _ in ["lotter y"] }))
        #expect(!spam.matches(size: 10, values: { _ in [] }))
        let both = MailCollector.DownloadRule(action: .delete, header: "From", pattern: "*@spam.example", largerThanKiB: 1)
        #expect(!both.matches(size: 100, values: { _ in ["a@spam.example"] }))
        #expect(both.matches(size: 5000, values: { _ in ["a@spam.example"] }))
    }
}
