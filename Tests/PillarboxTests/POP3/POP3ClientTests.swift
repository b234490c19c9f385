import Foundation
import Testing
import TestSupport

/// The POP3 gateway driven by real clients: Python's poplib, fetchmail and curl, with mail put
/// in over SMTP.
@Suite("POP3 with real clients", .serialized)
struct POP3ClientTests {
    /// Three messages for alice and one for bob, delivered over SMTP; returns once they are in.
    static func deliver(_ server: MailServerHarness) async throws {
        _ = try await server.python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            for n in range(3):
                s.sendmail('sender@remote.test', ['alice@example.com'],
                           b'Subject: message %d\\r\\n\\r\\nfirst line\\r\\n..dotted line\\r\\nthird line\\r\\n' % n)
            s.sendmail('sender@remote.test', ['bob@example.com'], b'Subject: for bob\\r\\n\\r\\nhello bob\\r\\n')
            s.quit()
            print('{}')
            """)
        _ = try await server.awaitInbox("alice", count: 3)
        _ = try await server.awaitInbox("bob", count: 1)
    }

    static let clientContext = """
        import poplib, ssl, socket, base64, hmac, hashlib
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        """

    @Test("poplib: plain text refused before STLS; STLS, POP3S, APOP and SASL; the maildrop, TOP, UIDL, DELE and QUIT")
    func poplibClients() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true)
            try await Self.deliver(server)
            let stored = try await server.cli(["mail", "show", "alice", "1"])
            var result = try await server.python(Self.clientContext + """
                out = {}
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                out['greeting'] = p.getwelcome().decode()
                out['capa_plain'] = sorted(p.capa().keys())
                try:
                    p.user('alice')
                    out['user_before_tls'] = 'accepted'
                except poplib.error_proto as e:
                    out['user_before_tls'] = e.args[0].decode()
                p.stls(context=ctx)
                out['capa_tls'] = sorted(p.capa().keys())
                p.user('alice')
                out['pass'] = p.pass_('alice-pass').decode()
                out['stat'] = list(p.stat())
                out['uidl'] = [line.decode() for line in p.uidl()[1]]
                out['list'] = [line.decode() for line in p.list()[1]]
                response, lines, octets = p.retr(1)
                out['retr'] = b'\\r\\n'.join(lines).decode() + '\\r\\n'
                out['retr_response'] = response.decode()
                out['top'] = [line.decode() for line in p.top(2, 1)[1]]
                out['dele'] = p.dele(1).decode()
                try:
                    p.retr(1)
                    out['retr_deleted'] = 'accepted'
                except poplib.error_proto as e:
                    out['retr_deleted'] = e.args[0].decode()
                second = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                try:
                    second.user('alice')
                    second.pass_('alice-pass')
                    out['second_session'] = 'accepted'
                except poplib.error_proto as e:
                    out['second_session'] = e.args[0].decode()
                second.quit()
                out['quit'] = p.quit().decode()

                # A session that drops without QUIT deletes nothing.
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                out['apop'] = p.apop('alice', 'alice-pass').decode()
                out['stat_after_quit'] = list(p.stat())
                p.dele(1)
                p.file.close()
                p.sock.close()
                print(json.dumps(out))
                """).json

            // The server notices the drop a moment later; until then the maildrop is rightly
            // held. It is free once the dropped session's end is in the log.
            _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(50), "the dropped POP3 session's end") {
                try await server.query("SELECT count(*)::text FROM logdb.sessions WHERE errorcode = 'disconnected'") == [["1"]] ? true : nil
            }
            let rest = try await server.python(Self.clientContext + """
                out = {}
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                out['stat_after_drop'] = list(p.stat())
                out['uidl_after'] = [line.decode() for line in p.uidl()[1]]
                p.quit()

                # SASL: PLAIN with an initial response, CRAM-MD5 with a challenge.
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                out['auth_plain'] = p._shortcmd('AUTH PLAIN ' + base64.b64encode(b'\\0alice\\0alice-pass').decode()).decode()
                p.quit()
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                challenge = base64.b64decode(p._shortcmd('AUTH CRAM-MD5')[2:])
                digest = hmac.new(b'bob-pass', challenge, hashlib.md5).hexdigest()
                out['auth_cram'] = p._shortcmd(base64.b64encode(('bob ' + digest).encode()).decode()).decode()
                out['bob_stat'] = list(p.stat())
                p.quit()

                # APOP for a user without it, then too many failures.
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                failures = []
                for attempt in range(3):
                    try:
                        p.apop('bob', 'bob-pass')
                        failures.append('accepted')
                    except poplib.error_proto as e:
                        failures.append(e.args[0].decode())
                out['apop_failures'] = failures
                try:
                    out['after_failures'] = p.noop().decode()
                except Exception as e:
                    out['after_failures'] = 'closed'
                print(json.dumps(out))
                """).json
            result.merge(rest) { first, _ in first }

            #expect((result["greeting"] as? String)?.hasPrefix("+OK Pillarbox POP3 ready <") == true)
            let plainCapabilities = try #require(result["capa_plain"] as? [String])
            #expect(plainCapabilities.contains("STLS") && !plainCapabilities.contains("USER"))
            #expect(plainCapabilities.contains("RESP-CODES") && plainCapabilities.contains("AUTH-RESP-CODE") && plainCapabilities.contains("PIPELINING"))
            #expect((result["user_before_tls"] as? String)?.hasPrefix("-ERR [AUTH]") == true)
            let tlsCapabilities = try #require(result["capa_tls"] as? [String])
            #expect(tlsCapabilities.contains("USER") && !tlsCapabilities.contains("STLS"))
            #expect((result["pass"] as? String)?.hasPrefix("+OK alice has 3 messages") == true)
            #expect((result["stat"] as? [Int])?.first == 3)
            let uidl = try #require(result["uidl"] as? [String])
            #expect(uidl.count == 3 && Set(uidl.map { $0.split(separator: " ")[1] }).count == 3)
            #expect(result["retr"] as? String == stored, "RETR must return exactly the stored bytes")
            #expect(result["retr_response"] as? String == "+OK \(stored.utf8.count) octets")
            let top = try #require(result["top"] as? [String])
            #expect(top.last == "first line" && top.contains("Subject: message 1") && !top.contains("third line"))
            #expect((result["retr_deleted"] as? String)?.hasPrefix("-ERR") == true)
            #expect((result["second_session"] as? String)?.hasPrefix("-ERR [IN-USE]") == true)
            #expect((result["quit"] as? String)?.hasPrefix("+OK") == true)
            #expect((result["apop"] as? String)?.hasPrefix("+OK alice has 2 messages") == true)
            #expect((result["stat_after_quit"] as? [Int])?.first == 2)
            #expect((result["stat_after_drop"] as? [Int])?.first == 2)
            #expect((result["uidl_after"] as? [String])?.map { $0.split(separator: " ")[1] } == uidl.dropFirst().map { $0.split(separator: " ")[1] })
            #expect((result["auth_plain"] as? String)?.hasPrefix("+OK alice has 2 messages") == true)
            #expect((result["auth_cram"] as? String)?.hasPrefix("+OK bob has 1 messages") == true)
            #expect((result["bob_stat"] as? [Int])?.first == 1)
            let failures = try #require(result["apop_failures"] as? [String])
            #expect(failures.count == 3 && failures.allSatisfy { $0.hasPrefix("-ERR [AUTH]") })
            #expect(result["after_failures"] as? String == "closed")

            // UIDLs survive a rebuild: they come from the log.
            try await server.cli(["rebuild", "mailbox"])
            let again = try await server.python(Self.clientContext + """
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                print(json.dumps({'uidl': [line.decode() for line in p.uidl()[1]]}))
                p.quit()
                """).json
            #expect((again["uidl"] as? [String])?.map { $0.split(separator: " ")[1] } == uidl.dropFirst().map { $0.split(separator: " ")[1] })
            let log = try await server.cli(["log", "dump"])
            #expect(log.split(separator: "\n").filter { $0.contains("\"type\":\"login_failed\"") && $0.contains("\"service\":\"pop3\"") }.count == 3)
        }
    }

    @Test("fetchmail downloads over STLS (checking the certificate) and deletes with --nokeep; curl reads pop3:// and pop3s:// URLs")
    func fetchmailAndCurl() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true)
            try await Self.deliver(server)
            let pop3 = server.ports["pop3"]!, pop3s = server.ports["pop3s"]!
            let mailbox = server.dataDirectory + "/fetched"
            let rc = server.dataDirectory + "/fetchmailrc"
            try """
                set no syslog
                poll localhost protocol pop3 port \(pop3)
                  user "alice" there with password "alice-pass" is "root" here
                  sslproto "TLS1.2+" sslcertck sslcertfile "\(server.dataDirectory)/tls/selfsigned-cert.pem"
                  mda "/bin/sh -c 'cat >> \(mailbox)'"

                """.write(toFile: rc, atomically: true, encoding: .utf8)
            chmod(rc, 0o600)
            let environment = ["HOME": server.dataDirectory, "FETCHMAILHOME": server.dataDirectory]
            func fetchmail(_ arguments: [String]) async throws -> ProcessResult {
                let process = try RunningProcess(executable: "/usr/bin/fetchmail", arguments: ["-f", rc] + arguments,
                                                 environment: environment)
                let status = try await process.wait(timeout: .seconds(60))
                return ProcessResult(status: status, output: process.output, errors: process.errors)
            }
            let kept = try await fetchmail(["--keep"])
            #expect(kept.status == 0, "fetchmail --keep: \(kept.output)\(kept.errors)")
            let fetched = (try? String(contentsOfFile: mailbox, encoding: .utf8)) ?? ""
            #expect(fetched.components(separatedBy: "Subject: message ").count - 1 == 3, "\(fetched)")
            #expect(try await server.inbox("alice").count == 3)

            let deleted = try await fetchmail(["--nokeep", "--all"])
            #expect(deleted.status == 0, "fetchmail --nokeep: \(deleted.output)\(deleted.errors)")
            #expect(try await server.inbox("alice").isEmpty)

            let listing = try await server.tool("/usr/bin/curl", [
                "-sS", "--ssl-reqd", "-k", "pop3://127.0.0.1:\(pop3)/", "-u", "bob:bob-pass",
            ])
            #expect(listing.status == 0, "\(listing.errors)")
            #expect(listing.output.hasPrefix("1 "), "\(listing.output)")
            let message = try await server.tool("/usr/bin/curl", [
                "-sS", "-k", "pop3s://127.0.0.1:\(pop3s)/1", "-u", "bob:bob-pass",
            ])
            #expect(message.status == 0, "\(message.errors)")
            #expect(message.output.contains("Subject: for bob") && message.output.contains("hello bob"))
            // Without TLS only mechanisms that do not send the password are offered.
            let refused = try await server.tool("/usr/bin/curl", [
                "-sS", "--login-options", "AUTH=PLAIN", "pop3://127.0.0.1:\(pop3)/", "-u", "bob:bob-pass",
            ])
            #expect(refused.status != 0, "PLAIN before TLS must be refused")
        }
    }

    @Test("failed logins over POP3 and SMTP AUTH add up per address and block it on every service")
    func loginIPS() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "ips.login_threshold", "4"])
            try await server.cli(["settings", "set", "smtp.auth_without_tls", "true"])
            try await server.start(pop3: true)
            let result = try await server.python(Self.clientContext + """
                import smtplib
                out = {}
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                for password in ['wrong-1', 'wrong-2']:
                    try:
                        p.user('alice')
                        p.pass_(password)
                    except poplib.error_proto as e:
                        out.setdefault('pop3', []).append(e.args[0].decode())
                p.quit()
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.ehlo()
                s.user, s.password = 'nobody', 'wrong-3'
                for _ in range(2):
                    try:
                        s.auth('PLAIN', s.auth_plain)
                    except smtplib.SMTPAuthenticationError as e:
                        out.setdefault('smtp', []).append(e.smtp_code)
                s.quit()
                sock = socket.create_connection(('127.0.0.1', PORTS['pop3']))
                out['pop3_blocked'] = sock.makefile('rb').readline().decode().strip()
                sock = socket.create_connection(('127.0.0.1', PORTS['smtp']))
                out['smtp_blocked'] = sock.makefile('rb').readline().decode().strip()
                print(json.dumps(out))
                """).json
            #expect((result["pop3"] as? [String])?.allSatisfy { $0.hasPrefix("-ERR [AUTH]") } == true)
            #expect(result["smtp"] as? [Int] == [535, 535])
            #expect(result["pop3_blocked"] as? String == "-ERR [SYS/TEMP] Server access temporarily blocked! Please try again later")
            #expect(result["smtp_blocked"] as? String == "421 4.7.0 Your connection has been blocked temporarily - Try again later")
            let log = try await server.cli(["log", "dump"])
            #expect(log.contains("4 failed logins within 30 minutes"))
        }
    }

    @Test("the maildrop lease is in PostgreSQL: one held by a session of another process keeps a login out with [IN-USE] until it runs out; QUIT gives a session's lease up")
    func maildropLease() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true)
            try await Self.deliver(server)
            // A session of another process holds alice's maildrop.
            _ = try await server.query("INSERT INTO runtime.maildrop_leases VALUES ('alice', 'elsewhere 1', now() + interval '3 minutes')")
            let result = try await server.python(Self.clientContext + """
                def login():
                    p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                    p.user('alice')
                    try:
                        p.pass_('alice-pass')
                        return p, 'ok'
                    except poplib.error_proto as error:
                        return None, error.args[0].decode()
                out = {}
                _, out['refused'] = login()
                print(json.dumps(out))
                """).json
            #expect((result["refused"] as? String)?.hasPrefix("-ERR [IN-USE]") == true, "\(result)")
            // That process died: its lease runs out, and a session here takes the maildrop.
            _ = try await server.query("UPDATE runtime.maildrop_leases SET expires_at = now() - interval '1 second'")
            let held = try await server.python(Self.clientContext + """
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                out = {'count': p.stat()[0]}
                p.quit()
                print(json.dumps(out))
                """).json
            #expect(held["count"] as? Int == 3, "\(held)")
            #expect(try await server.query("SELECT holder FROM runtime.maildrop_leases").isEmpty, "QUIT gives the lease up")
        }
    }

    @Test("a download of 80 messages, some over a megabyte, in order, then backwards and skipping: every RETR and TOP answers its own message")
    func readAhead() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true)
            // Every fifth message is 1.5 MB, so the batches read ahead stop at their byte limit too.
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                for n in range(80):
                    filler = (b'x' * 998 + b'\\r\\n') * (1500 if n % 5 == 4 else 2)
                    s.sendmail('sender@remote.test', ['alice@example.com'],
                               b'Subject: number %d\\r\\n\\r\\nbody of number %d\\r\\n' % (n + 1, n + 1) + filler)
                s.quit()
                print('{}')
                """, timeout: .seconds(180))
            _ = try await server.awaitInbox("alice", count: 80)
            let result = try await server.python(Self.clientContext + """
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                wrong = []
                order = list(range(1, 81)) + [40, 3, 77, 76, 12, 60, 61, 1]
                for n in order:
                    lines = p.retr(n)[1]
                    if [l for l in lines if l.startswith(b'body of number ')] != [b'body of number %d' % n]: wrong.append(n)
                top = p.top(33, 0)[1]
                p.quit()
                print(json.dumps({'wrong': wrong, 'top': [l.decode() for l in top if l.startswith(b'Subject:')]}))
                """, timeout: .seconds(180)).json
            #expect(result["wrong"] as? [Int] == [], "\(result)")
            #expect(result["top"] as? [String] == ["Subject: number 33"], "\(result)")
        }
    }

    @Test("with pop3.hold_deleted, deleted messages leave the maildrop but stay in the mailbox")
    func holdDeleted() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "pop3.hold_deleted", "true"])
            try await server.start(pop3: true)
            try await Self.deliver(server)
            let result = try await server.python(Self.clientContext + """
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                p.dele(2)
                p.quit()
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                print(json.dumps({'stat': list(p.stat())}))
                p.quit()
                """).json
            #expect((result["stat"] as? [Int])?.first == 2)
            let listing = try await server.cli(["mail", "list", "alice"])
            #expect(listing.split(separator: "\n").count == 4, "\(listing)")
            #expect(listing.contains("$POP3Deleted"))
        }
    }

    @Test("IMAP changes during a POP3 session do not break it: the maildrop stays as it was at login")
    func imapDuringPOP3() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true, imap: true)
            try await Self.deliver(server)
            let result = try await server.python(Self.clientContext + """
                import imaplib
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                out = {'stat_before': list(p.stat())}
                m = imaplib.IMAP4_SSL('127.0.0.1', PORTS['imaps'], ssl_context=ctx)
                m.login('alice', 'alice-pass')
                m.select('INBOX')
                m.store('1', '+FLAGS', '(\\\\Deleted)')
                m.expunge()
                m.store('1', '+FLAGS', '(\\\\Flagged)')
                m.logout()
                out['stat_during'] = list(p.stat())
                out['retr_expunged'] = b'\\r\\n'.join(p.retr(1)[1]).decode()
                p.dele(1)
                p.dele(2)
                out['quit'] = p.quit().decode()
                p = poplib.POP3_SSL('127.0.0.1', PORTS['pop3s'], context=ctx)
                p.user('alice')
                p.pass_('alice-pass')
                out['stat_after'] = list(p.stat())
                p.quit()
                print(json.dumps(out))
                """).json
            #expect((result["stat_before"] as? [Int])?.first == 3)
            #expect(result["stat_during"] as? [Int] == result["stat_before"] as? [Int])
            #expect((result["retr_expunged"] as? String)?.contains("Subject: message 0") == true)
            #expect((result["quit"] as? String)?.hasPrefix("+OK") == true)
            #expect((result["stat_after"] as? [Int])?.first == 1)
        }
    }
}
