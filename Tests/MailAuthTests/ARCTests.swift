import _CryptoExtras
import Crypto
import DNS
import Foundation
import MailAuth
import Testing

/// ARC chains made by dkimpy (Debian's python3-dkim), validated by Pillarbox: one and two
/// hops pass; a body changed after the last hop, a seal that lies about the chain before it,
/// and a set taken away all fail; a message without ARC fields has none.
@Suite("ARC with dkimpy")
struct ARCTests {
    static let first = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let second = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    static var resolver: StaticResolver {
        var resolver = StaticResolver()
        resolver.txtRecords["hop1._domainkey.lists.example.org"] =
            [[Array("v=DKIM1; k=rsa; p=\(first.publicKey.derRepresentation.base64EncodedString())".utf8)]]
        resolver.txtRecords["hop2._domainkey.forward.example.net"] =
            [[Array("v=DKIM1; k=rsa; p=\(second.publicKey.derRepresentation.base64EncodedString())".utf8)]]
        return resolver
    }

    /// The test message sealed by one hop (lists.example.org) or two (then forward.example.net).
    static func sealed(hops: Int) throws -> [UInt8] {
        let script = """
            import sys, dkim
            message = sys.stdin.buffer.read()
            first = b'''\(first.pemRepresentation)'''
            second = b'''\(second.pemRepresentation)'''
            message = b'Authentication-Results: lists.example.org; spf=pass smtp.mailfrom=example.com\\r\\n' + message
            message = b''.join(dkim.arc_sign(message, b'hop1', b'lists.example.org', first, b'lists.example.org',
                                             include_headers=[b'from', b'to', b'subject', b'date'])) + message
            if \(hops) > 1:
                message = b'Authentication-Results: forward.example.net; arc=pass\\r\\n' + message
                message = b''.join(dkim.arc_sign(message, b'hop2', b'forward.example.net', second, b'forward.example.net',
                                                 include_headers=[b'from', b'to', b'subject'])) + message
            sys.stdout.buffer.write(message)
            """
        return try DKIMInteropTests.python(script, input: DKIMTests.message)
    }

    @Test("chains sealed by dkimpy over one hop and two hops pass; a message without ARC has none")
    func chainsPass() async throws {
        let verifier = ARCVerifier(resolver: Self.resolver)
        let one = await verifier.verify(try Self.sealed(hops: 1), at: Date())
        #expect(one.outcome == .pass, "\(one)")
        #expect(one.instances == 1)
        let twoHops = try Self.sealed(hops: 2)
        let two = await verifier.verify(twoHops, at: Date())
        #expect(two.outcome == .pass, "\(two)")
        #expect(two.instances == 2)
        #expect(two.domain == "forward.example.net")
        #expect(await verifier.verify(DKIMTests.message, at: Date()).outcome == .none)
    }

    @Test("a changed body, a missing set, a changed seal and a missing key fail")
    func chainsFail() async throws {
        let verifier = ARCVerifier(resolver: Self.resolver)
        let sealed = String(decoding: try Self.sealed(hops: 2), as: UTF8.self)
        let changed = sealed.replacingOccurrences(of: "figures are", with: "figures were")
        #expect(await verifier.verify(Array(changed.utf8), at: Date()).outcome == .fail)

        // Without set 1 the chain has a gap.
        let lines = sealed.components(separatedBy: "\r\n")
        var kept: [String] = []
        var skipping = false
        for line in lines {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                if !skipping { kept.append(line) }
                continue
            }
            skipping = line.lowercased().hasPrefix("arc-") && line.contains("i=1")
            if !skipping { kept.append(line) }
        }
        let gap = await verifier.verify(Array(kept.joined(separator: "\r\n").utf8), at: Date())
        #expect(gap.outcome == .fail, "\(gap)")

        // A seal's cv= changed: its own signature no longer verifies.
        let lied = sealed.replacingOccurrences(of: "cv=pass", with: "cv=none")
        #expect(await verifier.verify(Array(lied.utf8), at: Date()).outcome == .fail)

        // A key that is gone.
        var missing = Self.resolver
        missing.txtRecords["hop1._domainkey.lists.example.org"] = nil
        #expect(await ARCVerifier(resolver: missing).verify(Array(sealed.utf8), at: Date()).outcome == .fail)
    }
}

/// Pillarbox's seals, checked by dkimpy and by Pillarbox, alone and in a chain with dkimpy's.
@Suite("ARC sealing")
struct ARCSealingTests {
    static let key = try! DKIMKey.generate(domain: "mx.example.com", selector: "arc", ed25519: false)

    static var resolver: StaticResolver {
        var resolver = ARCTests.resolver
        resolver.txtRecords[key.recordName] = [[Array(key.record.utf8)]]
        return resolver
    }

    /// dkimpy's arc_verify over `message` with the three keys: its cv.
    static func dkimpyVerdict(_ message: [UInt8]) throws -> String {
        let records = Self.resolver.txtRecords.map { name, strings in
            "'\(name).': b'\(String(decoding: strings[0].joined(), as: UTF8.self))'"
        }.joined(separator: ", ")
        let script = """
            import sys, dkim
            records = {\(records)}
            def dns(name, timeout=5):
                return records.get(name.decode() if isinstance(name, bytes) else name)
            cv, results, comment = dkim.arc_verify(sys.stdin.buffer.read(), dnsfunc=dns)
            print(cv.decode(), comment)
            """
        return String(decoding: try DKIMInteropTests.python(script, input: message), as: UTF8.self)
            .split(separator: " ").first.map(String.init) ?? ""
    }

    @Test("a first seal, and a seal over dkimpy's chain, pass in dkimpy and in Pillarbox; a later change breaks them")
    func seals() async throws {
        let verifier = ARCVerifier(resolver: Self.resolver)
        let fresh = DKIMTests.message
        let first = try ARCSealer.seal(fresh, key: Self.key, authservID: "mx.example.com", results: "spf=pass smtp.mailfrom=example.com",
                                       chain: await verifier.verify(fresh, at: Date()), at: Date()) + fresh
        #expect(try Self.dkimpyVerdict(first) == "pass")
        #expect(await verifier.verify(first, at: Date()).outcome == .pass)

        let relayed = try ARCTests.sealed(hops: 2)
        let chain = await verifier.verify(relayed, at: Date())
        #expect(chain.outcome == .pass)
        let third = try ARCSealer.seal(relayed, key: Self.key, authservID: "mx.example.com", results: "arc=pass", chain: chain,
                                       at: Date()) + relayed
        #expect(String(decoding: third.prefix(30), as: UTF8.self).hasPrefix("ARC-Seal: i=3;"))
        #expect(try Self.dkimpyVerdict(third) == "pass")
        let verdict = await verifier.verify(third, at: Date())
        #expect(verdict.outcome == .pass && verdict.instances == 3, "\(verdict)")

        let changed = Array(String(decoding: third, as: UTF8.self).replacingOccurrences(of: "figures are", with: "figures were").utf8)
        #expect(await verifier.verify(changed, at: Date()).outcome == .fail)
        #expect(try Self.dkimpyVerdict(changed) == "fail")
    }
}
