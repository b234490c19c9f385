import DNS
import Foundation
import MailCore
import TestSupport
import Testing

/// The zone the resolver tests ask about, served once for the suite.
let testDNS = Result {
    try TestDNSServer(zones: ["pillarbox.example."], localData: [
        "pillarbox.example. IN MX 10 mx1.pillarbox.example.",
        "pillarbox.example. IN MX 20 mx2.pillarbox.example.",
        "mx1.pillarbox.example. IN A 127.0.0.5",
        "mx2.pillarbox.example. IN A 127.0.0.6",
        "mx2.pillarbox.example. IN AAAA ::1",
        "nullmx.pillarbox.example. IN MX 0 .",
        "pillarbox.example. IN TXT \"v=spf1 \" \"-all\"",
    ])
}

@Suite("Unbound resolver against a DNS server on loopback")
struct UnboundResolverTests {
    func resolver() throws -> UnboundResolver {
        let server = try testDNS.get()
        return try UnboundResolver(servers: ["127.0.0.1:\(server.port)"], timeout: .seconds(10))
    }

    @Test("MX, A, AAAA and TXT answers")
    func answers() async throws {
        let resolver = try resolver()
        let mx = try await resolver.mx("pillarbox.example").records
        #expect(Set(mx ?? []) == [.init(preference: 10, host: "mx1.pillarbox.example"), .init(preference: 20, host: "mx2.pillarbox.example")])
        #expect(try await resolver.addresses("mx2.pillarbox.example").records?.map(\.description) == ["127.0.0.6", "::1"])
        #expect(try await resolver.txt("pillarbox.example").records == [[Array("v=spf1 ".utf8), Array("-all".utf8)]])
    }

    @Test("no records, a name that does not exist, and the null MX")
    func absences() async throws {
        let resolver = try resolver()
        guard case .noRecords = try await resolver.mx("mx1.pillarbox.example") else { Issue.record("expected NODATA"); return }
        guard case .nonexistentDomain = try await resolver.mx("nothere.pillarbox.example") else { Issue.record("expected NXDOMAIN"); return }
        #expect(try await MailExchangers.destination(of: "nullmx.pillarbox.example", resolver: resolver) == .nullMX)
        #expect(try await MailExchangers.destination(of: "pillarbox.example", resolver: resolver)
                == .hosts(["mx1.pillarbox.example", "mx2.pillarbox.example"]))
    }

    @Test("a server that does not answer is a failure within the timeout, not a hang")
    func silentServer() async throws {
        let silent = try TestDNSServer.freeUDPPort()
        let resolver = try UnboundResolver(servers: ["127.0.0.1:\(silent)"], timeout: .seconds(3))
        await #expect(throws: DNSFailure.self) { try await resolver.mx("pillarbox.example") }
    }

    @Test("server addresses: IP, IP:PORT, [IPv6]:PORT; anything else is refused")
    func servers() {
        #expect(throws: Never.self) { try UnboundResolver(servers: ["192.0.2.1", "192.0.2.2:5353", "[2001:db8::1]:53", "2001:db8::2"]) }
        for bad in ["dns.example", "192.0.2.1:0", "192.0.2.1:x", "[2001:db8::1", "192.0.2.1:53:1"] {
            #expect(throws: UnboundResolver.ConfigurationError.self) { try UnboundResolver(servers: [bad]) }
        }
    }
}
