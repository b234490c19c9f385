import DNS
import Foundation
import MailAuth
import TestSupport
import Testing

/// Pillarbox's SPF evaluator and pyspf (Debian's python3-spf) asked the same questions about a
/// test zone served by unbound on loopback: every answer the same.
@Suite("SPF against pyspf over a real DNS server", .serialized)
struct SPFCrossCheckTests {
    static let dns = Result {
        try TestDNSServer(zones: ["example."], localData: [
            #"a.example. IN TXT "v=spf1 ip4:127.0.0.0/24 -all""#,
            #"b.example. IN TXT "v=spf1 include:a.example ~all""#,
            #"c.example. IN TXT "v=spf1 a:host.c.example mx -all""#,
            "host.c.example. IN A 127.0.1.9",
            "c.example. IN MX 10 mx.c.example.",
            "mx.c.example. IN A 127.0.1.10",
            #"d.example. IN TXT "v=spf1 redirect=a.example""#,
            #"e.example. IN TXT "v=spf1 exists:%{i}.ok.example -all""#,
            "127.0.1.20.ok.example. IN A 127.0.0.2",
            #"f.example. IN TXT "v=spf1 include:nothing.example -all""#,
            #"g.example. IN TXT "v=spf1 ?all""#,
            "h.example. IN A 127.0.0.1",
            #"i.example. IN TXT "v=spf1 -ip4:127.0.0.5 +all""#,
            #"j.example. IN TXT "v=spf1 ip4:127.0.0.1" "v=spf1 -all""#,
            #"k.example. IN TXT "v=spf1 ip6:2001:db8::/32 ptr:nowhere.example ~all""#,
        ])
    }

    @Test("results agree for 11 domains and 6 client addresses")
    func agree() async throws {
        let dns = try Self.dns.get()
        let domains = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"].map { "\($0).example" }
        let clients = ["127.0.0.1", "127.0.0.5", "127.0.1.9", "127.0.1.10", "127.0.1.20", "192.0.2.1"]
        let evaluator = SPFEvaluator(resolver: try UnboundResolver(servers: ["127.0.0.1:\(dns.port)"], timeout: .seconds(5)))
        var ours: [String] = []
        for domain in domains {
            for client in clients {
                let outcome = await evaluator.check(client: try #require(IPAddress(client)), sender: "user@\(domain)", helo: "helo.example")
                ours.append("\(domain) \(client) \(outcome.result.rawValue)")
            }
        }
        let script = """
            import sys, spf, dns.resolver
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = ['127.0.0.1']
            resolver.port = \(dns.port)
            dns.resolver.default_resolver = resolver
            for domain in [\(domains.map { "'\($0)'" }.joined(separator: ", "))]:
                for client in [\(clients.map { "'\($0)'" }.joined(separator: ", "))]:
                    result, explanation = spf.check2(i=client, s='user@' + domain, h='helo.example')
                    print(domain, client, result)
            """
        let theirs = String(decoding: try DKIMInteropTests.python(script, input: []), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        #expect(theirs.count == ours.count)
        for (mine, pyspf) in zip(ours, theirs) {
            #expect(mine == pyspf, "Pillarbox: \(mine); pyspf: \(pyspf)")
        }
        // The zone exercises every result.
        for result in ["pass", "fail", "softfail", "neutral", "none", "permerror"] {
            #expect(ours.contains { $0.hasSuffix(" " + result) }, "\(result)")
        }
    }
}
