import Foundation
import Testing
import TestSupport

/// The audit projections end to end: a scripted mix of SMTP sessions (and a POP3 and an IMAP
/// one) from real clients, then exactly the rows each table should hold, the IDS log's lines,
/// `verify`, and the retention window measured against the events.
@Suite("Audit projections", .serialized)
struct AuditProjectionTests {
    static let mix = """
        import base64, imaplib, poplib, socket
        def session(port, commands, data=None):
            sock = socket.create_connection(('127.0.0.1', port), timeout=20)
            f = sock.makefile('rb')
            def reply():
                lines = []
                while True:
                    line = f.readline()
                    if not line:
                        return 'closed'
                    lines.append(line.decode().rstrip('\\r\\n'))
                    if line[3:4] != b'-':
                        return lines[-1][:9]
            replies = [reply()]
            for command in commands:
                sock.sendall(command)
                replies.append(reply())
            sock.close()
            return replies
        out = {}
        smtp = PORTS['smtp']
        out['good'] = session(smtp, [b'EHLO good.test\\r\\n', b'MAIL FROM:<sender@good.test>\\r\\n', b'RCPT TO:<alice@example.com>\\r\\n',
                                     b'DATA\\r\\n', b'Subject: good\\r\\n\\r\\nhello\\r\\n.\\r\\n', b'QUIT\\r\\n'])
        out['unknown'] = session(smtp, [b'EHLO unknown.test\\r\\n', b'MAIL FROM:<x@unknown.test>\\r\\n', b'RCPT TO:<nobody@example.com>\\r\\n',
                                        b'QUIT\\r\\n'])
        out['relay'] = session(smtp, [b'EHLO relay.test\\r\\n', b'MAIL FROM:<spam@relay.test>\\r\\n', b'RCPT TO:<victim@elsewhere.test>\\r\\n',
                                      b'QUIT\\r\\n'])
        out['big'] = session(smtp, [b'EHLO big.test\\r\\n', b'MAIL FROM:<big@big.test>\\r\\n', b'RCPT TO:<alice@example.com>\\r\\n',
                                    b'DATA\\r\\n', b'Subject: big\\r\\n\\r\\n' + (b'y' * 900 + b'\\r\\n') * 6 + b'.\\r\\n', b'QUIT\\r\\n'])
        out['smuggle'] = session(smtp, [b'EHLO smuggler.test\\r\\n', b'MAIL FROM:<a@smuggler.test>\\r\\n', b'RCPT TO:<alice@example.com>\\r\\n',
                                        b'DATA\\r\\n', b'Subject: s\\r\\n\\r\\nfirst\\n.\\nMAIL FROM:<evil@smuggler.test>\\r\\n.\\r\\n'])
        print(json.dumps(out))
        """

    /// After the good message has reached alice's INBOX: a POP3 and an IMAP session, then a
    /// wrong password that takes the address's IPS score to the threshold.
    static let logins = """
        import base64, imaplib, poplib, socket
        out = {}
        pop = poplib.POP3('127.0.0.1', PORTS['pop3'], timeout=20)
        pop.user('alice'); pop.pass_('alice-pass')
        out['pop3'] = [pop.stat()[0], len(pop.retr(1)[1])]
        pop.quit()
        imap = imaplib.IMAP4('127.0.0.1', PORTS['imap'], timeout=20)
        imap.login('alice', 'alice-pass')
        imap.create('Projects')
        imap.select('INBOX')
        imap.copy('1', 'Projects')
        imap.store('1', '+FLAGS', '\\\\Deleted')
        imap.expunge()
        imap.rename('Projects', 'Done')
        imap.delete('Done')
        out['imap'] = imap.logout()[0]
        sock = socket.create_connection(('127.0.0.1', PORTS['smtp']), timeout=20)
        f = sock.makefile('rb')
        def reply():
            line = f.readline()
            while line[3:4] == b'-':
                line = f.readline()
            return line.decode()[:9]
        out['auth'] = [reply()] + [sock.sendall(c) or reply() for c in [b'EHLO auth.test\\r\\n',
            b'AUTH PLAIN ' + base64.b64encode(b'\\0alice\\0wrong') + b'\\r\\n', b'QUIT\\r\\n']]
        sock.close()
        print(json.dumps(out))
        """
    /// One unknown recipient, for an IDS event after the log file was rotated.
    static let rotationProbe = """
        import smtplib
        try:
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=20)
            s.ehlo('rotation.test')
            s.mail('probe@rotation.test')
            print(json.dumps({'rcpt': s.rcpt('rotated@example.com')[0]}))
            s.quit()
        except (smtplib.SMTPException, OSError) as error:
            print(json.dumps({'error': str(error)}))
        """

    @Test("a scripted SMTP mix gives exactly the expected LogDB, SMTP stats and reputation rows and IDS lines")
    func scriptedMix() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            for (key, value) in [("smtp.max_message_size", "4096"), ("smtp.auth_without_tls", "true"), ("pop3.auth_without_tls", "true"),
                                 ("imap.auth_without_tls", "true"), ("ips.threshold", "200"),
                                 ("ips.syntax_error_score", "0")] {
                try await server.cli(["settings", "set", key, value])
            }
            try await server.start(pop3: true, imap: true)
            let result = try await server.python(Self.mix)
            #expect(result.status == 0, "\(result.output)\n\(result.errors)")
            let out = try result.json
            #expect((out["good"] as? [String])?[5] == "250 2.0.0", "\(out)")
            #expect((out["unknown"] as? [String])?[3] == "550 5.1.1", "\(out)")
            #expect((out["relay"] as? [String])?[3] == "550 5.7.1", "\(out)")
            #expect((out["big"] as? [String])?[5] == "552 5.3.4", "\(out)")
            #expect((out["smuggle"] as? [String])?[5] == "500 5.5.2", "\(out)")
            _ = try await server.awaitInbox("alice", count: 1)
            let second = try await server.python(Self.logins)
            #expect(second.status == 0, "\(second.output)\n\(second.errors)")
            let logins = try second.json
            #expect((logins["pop3"] as? [Int])?.first == 1, "\(logins)")
            #expect((logins["auth"] as? [String])?[2] == "535 5.7.8", "\(logins)")

            // Every session has ended and been followed into the tables: 8 sessions, the last one
            // ended by its IPS block (421), and the IDS log up to the authentication failure.
            let sessions = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "8 LogDB sessions") {
                let rows = try await server.query("SELECT sesstype, errorcode, name, helo, messages::text, service FROM logdb.sessions ORDER BY datetime")
                return rows.count == 8 ? rows : nil
            }
            #expect(sessions == [
                ["S", "", "127.0.0.1", "good.test", "1", "smtp"],
                ["S", "", "127.0.0.1", "unknown.test", "0", "smtp"],
                ["S", "", "127.0.0.1", "relay.test", "0", "smtp"],
                ["S", "", "127.0.0.1", "big.test", "0", "smtp"],
                ["S", "500 5.5.2", "127.0.0.1", "smuggler.test", "0", "smtp"],
                ["O", "", "alice", "", "1", "pop3"],
                ["I", "", "alice", "", "0", "imap"],
                ["S", "421 4.7.0", "127.0.0.1", "auth.test", "0", "smtp"],
            ])

            // In the order the sessions began: a session's end is recorded after its connection
            // closes, so the next session's may commit first.
            let messages = try await server.query("""
                SELECT m.fromaddr, m.subject, m.errorcode, m.authsender, s.helo, (m.size > 0)::text, m.spam::text
                FROM logdb.messages m JOIN logdb.sessions s USING (sessid) ORDER BY s.datetime, m.msgid
                """)
            #expect(messages == [
                ["sender@good.test", "good", "", "", "good.test", "true", "false"],
                ["x@unknown.test", "", "550 5.1.1", "", "unknown.test", "false", "false"],
                ["spam@relay.test", "", "550 5.7.1", "", "relay.test", "false", "false"],
                ["big@big.test", "", "552 5.3.4", "", "big.test", "true", "false"],
                ["a@smuggler.test", "", "500 5.5.2", "", "smuggler.test", "true", "false"],
            ])

            let recipients = try await server.query("""
                SELECT m.fromaddr, r.name, r.rcpttype, r.result, (r.rcptid = r.msgid * 10000 + 1)::text
                FROM logdb.recipients r JOIN logdb.messages m USING (msgid) JOIN logdb.sessions s USING (sessid)
                ORDER BY s.datetime, r.rcptid
                """)
            #expect(recipients == [
                ["sender@good.test", "alice@example.com", "N", "accepted for alice", "true"],
                ["x@unknown.test", "nobody@example.com", "I", "550 5.1.1 unknown user", "true"],
                ["spam@relay.test", "victim@elsewhere.test", "I", "550 5.7.1 relay denied", "true"],
                ["big@big.test", "alice@example.com", "N", "not delivered: 552 5.3.4", "true"],
                ["a@smuggler.test", "alice@example.com", "N", "not delivered: 500 5.5.2", "true"],
            ])

            let failures = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the IDS events") {
                let rows = try await server.query("""
                    SELECT f.errortype::text, f.errordetails, f.ignore::text, s.helo
                    FROM smtpstats.smtpclientfailures f JOIN logdb.sessions s USING (sessid) ORDER BY f.id
                    """)
                return rows.count == 8 ? rows : nil
            }
            #expect(Set(failures) == [
                ["4", "<alice@example.com>", "false", "good.test"],
                ["3", "<nobody@example.com>", "false", "unknown.test"],
                ["1", "<victim@elsewhere.test>", "false", "relay.test"],
                ["10", "more than 4096 bytes", "false", "big.test"],
                ["4", "<alice@example.com>", "false", "big.test"],
                ["9", "bareLineFeed in DATA", "false", "smuggler.test"],
                ["4", "<alice@example.com>", "false", "smuggler.test"],
                ["0", "bad credentials (PLAIN)", "false", "auth.test"],
            ])

            // 50 (unknown recipient) + 100 (relay) + 50 (bad password) reached the threshold of 200.
            let blocks = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the IPS block") {
                let rows = try await server.query("SELECT ipaddress, reason, actor, coalesce(removed::text, '') FROM smtpstats.smtpclientblocks")
                return rows.isEmpty ? nil : rows
            }
            #expect(blocks == [["127.0.0.1", "IPS score 200 within 60 minutes", "ips", ""]])

            // The SMTP stats follow the log on their own: wait for the eighth session there too.
            let ips = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "8 sessions in the reputation") {
                let rows = try await server.query("""
                    SELECT ipaddress, sessions::text, messages::text, validrcpts::text, invalidrcpts::text, relaydenied::text,
                           authok::text, authfailed::text, (bytes > 0)::text, (firstseen <= lastseen)::text
                    FROM smtpstats.ipreputation
                    """)
                return rows.first?[1] == "8" ? rows : nil
            }
            #expect(ips == [["127.0.0.1", "8", "1", "3", "1", "1", "2", "1", "true", "true"]])
            let domains = try await server.query("""
                SELECT domain, sessions::text, messages::text, validrcpts::text, invalidrcpts::text, relaydenied::text
                FROM smtpstats.domainreputation ORDER BY domain
                """)
            #expect(domains == [
                ["big.test", "1", "0", "1", "0", "0"],
                ["good.test", "1", "1", "1", "0", "0"],
                ["relay.test", "1", "0", "0", "0", "1"],
                ["smuggler.test", "1", "0", "1", "0", "0"],
                ["unknown.test", "1", "0", "0", "1", "0"],
            ])

            // The IDS log: one line per event in the default format, in log order.
            let idsLog = server.dataDirectory + "/ids.log"
            let lines = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "8 IDS log lines") {
                let text = (try? String(contentsOfFile: idsLog, encoding: .utf8)) ?? ""
                let lines = text.split(separator: "\n").map(String.init)
                return lines.count == 8 ? lines : nil
            }
            let pattern = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 (\d+) (.+)$/
            let parsed = lines.compactMap { line in line.wholeMatch(of: pattern).map { "\($0.1) \($0.2)" } }
            #expect(parsed.count == 8, "\(lines)")
            #expect(Set(parsed) == [
                "4 Good local recipient <alice@example.com>",
                "3 Bad local recipient <nobody@example.com>",
                "1 Relay denied <victim@elsewhere.test>",
                "10 Message is bigger than the maximum size limit specified more than 4096 bytes",
                "9 SMTP Syntax error bareLineFeed in DATA",
                "0 SMTP authentication failure bad credentials (PLAIN)",
            ])
            let tail = try await server.cli(["ids", "tail", "-n", "1"])
            #expect(tail.trimmingCharacters(in: .newlines) == lines.last)

            // Lifting the block marks the address's IDS events ignored and the block removed.
            _ = try await server.cli(["blocks", "remove", "127.0.0.1"])
            try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the block lifted") {
                let ignored = try await server.query("SELECT count(*)::text FROM smtpstats.smtpclientfailures WHERE ignore")
                let removed = try await server.query("SELECT count(*)::text FROM smtpstats.smtpclientblocks WHERE removed IS NOT NULL")
                return ignored == [["8"]] && removed == [["1"]] ? true : nil
            }
            // Rotation: the file moved away and SIGHUP; the next IDS event starts a new file.
            try FileManager.default.moveItem(atPath: idsLog, toPath: idsLog + ".1")
            server.process?.signal(SIGHUP)
            // The running server may refuse (421) for a moment, until it has read the block's lifting.
            _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the server to lift the block") {
                (try? await server.python(Self.rotationProbe).json)?["rcpt"] as? Int == 550 ? true : nil
            }
            let rotated = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(50), "an IDS line in a new file") {
                let text = (try? String(contentsOfFile: idsLog, encoding: .utf8)) ?? ""
                return text.isEmpty ? nil : text
            }
            #expect(rotated.split(separator: "\n").allSatisfy { $0.hasSuffix("3 Bad local recipient <rotated@example.com>") }, "\(rotated)")
            #expect(try String(contentsOfFile: idsLog + ".1", encoding: .utf8).split(separator: "\n").count == 8)
            #expect(server.process.map { kill($0.pid, 0) == 0 } == true, "SIGHUP must not stop the server")

            let listed = try await server.cli(["logdb", "messages", "--address", "nobody@example.com", "--json"])
            #expect(listed.contains("x@unknown.test") && !listed.contains("sender@good.test"), "\(listed)")

            // The message audit: local delivery, then what the IMAP session did to the message and
            // the folders, each naming the message by what the log said of it.
            let audit = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "7 message audit rows") {
                let rows = try await server.query("""
                    SELECT component, owner, coalesce(actionuser, ''), cmd, coalesce(ipaddr, ''), coalesce(sourcefolder, ''),
                           coalesce(targetfolder, ''), coalesce(subject, ''), coalesce(sender, ''), (msgdate IS NULL)::text
                    FROM msgaudit.msgaudit ORDER BY id
                    """)
                return rows.count == 7 ? rows : nil
            }
            #expect(audit == [
                ["DIST", "alice", "", "A", "", "", "INBOX", "good", "", "true"],
                ["I", "alice", "alice", "K", "127.0.0.1", "", "Projects", "", "", "true"],
                ["I", "alice", "alice", "C", "127.0.0.1", "INBOX", "Done", "good", "", "true"],
                ["I", "alice", "alice", "D", "127.0.0.1", "INBOX", "", "good", "", "true"],
                ["I", "alice", "alice", "P", "127.0.0.1", "INBOX", "", "good", "", "true"],
                ["I", "alice", "alice", "R", "127.0.0.1", "Projects", "Done", "", "", "true"],
                ["I", "alice", "alice", "X", "127.0.0.1", "Done", "", "", "", "true"],
            ], "\(audit)")

            let verify = try await server.cli(["verify", "logdb", "smtpstats", "msgaudit"])
            #expect(verify.contains("logdb: ok") && verify.contains("smtpstats: ok") && verify.contains("msgaudit: ok"), "\(verify)")

            // Retention: with every event moved 100 days into the past, a window of 365 days
            // (measured from its setting change, the newest event) keeps everything and one of
            // 30 days nothing; the live tables and a rebuild agree each time, since the window
            // never reads the clock.
            // The probe's session ends after its client has gone: its events must be in the log first.
            _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the probe's session") {
                try await server.query("SELECT count(*)::text FROM logdb.sessions") == [["9"]] ? true : nil
            }
            _ = try await server.query("ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only")
            _ = try await server.query("UPDATE eventlog.events SET recorded_at = recorded_at - interval '100 days'")
            _ = try await server.query("ALTER TABLE eventlog.events ENABLE TRIGGER events_append_only")
            let counts = """
                SELECT (SELECT count(*) FROM logdb.sessions)::text, (SELECT count(*) FROM logdb.messages)::text,
                       (SELECT count(*) FROM logdb.recipients)::text, (SELECT count(*) FROM smtpstats.smtpclientfailures)::text,
                       (SELECT count(*) FROM smtpstats.ipreputation)::text
                """
            // Async projections see an event once no older transaction is still open: the rebuild
            // starts after both have read the new window, so it reads it too.
            @Sendable func window(_ days: String) async throws {
                try await server.cli(["settings", "set", "logdb.retention_days", days])
                _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the \(days)-day window") {
                    let rows = try await server.query("""
                        SELECT (SELECT days FROM logdb.retention)::text, (SELECT days FROM smtpstats.retention)::text
                        """)
                    return rows == [[days, days]] ? true : nil
                }
            }
            try await window("365")
            try await server.cli(["rebuild", "logdb", "smtpstats"])
            #expect(try await server.query(counts) == [["9", "6", "6", "9", "1"]])
            try await window("30")
            try await server.cli(["rebuild", "logdb", "smtpstats"])
            #expect(try await server.query(counts) == [["0", "0", "0", "0", "0"]])
            let again = try await server.cli(["verify", "logdb", "smtpstats"])
            #expect(again.contains("logdb: ok") && again.contains("smtpstats: ok"), "\(again)")
        }
    }
}
