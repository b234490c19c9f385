import DNS
import Foundation
import MailAuth
import MailCore
import TestSupport
import Testing

/// Answers built to hurt, from a real DNS server on loopback through libunbound: CNAME loops,
/// SPF includes that loop, answers of tens of kilobytes. Every check ends with a result
/// (`permerror`, `temperror`, `none`), never a hang or a crash.
@Suite("Mail authentication against hostile DNS answers")
struct HostileDNSTests {
    static let dns = Result {
        let chunk = String(repeating: "x", count: 250)
        let huge = (0..<4).map { _ in "\"\(chunk)\"" }.joined(separator: " ")
        var records = [
            "loop1.hostile.example. IN CNAME loop2.hostile.example.",
            "loop2.hostile.example. IN CNAME loop1.hostile.example.",
            "_dmarc.loop1.hostile.example. IN CNAME _dmarc.loop2.hostile.example.",
            "_dmarc.loop2.hostile.example. IN CNAME _dmarc.loop1.hostile.example.",
            #"a.hostile.example. IN TXT "v=spf1 include:b.hostile.example -all""#,
            #"b.hostile.example. IN TXT "v=spf1 include:a.hostile.example -all""#,
            #"deep.hostile.example. IN TXT "v=spf1 a:1.hostile.example a:2.hostile.example a:3.hostile.example a:4.hostile.example a:5.hostile.example a:6.hostile.example a:7.hostile.example a:8.hostile.example a:9.hostile.example a:10.hostile.example a:11.hostile.example -all""#,
            #"_dmarc.hostile.example. IN TXT "v=DMARC1; p=reject""#,
        ]
        // About 40 KB of TXT records at one name: SPF sees many records, DKIM a key record
        // that is not one.
        for index in 0..<40 {
            records.append("big.hostile.example. IN TXT \"v=spf1 ip4:192.0.2.\(index) -all\" \(huge)")
            records.append("sel._domainkey.big.hostile.example. IN TXT \"v=DKIM1; k=rsa; p=\(index)\" \(huge)")
        }
        return try TestDNSServer(zones: ["hostile.example."], localData: records)
    }

    func resolver() throws -> UnboundResolver {
        try UnboundResolver(servers: ["127.0.0.1:\(try Self.dns.get().port)"], timeout: .seconds(10))
    }

    @Test("a CNAME loop fails as a lookup; SPF on it, DMARC behind it give a result")
    func cnameLoop() async throws {
        let resolver = try resolver()
        await #expect(throws: DNSFailure.self) { _ = try await resolver.txt("loop1.hostile.example") }
        let client = try #require(IPAddress("192.0.2.1"))
        let spf = await SPFEvaluator(resolver: resolver).check(client: client, sender: "a@loop1.hostile.example", helo: "h.example")
        #expect([SPFResult.temperror, .none].contains(spf.result), "\(spf.result)")
        let suffixes = PublicSuffixList(text: "example\n")
        let dmarc = await DMARCEvaluator(resolver: resolver, suffixes: suffixes)
            .evaluate(fromDomain: "loop1.hostile.example", spf: spf.result, spfDomain: "loop1.hostile.example", dkim: [])
        #expect([DMARCOutcome.Result.temperror, .none].contains(dmarc.result), "\(dmarc.result)")
    }

    @Test("SPF includes that loop, and more than 10 lookups, are permerror")
    func lookupLimits() async throws {
        let evaluator = SPFEvaluator(resolver: try resolver())
        let client = try #require(IPAddress("192.0.2.1"))
        #expect(await evaluator.check(client: client, sender: "a@a.hostile.example", helo: "h.example").result == .permerror)
        #expect(await evaluator.check(client: client, sender: "a@deep.hostile.example", helo: "h.example").result == .permerror)
    }

    @Test("an answer of 40 KB: many SPF records are permerror, a key record that is none fails DKIM")
    func hugeAnswers() async throws {
        let resolver = try resolver()
        let answer = try #require(try await resolver.txt("big.hostile.example").records)
        #expect(answer.count == 40)
        let client = try #require(IPAddress("192.0.2.1"))
        #expect(await SPFEvaluator(resolver: resolver).check(client: client, sender: "a@big.hostile.example", helo: "h.example")
            .result == .permerror)
        let key = try DKIMKey.generate(domain: "big.hostile.example", selector: "sel", ed25519: true)
        let message = Array("From: a@big.hostile.example\r\nTo: b@example.net\r\nSubject: s\r\n\r\nbody\r\n".utf8)
        let signed = try DKIMSigner.sign(message, keys: [key], at: Date()) + message
        let results = await DKIMVerifier(resolver: resolver).verify(signed, at: Date())
        #expect(results.count == 1)
        #expect(results.first.map { [.permerror, .temperror, .fail].contains($0.outcome) } == true, "\(results)")
    }
}
