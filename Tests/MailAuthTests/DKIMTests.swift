import Crypto
import DNS
import Foundation
import MailAuth
import Testing

/// DKIM's parts without a network: the tag list, canonicalization, signing and verifying with
/// keys served from a table.
@Suite("DKIM")
struct DKIMTests {
    static let message = Array("""
        From: Alice <alice@example.com>\r
        To: bob@example.net\r
        Subject: the quarterly  figures\r
        Date: Sat, 05 Dec 2026 12:00:00 +0000\r
        Message-ID: <q4@example.com>\r
        \r
        Hello Bob,  \r
        \r
        the figures are attached.\r
        \r
        \r

        """.utf8)

    static func resolver(_ keys: [DKIMKey]) -> StaticResolver {
        var resolver = StaticResolver()
        for key in keys { resolver.txtRecords[key.recordName] = [[Array(key.record.utf8)]] }
        return resolver
    }

    @Test("tag lists: whitespace, a trailing semicolon, and what is refused")
    func tagList() throws {
        let tags = try DKIMTagList(parsing: Array("v=1; a=rsa-sha256;\r\n\t d = example.com ; b=ab cd\r\n\tef;".utf8))
        #expect(tags.tags.map(\.name) == ["v", "a", "d", "b"])
        #expect(tags["d"] == "example.com")
        #expect(DKIMTagList.compact(tags["b"]!) == "abcdef")
        for (text, failure) in [("v=1; v=1", DKIMTagList.Failure.duplicate("v")), ("1v=1", .badName("1v")), ("v", .missingEquals("v")),
                                ("v=é", .badValue(tag: "v"))] {
            #expect(throws: failure) { try DKIMTagList(parsing: Array(text.utf8)) }
        }
    }

    @Test("canonicalization as RFC 6376 §3.4.6 shows it, whole and byte by byte")
    func canonicalization() {
        #expect(DKIMCanonicalization.relaxed.header(Array("A: X\r\n".utf8)) == Array("a:X\r\n".utf8))
        #expect(DKIMCanonicalization.relaxed.header(Array("B : Y\t\r\n\tZ  \r\n".utf8)) == Array("b:Y Z\r\n".utf8))
        let body = Array(" C \r\nD \t E\r\n\r\n\r\n".utf8)
        for (canonicalization, expected) in [(DKIMCanonicalization.relaxed, " C\r\nD E\r\n"), (.simple, " C \r\nD \t E\r\n")] {
            var whole = DKIMCanonicalization.BodyHasher(canonicalization)
            whole.update(body)
            var bytewise = DKIMCanonicalization.BodyHasher(canonicalization)
            for byte in body { bytewise.update([byte]) }
            let wanted = Array(SHA256.hash(data: Array(expected.utf8)))
            #expect(whole.finish() == wanted)
            #expect(bytewise.finish() == wanted)
        }
        // An empty body: CRLF under simple, nothing under relaxed.
        var simple = DKIMCanonicalization.BodyHasher(.simple)
        #expect(simple.finish() == Array(SHA256.hash(data: Array("\r\n".utf8))))
        var relaxed = DKIMCanonicalization.BodyHasher(.relaxed)
        #expect(relaxed.finish() == Array(SHA256.hash(data: [UInt8]())))
        // A very long line comes out the same as a short one would.
        let long = Array(repeating: UInt8(ascii: "x"), count: 20_000) + Array("   y  \r\n".utf8)
        var hasher = DKIMCanonicalization.BodyHasher(.relaxed)
        for chunk in stride(from: 0, to: long.count, by: 333) { hasher.update(long[chunk..<min(chunk + 333, long.count)]) }
        #expect(hasher.finish() == Array(SHA256.hash(data: Array(repeating: UInt8(ascii: "x"), count: 20_000) + Array(" y\r\n".utf8))))
    }

    @Test("signed with RSA and Ed25519 at once, both verify; a changed body, header or an added From fails")
    func signAndVerify() async throws {
        let keys = [try DKIMKey.generate(domain: "example.com", selector: "rsa1", ed25519: false),
                    try DKIMKey.generate(domain: "example.com", selector: "ed1", ed25519: true)]
        let verifier = DKIMVerifier(resolver: Self.resolver(keys))
        let now = Date()
        let signed = try DKIMSigner.sign(Self.message, keys: keys, at: now) + Self.message
        let results = await verifier.verify(signed, at: now)
        #expect(results.map(\.outcome) == [.pass, .pass], "\(results)")
        #expect(results.map(\.algorithm) == ["rsa-sha256", "ed25519-sha256"])

        // Trailing blank lines and whitespace at line ends do not matter under relaxed.
        let reformatted = Array(String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "Hello Bob,  ", with: "Hello Bob,").utf8)
        #expect(await verifier.verify(reformatted, at: now).map(\.outcome) == [.pass, .pass])

        let body = Array(String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "figures are", with: "figures were").utf8)
        #expect(await verifier.verify(body, at: now).map(\.detail) == ["body hash did not verify", "body hash did not verify"])
        let subject = Array(String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "quarterly", with: "annual").utf8)
        #expect(await verifier.verify(subject, at: now).map(\.outcome) == [.fail, .fail])
        // From is signed once more than present: a second From cannot be slipped in.
        let header = Array(String(decoding: signed, as: UTF8.self)
            .replacingOccurrences(of: "To: bob@", with: "From: mallory@example.org\r\nTo: bob@").utf8)
        #expect(await verifier.verify(header, at: now).map(\.outcome) == [.fail, .fail])
    }

    @Test("keys: missing, revoked, of the wrong type, unreadable, DNS failing; signatures broken or expired")
    func keyProblems() async throws {
        let key = try DKIMKey.generate(domain: "example.com", selector: "s1", ed25519: true)
        let now = Date()
        let signed = try DKIMSigner.sign(Self.message, keys: [key], at: now) + Self.message
        func outcome(_ records: [String]?, failing: Bool = false) async -> DKIMResult {
            var resolver = StaticResolver()
            if let records { resolver.txtRecords[key.recordName] = records.map { [Array($0.utf8)] } }
            if failing { resolver.failing = [key.recordName] }
            return await DKIMVerifier(resolver: resolver).verify(signed, at: now)[0]
        }
        #expect(await outcome(nil).outcome == .permerror)
        #expect(await outcome(["v=DKIM1; k=ed25519; p="]).detail == "key revoked")
        #expect(await outcome(["v=DKIM1; k=rsa; p=" + key.record.split(separator: "=").last!]).outcome == .permerror)
        #expect(await outcome([], failing: true).outcome == .temperror)
        #expect(await outcome(["v=DKIM2; p=abc"]).outcome == .permerror)
        #expect(await outcome([key.record]).outcome == .pass)
        #expect(await outcome(["v=DKIM1; k=ed25519; p=bm90IGEga2V5"]).detail == "key does not parse")

        var resolver = StaticResolver()
        resolver.txtRecords[key.recordName] = [[Array(key.record.utf8)]]
        let verifier = DKIMVerifier(resolver: resolver)
        for (field, detail) in [
            ("DKIM-Signature: v=1; a=rsa-sha1; d=example.com; s=s1; h=from; bh=x; b=x\r\n", "unsupported algorithm"),
            ("DKIM-Signature: v=1; a=ed25519-sha256; d=example.com; s=s1; h=to; bh=\(Data(count: 32).base64EncodedString()); b=AA==\r\n", "From"),
            ("DKIM-Signature: v=1; a=ed25519-sha256; d=example.com; i=x@evil.example; s=s1; h=from; bh=\(Data(count: 32).base64EncodedString()); b=AA==\r\n", "i= is not within d="),
            ("DKIM-Signature: v=1; v=1\r\n", "twice"),
        ] {
            let result = await verifier.verify(Array(field.utf8) + Self.message, at: now)
            #expect(result.first?.outcome == .permerror && result.first?.detail?.contains(detail) == true, "\(result)")
        }
        let expiring = String(decoding: signed, as: UTF8.self)
            .replacingOccurrences(of: "t=\(Int64(now.timeIntervalSince1970))", with: "t=\(Int64(now.timeIntervalSince1970)); x=1")
        #expect(await verifier.verify(Array(expiring.utf8), at: now).first?.outcome == .permerror)
    }
}
