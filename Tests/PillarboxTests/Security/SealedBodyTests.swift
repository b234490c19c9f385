import Foundation
import Testing
import TestSupport

/// Message bodies are stored sealed under keys that can be destroyed: nothing of a body is
/// readable in the database without a holder's key, and destroying one holder's key leaves
/// every other holder reading as before.
@Suite("Sealed message bodies", .serialized)
struct SealedBodyTests {
    /// `marker` in clear, in base64 (at each of the three alignments) and in hex.
    static func traces(of marker: String) -> [String] {
        let bytes = Array(marker.utf8)
        var forms = [marker, bytes.map { String(format: "%02x", $0) }.joined()]
        for shift in 0..<3 {
            let padded = [UInt8](repeating: 0x20, count: shift) + bytes
            let encoded = Data(padded).base64EncodedString()
            // Drop the characters that depend on the padding or on what follows.
            let start = (shift * 4 + 2) / 3 + 1, end = encoded.count - 4
            if end > start { forms.append(String(Array(encoded)[start..<end])) }
        }
        return forms
    }

    @Test("SMTP to two users and IMAP APPEND store bodies sealed; each user reads them; erasing one user leaves the other's copy readable, log verify counts the erased bodies, verify passes")
    func sealedAndShared() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true, imap: true)
            let shared = "SHARED-MARKER-\(UUID().uuidString.prefix(8))"
            let own = "ALICE-ONLY-MARKER-\(UUID().uuidString.prefix(8))"
            let appended = "APPENDED-MARKER-\(UUID().uuidString.prefix(8))"
            _ = try await server.python("""
                import smtplib, imaplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('sender@remote.test', ['alice@example.com', 'bob@example.com'],
                           b'Subject: to both\\r\\n\\r\\nthe body says \(shared) twice: \(shared)\\r\\n')
                s.sendmail('sender@remote.test', ['alice@example.com'], b'Subject: to alice\\r\\n\\r\\nonly \(own)\\r\\n')
                s.quit()
                m = imaplib.IMAP4('127.0.0.1', PORTS['imap'])
                m.starttls()
                m.login('alice', 'alice-pass')
                m.append('INBOX', None, None, b'Subject: kept\\r\\n\\r\\nappended \(appended)\\r\\n')
                m.logout()
                print('{}')
                """)
            let alice = try await server.awaitInbox("alice", count: 3)
            let bob = try await server.awaitInbox("bob", count: 1)
            #expect(alice.contains { String(decoding: $0, as: UTF8.self).contains(own) })
            #expect(bob.contains { String(decoding: $0, as: UTF8.self).contains(shared) })

            // Every body row is sealed, and no form of a marker is in the stored bytes.
            let rows = try await server.query("""
                SELECT codec::text FROM eventlog.blobs
                """)
            #expect(rows.count == 3)
            #expect(rows.allSatisfy { Int($0[0])! >= 256 }, "\(rows.map { $0[0] })")
            let stored = try await server.query("""
                SELECT encode(data, 'hex') FROM eventlog.blobs
                UNION ALL SELECT encode(wrapped, 'hex') FROM keystore.blob_keys
                UNION ALL SELECT encode(sealed, 'hex') FROM keystore.holder_keys
                """).map { $0[0] }
            for marker in [shared, own, appended] {
                for trace in Self.traces(of: marker) {
                    let hex = Array(trace.utf8).map { String(format: "%02x", $0) }.joined()
                    #expect(!stored.contains { $0.contains(hex) }, "\(trace) found in a stored row")
                }
            }
            // The shared body is wrapped for both recipients, alice's own for her alone.
            let holders = try await server.query("""
                SELECT k.holder, count(*)::text FROM keystore.blob_keys w JOIN keystore.holder_keys k USING (key_id)
                GROUP BY k.holder ORDER BY k.holder
                """)
            #expect(holders == [["user:alice", "3"], ["user:bob", "1"]])

            // Erase alice: a dry run first, which changes nothing; then her key goes, her own
            // bodies are unreadable, bob still reads the shared one over POP3.
            let dryRun = try await server.cli(["erase", "user", "alice", "--dry-run", "--json"])
            let planned = try #require(try JSONSerialization.jsonObject(with: Data(dryRun.utf8)) as? [String: Any])
            #expect(planned["messages"] as? Int == 3 && planned["erasedBodies"] as? Int == 2 && planned["sharedBodies"] as? Int == 1,
                    "\(dryRun)")
            #expect(try await server.query("SELECT holder FROM keystore.holder_keys ORDER BY holder").map { $0[0] }
                    == ["user:alice", "user:bob"])
            _ = try await server.cli(["erase", "user", "alice", "--reason", "left the company"])
            #expect(try await server.query("SELECT holder FROM keystore.holder_keys").map { $0[0] } == ["user:bob"])
            #expect(try await server.query("SELECT count(*)::text FROM mail.messages WHERE user_id = 'alice'") == [["0"]])
            let dump = try await server.cli(["log", "dump", "--stream", "directory-main"])
            let erased = try #require(dump.split(separator: "\n").last { $0.contains("user_key_destroyed") })
            #expect(erased.contains("left the company") && erased.contains("\"erasedBodies\":2"), "\(erased)")
            let pop = try await server.python("""
                import poplib, ssl
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                p.stls(context=ctx)
                p.user('bob')
                p.pass_('bob-pass')
                lines = p.retr(1)[1]
                p.quit()
                print(json.dumps({'body': b'\\n'.join(lines).decode()}))
                """)
            #expect((try pop.json["body"] as? String)?.contains(shared) == true)
            let verify = try await server.cli(["log", "verify"])
            #expect(verify.contains("2 erased"), "\(verify)")
            // The projections rebuilt from the log after the erasure are the live ones.
            _ = try await server.cli(["verify"])
        }
    }
}
