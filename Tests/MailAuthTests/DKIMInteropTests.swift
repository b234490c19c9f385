import _CryptoExtras
import DNS
import Foundation
import MailAuth
import Testing

/// DKIM against an independent implementation: dkimpy (Debian's python3-dkim) verifies what
/// Pillarbox signs and signs what Pillarbox verifies. No network: keys go to each side directly.
@Suite("DKIM with dkimpy")
struct DKIMInteropTests {
    /// Runs `script` with python3; `input` is written to its standard input. Returns standard output.
    static func python(_ script: String, input: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dkim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptPath = directory.appendingPathComponent("script.py"), inputPath = directory.appendingPathComponent("input")
        try script.write(to: scriptPath, atomically: true, encoding: .utf8)
        try Data(input).write(to: inputPath)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [scriptPath.path]
        process.standardInput = try FileHandle(forReadingFrom: inputPath)
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3: \(errorText)")
        return Array(data)
    }

    @Test("dkimpy verifies Pillarbox's RSA and Ed25519 signatures, and refuses a tampered copy")
    func pillarboxSigns() throws {
        let keys = [try DKIMKey.generate(domain: "example.com", selector: "rsa1", ed25519: false),
                    try DKIMKey.generate(domain: "example.com", selector: "ed1", ed25519: true)]
        let signed = try DKIMSigner.sign(DKIMTests.message, keys: keys, at: Date()) + DKIMTests.message
        let records = keys.map { "'\($0.recordName).': b'\($0.record)'" }.joined(separator: ", ")
        let script = """
            import sys, dkim
            records = {\(records)}
            def dns(name, timeout=5):
                return records.get(name.decode() if isinstance(name, bytes) else name)
            message = sys.stdin.buffer.read()
            d = dkim.DKIM(message)
            results = [d.verify(idx=i, dnsfunc=dns) for i in range(2)]
            tampered = message.replace(b'figures are', b'figures were')
            t = dkim.DKIM(tampered)
            for i in range(2):
                try:
                    results.append(t.verify(idx=i, dnsfunc=dns))
                except dkim.ValidationError:
                    results.append(False)
            print(' '.join('pass' if r else 'fail' for r in results))
            """
        let output = String(decoding: try Self.python(script, input: signed), as: UTF8.self)
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "pass pass fail fail")
    }

    @Test("Pillarbox verifies dkimpy's RSA and Ed25519 signatures (relaxed and simple), and refuses a tampered copy")
    func dkimpySigns() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ed = Curve25519.Signing.PrivateKey()
        let script = """
            import sys, dkim, base64
            message = sys.stdin.buffer.read()
            rsa = b'''\(rsa.pemRepresentation)'''
            ed = base64.b64encode(bytes.fromhex('\(ed.rawRepresentation.map { String(format: "%02x", $0) }.joined())'))
            signature = dkim.sign(message, b'py-rsa', b'example.org', rsa, canonicalize=(b'simple', b'simple'),
                                  include_headers=[b'from', b'to', b'subject'])
            signature += dkim.sign(message, b'py-ed', b'example.org', ed, signature_algorithm=b'ed25519-sha256',
                                   canonicalize=(b'relaxed', b'relaxed'), include_headers=[b'from', b'subject', b'date'])
            sys.stdout.buffer.write(signature + message)
            """
        let signed = try Self.python(script, input: DKIMTests.message)
        var resolver = StaticResolver()
        resolver.txtRecords["py-rsa._domainkey.example.org"] = [[Array("v=DKIM1; k=rsa; p=\(rsa.publicKey.derRepresentation.base64EncodedString())".utf8)]]
        // A TXT record in two strings, as long keys are published.
        resolver.txtRecords["py-ed._domainkey.example.org"] = [[Array("v=DKIM1; k=ed25519; ".utf8),
                                                                Array("p=\(ed.publicKey.rawRepresentation.base64EncodedString())".utf8)]]
        let verifier = DKIMVerifier(resolver: resolver)
        let results = await verifier.verify(signed, at: Date())
        #expect(results.map(\.outcome) == [.pass, .pass], "\(results)")
        #expect(results.map(\.selector) == ["py-rsa", "py-ed"])
        let tampered = Array(String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "quarterly", with: "yearly").utf8)
        #expect(await verifier.verify(tampered, at: Date()).map(\.outcome) == [.fail, .fail])
    }

    @Test("an RSA key under 1024 bits is refused (RFC 8301)")
    func shortKey() async throws {
        let script = """
            import sys, dkim, subprocess
            key = subprocess.run(['openssl', 'genrsa', '768'], capture_output=True, check=True).stdout
            pub = subprocess.run(['openssl', 'rsa', '-pubout', '-outform', 'DER'], input=key, capture_output=True, check=True).stdout
            import base64
            message = sys.stdin.buffer.read()
            signature = dkim.sign(message, b'short', b'example.org', key, include_headers=[b'from'])
            sys.stdout.buffer.write(base64.b64encode(pub) + b'\\n' + signature + message)
            """
        let output = try Self.python(script, input: DKIMTests.message)
        let newline = try #require(output.firstIndex(of: 0x0A))
        var resolver = StaticResolver()
        resolver.txtRecords["short._domainkey.example.org"] = [[Array("v=DKIM1; p=".utf8) + output[..<newline]]]
        let result = await DKIMVerifier(resolver: resolver).verify(Array(output[(newline + 1)...]), at: Date())
        // swift-crypto itself reads no RSA key under 1024 bits; the verifier's own floor is the same.
        #expect(result.first?.outcome == .permerror, "\(result)")
    }
}
