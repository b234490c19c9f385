import Foundation
import TestSupport
import Testing

/// DANE (RFC 7672) on outbound mail: a zone signed with DNSSEC by ldns, served by unbound on
/// loopback, validated by Pillarbox's resolver with the zone's key as its trust anchor; the
/// MX hosts on the STARTTLS receiving server of the delivery tests.
@Suite("DANE on outbound delivery", .serialized)
struct DANETests {
    /// The SHA-256 of a certificate's SubjectPublicKeyInfo, in hex, by openssl.
    func spkiHash(_ server: MailServerHarness, _ certificate: String) async throws -> String {
        let result = try await server.tool("/bin/sh", ["-c",
            "openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r", certificate])
        #expect(result.status == 0, "\(result.errors)")
        return String(result.output.split(separator: " ").first ?? "")
    }

    @Test("DANE-EE and DANE-TA records met: delivered over TLS; a TLSA record the certificate does not match: deferred; unsigned: opportunistic")
    func dane() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            // The MX certificate names every host but mx.tawrongname.example.
            try await issueCertificates(in: server, ["mx": ["ee", "bad", "ta", "plain"].map { "mx.\($0).example" }])
            let directory = server.dataDirectory
            let log = directory + "/sink.jsonl"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            // The chain the server presents holds the CA, as DANE-TA asks (RFC 7672 §3.1.2).
            let chain = try String(contentsOfFile: directory + "/mx.crt", encoding: .utf8)
                + String(contentsOfFile: directory + "/ca.crt", encoding: .utf8)
            try chain.write(toFile: directory + "/mx-chain.crt", atomically: true, encoding: .utf8)
            let (sink, port) = try await server.startPeer(receivingServers, [log, directory + "/mx-chain.crt", directory + "/mx.key"])
            defer { sink.signal(SIGKILL) }
            let leaf = try await spkiHash(server, directory + "/mx.crt")
            let authority = try await spkiHash(server, directory + "/ca.crt")
            #expect(leaf.count == 64 && authority.count == 64)
            var records: [String] = []
            for (name, tlsa) in [("ee", "3 1 1 \(leaf)"), ("bad", "3 1 1 " + String(repeating: "ab", count: 32)),
                                 ("ta", "2 1 1 \(authority)"), ("tawrongname", "2 1 1 \(authority)"), ("plain", nil)] {
                records += ["\(name).example. IN MX 10 mx.\(name).example.", "mx.\(name).example. IN A 127.0.0.6"]
                if let tlsa { records.append("_\(port)._tcp.mx.\(name).example. IN TLSA \(tlsa)") }
            }
            let dns = try TestDNSServer(signedZone: "example.", records: records)
            defer { dns.stop() }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#, "dns.servers", #"["127.0.0.1:\#(dns.port)"]"#,
                                  "dns.trust_anchors", try #require(dns.trustAnchor), "outqueue.remote_port", "\(port)",
                                  "outqueue.reply_timeout_percent", "1", "outqueue.connect_timeout_seconds", "3"])
            try await server.start()

            func received(_ subject: String) -> [[String: Any]] {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .filter { ($0["data"] as? String)?.contains("body of \(subject)") == true }
            }

            // DANE-EE: the server's own key named.
            try await server.sendFromAlice(to: "bob@ee.example", subject: "to-ee")
            _ = try await server.recipientStatus(subject: "to-ee", reaching: "delivered")
            #expect(received("to-ee").first?["tls"] as? Bool == true)
            let ee = try await server.transportPolicy(subject: "to-ee")
            #expect(ee["kind"] as? String == "tlsa" && ee["successes"] as? Int == 1, "\(ee)")
            #expect((ee["policy"] as? [String])?.first?.hasPrefix("3 1 1 ") == true, "\(ee)")

            // DANE-TA: the CA named, the certificate valid for the MX host's name under it.
            try await server.sendFromAlice(to: "bob@ta.example", subject: "to-ta")
            _ = try await server.recipientStatus(subject: "to-ta", reaching: "delivered")
            #expect(received("to-ta").first?["tls"] as? Bool == true)

            // A TLSA record nothing matches, and a CA-named chain for another name: not sent.
            try await server.sendFromAlice(to: "bob@bad.example", subject: "to-bad")
            let bad = try await server.recipientStatus(subject: "to-bad", reaching: "deferred")
            #expect(bad.contains("4.7.5") && bad.contains("DANE"), "\(bad)")
            let failed = try await server.transportPolicy(subject: "to-bad")
            #expect((failed["failures"] as? [[String: Any]])?.compactMap { $0["result"] as? String } == ["validation-failure"], "\(failed)")
            try await server.sendFromAlice(to: "bob@tawrongname.example", subject: "to-tawrongname")
            let wrongName = try await server.recipientStatus(subject: "to-tawrongname", reaching: "deferred")
            #expect(wrongName.contains("not valid for mx.tawrongname.example"), "\(wrongName)")
            #expect(received("to-bad").isEmpty && received("to-tawrongname").isEmpty)

            // Signed, without TLSA records: opportunistic TLS, no policy.
            try await server.sendFromAlice(to: "bob@plain.example", subject: "to-plain")
            _ = try await server.recipientStatus(subject: "to-plain", reaching: "delivered")
            #expect(try await server.transportPolicy(subject: "to-plain").isEmpty)
        }
    }
}
