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
                           b'Subject: to both \(shared)\\r\\n\\r\\nthe body says \(shared) twice: \(shared)\\r\\n')
                s.sendmail('sender@remote.test', ['alice@example.com'],
                           b'Subject: to alice \(own)\\r\\n\\r\\nonly \(own)\\r\\n')
                s.quit()
                m = imaplib.IMAP4('127.0.0.1', PORTS['imap'])
                m.starttls()
                m.login('alice', 'alice-pass')
                m.append('INBOX', None, None, b'Subject: kept \(appended)\\r\\n\\r\\nappended \(appended)\\r\\n')
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
            #expect(verify.contains("2 erased") && verify.contains("2 matching the digest their erasure recorded"), "\(verify)")
            // The projections rebuilt from the log after the erasure are the live ones, and a
            // rebuild of them all from the log after the erasure verifies again.
            _ = try await server.cli(["verify"])
            _ = try await server.cli(["rebuild"])
            _ = try await server.cli(["verify"])

            // A full dump of the database holds no trace of alice's own mail: not in the bodies,
            // not in the events' sealed subjects and summaries, not in any table. Bob's is there.
            let pgDump = try await server.tool("/usr/bin/pg_dump", ["--dbname", server.endpoint.redactedURL, "--no-owner"],
                                              timeout: .seconds(120))
            #expect(pgDump.status == 0, "\(pgDump.errors)")
            #expect(pgDump.output.contains(shared))
            for marker in [own, appended] {
                for trace in Self.traces(of: marker) {
                    let hex = Array(trace.utf8).map { String(format: "%02x", $0) }.joined()
                    #expect(!pgDump.output.contains(trace) && !pgDump.output.contains(hex), "\(trace) is in the dump")
                }
            }
            // The audit keeps the message alice received, without what was personal in it.
            let audited = try await server.query("SELECT coalesce(subject, '(none)') FROM logdb.messages ORDER BY msgid")
            #expect(audited.map { $0[0] } == ["to both \(shared)", "(none)"], "\(audited)")

            // An erased body is still checked, against the digest its erasure recorded: altered,
            // it fails log verify and compact-erased keeps it; as it was, it can be removed.
            let erasedRow = try await server.query("""
                SELECT encode(sha256, 'hex'), encode(data, 'hex') FROM eventlog.blobs
                 WHERE sha256 NOT IN (SELECT sha256 FROM keystore.blob_keys) ORDER BY sha256 LIMIT 1
                """)[0]
            let erasedKey = "decode('\(erasedRow[0])', 'hex')"
            _ = try await server.query("ALTER TABLE eventlog.blobs DISABLE TRIGGER USER")
            _ = try await server.query("UPDATE eventlog.blobs SET data = set_byte(data, 20, get_byte(data, 20) # 1) WHERE sha256 = \(erasedKey)")
            let erasedTampered = try await PillarboxBinary.run(["log", "verify"] + server.databaseArguments)
            #expect(erasedTampered.status == 1
                    && (erasedTampered.output + erasedTampered.errors).contains("altered after it was erased"),
                    "\(erasedTampered.output)\(erasedTampered.errors)")
            let partial = try await server.cli(["log", "compact-erased", "--json"])
            let partialResult = try #require(try JSONSerialization.jsonObject(with: Data(partial.utf8)) as? [String: Any])
            #expect((partialResult["removed"] as? [String])?.count == 1 && (partialResult["altered"] as? [String]) == [erasedRow[0]],
                    "\(partial)")
            _ = try await server.query("UPDATE eventlog.blobs SET data = decode('\(erasedRow[1])', 'hex') WHERE sha256 = \(erasedKey)")
            _ = try await server.query("ALTER TABLE eventlog.blobs ENABLE TRIGGER USER")
            let compacted = try await server.cli(["log", "compact-erased"])
            #expect(compacted.contains("removed 1 erased bodies"), "\(compacted)")
            #expect(try await server.query("SELECT count(*)::text FROM eventlog.blobs") == [["1"]])
            let afterCompaction = try await server.cli(["log", "verify"])
            #expect(afterCompaction.contains("2 erased and removed by compact-erased"), "\(afterCompaction)")
            let removals = try await server.cli(["log", "dump", "--stream", "erasure-main"])
            #expect(removals.components(separatedBy: "erased_bodies_removed").count == 3, "\(removals)")
            _ = try await server.cli(["verify"])

            // Changing a stored body still shows after the erasure.
            _ = try await server.query("ALTER TABLE eventlog.blobs DISABLE TRIGGER USER")
            _ = try await server.query("""
                UPDATE eventlog.blobs SET data = overlay(data PLACING '\\x00'::bytea FROM 20 FOR 1)
                 WHERE sha256 IN (SELECT sha256 FROM keystore.blob_keys)
                """)
            _ = try await server.query("ALTER TABLE eventlog.blobs ENABLE TRIGGER USER")
            let tampered = try await PillarboxBinary.run(["log", "verify"] + server.databaseArguments)
            #expect(tampered.status == 1 && (tampered.output + tampered.errors).contains("its stored bytes were altered"),
                    "\(tampered.output)\(tampered.errors)")
        }
    }

    /// Every file under `directory` that holds one of `traces` (as bytes), with the trace.
    static func files(under directory: String, holding traces: [String]) -> [String] {
        var found: [String] = []
        let needles = traces.map { Array($0.utf8) }
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        while let relative = walker.nextObject() as? String {
            // The harness's own scripts and inputs (the test's text) are not the server's.
            let name = relative.split(separator: "/").last ?? ""
            if name.hasPrefix("script-") || name.hasPrefix("input-") { continue }
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            let bytes = [UInt8](data)
            for (needle, trace) in zip(needles, traces) where bytes.firstRange(of: needle) != nil {
                found.append("\(relative): \(trace)")
            }
        }
        return found
    }

    @Test("with the embedded cluster, after erasing a user no file of the data directory holds their mail: tables, write-ahead log, keys")
    func dataDirectoryAfterErasure() async throws {
        try await MailServerHarness.withEmbedded { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.start(imap: true)
            let own = "ERASED-MARKER-\(UUID().uuidString.prefix(8))"
            let kept = "KEPT-MARKER-\(UUID().uuidString.prefix(8))"
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('sender@remote.test', ['alice@example.com'],
                           b'Subject: for alice \(own)\\r\\n\\r\\nthe text \(own)\\r\\n')
                s.sendmail('sender@remote.test', ['bob@example.com'], b'Subject: for bob \(kept)\\r\\n\\r\\nthe text \(kept)\\r\\n')
                s.quit()
                print('{}')
                """)
            _ = try await server.awaitInbox("alice", count: 1)
            _ = try await server.awaitInbox("bob", count: 1)
            // Before: the projections hold alice's subject in clear (IMAP searches it).
            #expect(!Self.files(under: server.dataDirectory, holding: [own]).isEmpty)
            _ = try await server.cli(["erase", "user", "alice"])
            let left = Self.files(under: server.dataDirectory, holding: Self.traces(of: own))
            #expect(left.isEmpty, "\(left)")
            #expect(!Self.files(under: server.dataDirectory, holding: [kept]).isEmpty)
        }
    }

    @Test("mail export writes Maildir++ of what is readable now: after erasing alice, only bob's mail, with folders, flags, keywords, dates and subscriptions")
    func exportAfterErasure() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(imap: true)
            let shared = "SHARED-\(UUID().uuidString.prefix(8))", own = "OWN-\(UUID().uuidString.prefix(8))"
            let filed = "FILED-\(UUID().uuidString.prefix(8))"
            _ = try await server.python("""
                import smtplib, imaplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('sender@remote.test', ['alice@example.com', 'bob@example.com'], b'Subject: both \(shared)\\r\\n\\r\\n\(shared)\\r\\n')
                s.sendmail('sender@remote.test', ['alice@example.com'], b'Subject: alice \(own)\\r\\n\\r\\n\(own)\\r\\n')
                s.quit()
                m = imaplib.IMAP4('127.0.0.1', PORTS['imap'])
                m.starttls()
                m.login('bob', 'bob-pass')
                m.create('Projects/2026.Q1')
                m.subscribe('Projects/2026.Q1')
                m.append('Projects/2026.Q1', '(\\\\Seen \\\\Flagged Work)', '"01-Jan-2020 10:00:00 +0000"',
                         b'Subject: filed \(filed)\\r\\n\\r\\n\(filed)\\r\\n')
                m.logout()
                print('{}')
                """)
            _ = try await server.awaitInbox("alice", count: 2)
            _ = try await server.awaitInbox("bob", count: 1)
            _ = try await server.cli(["erase", "user", "alice"])

            let target = server.dataDirectory + "/export"
            let written = try await server.cli(["mail", "export", "--to", target, "--json"])
            #expect(written.contains("\"messages\":2") && written.contains("\"unreadable\":0"), "\(written)")
            #expect(!FileManager.default.fileExists(atPath: target + "/alice"))
            let read = try await server.python("""
                import mailbox, os
                box = mailbox.Maildir(sys.argv[1] + '/bob', factory=None, create=False)
                inbox = [m.as_bytes().decode() for m in box]
                folder = box.get_folder('Projects.2026%2EQ1')
                filed = [(m.get_flags(), m.as_bytes().decode()) for m in folder]
                names = os.listdir(sys.argv[1] + '/bob/.Projects.2026%2EQ1/cur')
                mtime = os.path.getmtime(sys.argv[1] + '/bob/.Projects.2026%2EQ1/cur/' + names[0])
                print(json.dumps({
                    'inbox': inbox, 'folders': box.list_folders(), 'filed': filed, 'mtime': mtime,
                    'keywords': open(sys.argv[1] + '/bob/.Projects.2026%2EQ1/dovecot-keywords').read(),
                    'subscriptions': open(sys.argv[1] + '/bob/subscriptions').read(),
                }))
                """, [target])
            let object = try read.json
            #expect((object["inbox"] as? [String])?.count == 1 && (object["inbox"] as? [String])?.first?.contains(shared) == true,
                    "\(object)")
            #expect((object["folders"] as? [String])?.contains("Projects.2026%2EQ1") == true, "\(object)")
            let filedMessages = object["filed"] as? [[Any]] ?? []
            #expect(filedMessages.count == 1 && filedMessages.first?[0] as? String == "FSa"
                    && (filedMessages.first?[1] as? String)?.contains(filed) == true, "\(object)")
            #expect(object["mtime"] as? Double == 1_577_872_800, "\(object)")
            #expect(object["keywords"] as? String == "0 Work\n", "\(object)")
            let subscriptions = (object["subscriptions"] as? String ?? "").split(separator: "\n")
            #expect(subscriptions.contains("Projects.2026%2EQ1") && subscriptions.contains("Sent"), "\(subscriptions)")
            // Nothing of alice's own mail is in the export, in any form.
            let traces = Self.files(under: target, holding: Self.traces(of: own))
            #expect(traces.isEmpty, "\(traces)")
            // An export never writes over another.
            let again = try await PillarboxBinary.run(["mail", "export", "--to", target] + server.databaseArguments)
            #expect(again.status != 0 && again.errors.contains("is not empty"), "\(again.errors)")
        }
    }

    @Test("mail.retention: mail older than its folder's rule is expunged and its body unreadable, newer mail stays, and the dump holds no trace of it")
    func retention() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(imap: true)
            let old = "OLD-MARKER-\(UUID().uuidString.prefix(8))"
            let new = "NEW-MARKER-\(UUID().uuidString.prefix(8))"
            @Sendable func send(_ marker: String) async throws {
                _ = try await server.python("""
                    import smtplib
                    s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                    s.sendmail('sender@remote.test', ['alice@example.com'], b'Subject: about \(marker)\\r\\n\\r\\ntext \(marker)\\r\\n')
                    s.quit()
                    print('{}')
                    """)
            }
            try await send(old)
            _ = try await server.awaitInbox("alice", count: 1)
            // The message came in 100 days ago: its events moved into the past, every projection
            // rebuilt (the reputation tables keep a window of days, and it moved out of it).
            _ = try await server.query("ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only")
            _ = try await server.query("UPDATE eventlog.events SET recorded_at = recorded_at - interval '100 days'")
            _ = try await server.query("ALTER TABLE eventlog.events ENABLE TRIGGER events_append_only")
            _ = try await server.cli(["rebuild"])
            try await send(new)
            _ = try await server.awaitInbox("alice", count: 2)

            let planned = try await server.cli(["erase", "messages", "--before", "2000-01-01", "--dry-run", "--json"])
            #expect(planned.contains("\"messages\":0"), "\(planned)")
            try await server.cli(["settings", "set", "mail.retention", "[\"Trash=7\", \"*=30\"]"])
            let left = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(200), "the old message erased") {
                let inbox = try await server.inbox("alice")
                return inbox.count == 1 ? inbox : nil
            }
            #expect(String(decoding: left[0], as: UTF8.self).contains(new))
            // The expunge shows before the tables that keep sealed fields are rebuilt; the run holds
            // its advisory lock until they are.
            _ = try await eventually(within: .seconds(120), pollingEvery: .milliseconds(200), "the retention run finished") {
                let key = "hashtextextended('pillarbox-retention', 0)"
                let free = try await server.query("SELECT (pg_try_advisory_lock(\(key)) AND pg_advisory_unlock(\(key)))::text")
                return free.first?.first == "true" ? true : nil
            }
            let dump = try await server.cli(["log", "dump", "--stream", "mailbox-alice"])
            #expect(dump.contains("messages_expunged") && dump.contains("\"component\":\"retention\""), "\(dump.suffix(2_000))")
            // (The log itself no longer verifies here: its times were moved.) The erasure records
            // the body it left unreadable, intact, with the digest of its stored bytes.
            let keysDestroyed = try #require(dump.split(separator: "\n").last { $0.contains("body_keys_destroyed") })
            #expect(keysDestroyed.contains("\"intact\":true") && keysDestroyed.contains("\"stored\":\""), "\(keysDestroyed)")

            let pgDump = try await server.tool("/usr/bin/pg_dump", ["--dbname", server.endpoint.redactedURL, "--no-owner"],
                                               timeout: .seconds(120))
            #expect(pgDump.output.contains(new))
            for trace in Self.traces(of: old) {
                let hex = Array(trace.utf8).map { String(format: "%02x", $0) }.joined()
                #expect(!pgDump.output.contains(trace) && !pgDump.output.contains(hex), "\(trace) is in the dump")
            }
            _ = try await server.cli(["verify"])
        }
    }
}
