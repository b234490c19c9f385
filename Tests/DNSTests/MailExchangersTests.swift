import DNS
import MailCore
import Testing

@Suite("Mail exchangers (RFC 5321 §5.1)")
struct MailExchangersTests {
    static var resolver: StaticResolver {
        var resolver = StaticResolver()
        resolver.mxRecords["example.com"] = [
            .init(preference: 20, host: "backup.example.com"), .init(preference: 10, host: "mx-b.example.com"),
            .init(preference: 10, host: "mx-a.example.com"),
        ]
        resolver.addressRecords["plain.example"] = [IPAddress("192.0.2.7")!]
        resolver.mxRecords["nomail.example"] = [.init(preference: 0, host: "")]
        resolver.mxRecords["mixed.example"] = [.init(preference: 0, host: ""), .init(preference: 5, host: "mx.mixed.example")]
        resolver.failing = ["broken.example"]
        return resolver
    }

    @Test("MX hosts by preference, equal preferences shuffled")
    func preference() async throws {
        let reversed = try await MailExchangers.destination(of: "Example.COM.", resolver: Self.resolver) { $0.sorted().reversed() }
        #expect(reversed == .hosts(["mx-b.example.com", "mx-a.example.com", "backup.example.com"]))
        let sorted = try await MailExchangers.destination(of: "example.com", resolver: Self.resolver) { $0.sorted() }
        #expect(sorted == .hosts(["mx-a.example.com", "mx-b.example.com", "backup.example.com"]))
    }

    @Test("no MX: the domain itself; null MX; a domain that does not exist; no answer")
    func specialCases() async throws {
        #expect(try await MailExchangers.destination(of: "plain.example", resolver: Self.resolver) == .hosts(["plain.example"]))
        #expect(try await MailExchangers.destination(of: "nomail.example", resolver: Self.resolver) == .nullMX)
        #expect(try await MailExchangers.destination(of: "mixed.example", resolver: Self.resolver) == .hosts(["mx.mixed.example"]))
        #expect(try await MailExchangers.destination(of: "missing.example", resolver: Self.resolver) == .nonexistentDomain)
        await #expect(throws: DNSFailure.self) { try await MailExchangers.destination(of: "broken.example", resolver: Self.resolver) }
    }

    @Test("an override names the hosts without asking DNS")
    func overrides() async throws {
        let destination = try await MailExchangers.destination(of: "broken.example", resolver: Self.resolver,
                                                               overrides: ["broken.example": ["127.0.0.5"]])
        #expect(destination == .hosts(["127.0.0.5"]))
    }
}

@Suite("IP addresses")
struct IPAddressTests {
    @Test("written as RFC 5952 recommends", arguments: [
        ("192.0.2.1", "192.0.2.1"), ("2001:db8::1", "2001:db8::1"), ("::1", "::1"), ("::", "::"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("fe80::", "fe80::"),
    ])
    func text(_ input: String, _ expected: String) throws {
        #expect(try #require(IPAddress(input)).description == expected)
    }

    @Test("networks and names are not addresses")
    func notAddresses() {
        #expect(IPAddress("192.0.2.0/24") == nil)
        #expect(IPAddress("mx.example.com") == nil)
    }
}
