import Foundation
import Testing
import TestSupport

/// The SMTP gateway driven by real clients: Python's smtplib, swaks and curl.
@Suite("SMTP with real clients", .serialized)
struct SMTPClientTests {
    static let clientContext = """
        import smtplib, ssl, socket
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        def msg(tag, sender='sender@remote.test'):
            return ("From: %s\\r\\nTo: someone@example.com\\r\\nSubject: %s\\r\\n\\r\\nbody %s\\r\\n.leading dot\\r\\n" % (sender, tag, tag)).encode()
        def refused(error):
            code, text = list(error.recipients.values())[0]
            return [code, text.decode()]

        """

    @Test("smtplib: plain MX, STARTTLS and SMTPS submission; PLAIN, LOGIN, CRAM-MD5; aliases, relay refusal, the outqueue")
    func smtplibClients() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start()
            let result = try await server.python(Self.clientContext + """
                out = {}
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.ehlo('client.test')
                out['ehlo'] = s.ehlo_resp.decode()
                bad = s.sendmail('sender@remote.test', ['alice@example.com', 'SALES@Example.COM', 'void@example.com', 'nobody@example.com'], msg('plain'))
                out['plain_refused'] = {k: [v[0], v[1].decode()] for k, v in bad.items()}
                try:
                    s.sendmail('sender@remote.test', ['someone@elsewhere.test'], msg('relay'))
                    out['relay'] = 'accepted'
                except smtplib.SMTPRecipientsRefused as e:
                    out['relay'] = refused(e)
                s.quit()

                s = smtplib.SMTP('127.0.0.1', PORTS['submission'])
                s.ehlo()
                out['auth_before_tls'] = s.has_extn('auth')
                code, text = s.mail('alice@example.com')
                out['submission_without_auth'] = code
                s.starttls(context=ctx)
                s.ehlo()
                out['auth_after_tls'] = s.esmtp_features.get('auth', '')
                s.user, s.password = 'alice', 'wrong-pass'
                try:
                    s.auth('PLAIN', s.auth_plain)
                    out['bad_password'] = 'accepted'
                except smtplib.SMTPAuthenticationError as e:
                    out['bad_password'] = e.smtp_code
                s.user, s.password = 'alice', 'alice-pass'
                out['plain'] = s.auth('PLAIN', s.auth_plain)[0]
                bad = s.sendmail('alice@example.com', ['friend@elsewhere.test', 'bob@example.com'], msg('submission', 'alice@example.com'),
                                 mail_options=['RET=HDRS', 'ENVID=env+2B1'], rcpt_options=['NOTIFY=SUCCESS,FAILURE'])
                out['submission_refused'] = len(bad)
                s.quit()

                s = smtplib.SMTP_SSL('127.0.0.1', PORTS['smtps'], context=ctx)
                s.ehlo()
                s.user, s.password = 'alice', 'alice-pass'
                out['login'] = s.auth('LOGIN', s.auth_login, initial_response_ok=False)[0]
                s.sendmail('alice@example.com', ['bob@example.com'], msg('smtps', 'Alice <alice@example.com>'))
                s.quit()

                s = smtplib.SMTP('127.0.0.1', PORTS['submission'])
                s.starttls(context=ctx)
                s.ehlo()
                s.user, s.password = 'bob', 'bob-pass'
                out['cram'] = s.auth('CRAM-MD5', s.auth_cram_md5)[0]
                s.quit()

                s = smtplib.SMTP('127.0.0.1', PORTS['submission'])
                s.starttls(context=ctx)
                s.ehlo()
                s.user, s.password = 'carol', 'carol-pass'
                s.auth('PLAIN', s.auth_plain)
                try:
                    s.sendmail('carol@example.com', ['x@elsewhere.test'], msg('carol'))
                    out['carol'] = 'accepted'
                except smtplib.SMTPRecipientsRefused as e:
                    out['carol'] = refused(e)
                s.quit()
                print(json.dumps(out))
                """).json
            let ehlo = try #require(result["ehlo"] as? String)
            for keyword in ["PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN", "STARTTLS"] {
                #expect(ehlo.contains(keyword), "EHLO lacks \(keyword): \(ehlo)")
            }
            #expect(!ehlo.contains("AUTH"), "AUTH offered before TLS")
            let plainRefused = try #require(result["plain_refused"] as? [String: [Any]])
            #expect(Array(plainRefused.keys) == ["nobody@example.com"])
            #expect(plainRefused["nobody@example.com"]?.first as? Int == 550)
            #expect(plainRefused["nobody@example.com"]?.last as? String == "5.1.1 No such user here")
            #expect(result["relay"] as? [AnyHashable] == [550, "5.7.1 Relaying not allowed! Bad sender IP address"])
            #expect(result["auth_before_tls"] as? Bool == false)
            #expect(result["submission_without_auth"] as? Int == 530)
            #expect((result["auth_after_tls"] as? String)?.trimmingCharacters(in: .whitespaces) == "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256")
            #expect(result["bad_password"] as? Int == 535)
            #expect(result["plain"] as? Int == 235)
            #expect(result["submission_refused"] as? Int == 0)
            #expect(result["login"] as? Int == 235)
            #expect(result["cram"] as? Int == 235)
            #expect(replyCode(result["carol"]) == 550)

            // alice once (alice and sales@ are the same user), void@ discarded, bob twice; alice
            // may also have the report on friend@elsewhere.test, which cannot be delivered here.
            let alice = try await server.awaitInbox("alice", count: 1)
                .filter { !String(decoding: $0, as: UTF8.self).contains("From: Mail Delivery System") }
            #expect(alice.count == 1)
            #expect(alice.first.map { String(decoding: $0, as: UTF8.self) }?.hasSuffix("body plain\r\n.leading dot\r\n") == true)
            #expect(try await server.awaitInbox("bob", count: 2).count == 2)
            let stored = try await server.cli(["mail", "show", "bob", "1"])
            #expect(stored.hasPrefix("Return-Path: <alice@example.com>\r\nReceived: from "))
            #expect(stored.contains("with ESMTPSA id") && stored.contains("authenticated as alice") && stored.contains("using TLSv1."))
            let queue = try await server.awaitQueue { $0.contains("friend@elsewhere.test") }
            #expect(!queue.contains("bob@example.com"))

            let log = try await server.cli(["log", "dump"])
            let accepted = log.split(separator: "\n").filter { $0.contains("\"type\":\"message_accepted\"") && $0.contains("friend@elsewhere.test") }
            #expect(accepted.count == 1)
            #expect(accepted.first?.contains("\"envelopeID\":\"env+1\"") == true && accepted.first?.contains("\"ret\":\"HDRS\"") == true)
            #expect(accepted.first?.contains("\"notify\":[\"SUCCESS\",\"FAILURE\"]") == true)
            // IDS: the unknown recipient (3), the relay attempt (1), the bad password (0), carol's internet mail.
            #expect(log.contains("\"kind\":3") && log.contains("\"kind\":1") && log.contains("\"kind\":0"))

            let verify = try await server.cli(["verify"])
            #expect(!verify.contains("DIFFERS"), "\(verify)")
        }
    }

    @Test("swaks with pipelining and STARTTLS AUTH; curl over SMTP and SMTPS; BDAT chunks and DSN parameters")
    func swaksCurlAndChunking() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start()
            let smtp = String(server.ports["smtp"]!), submission = String(server.ports["submission"]!)
            let smtps = String(server.ports["smtps"]!)

            let piped = try await server.tool("/usr/bin/swaks", [
                "--server", "127.0.0.1:\(smtp)", "--from", "swaks@remote.test", "--to", "alice@example.com",
                "--pipeline", "--header", "Subject: swaks pipelined", "--body", "pipelined body",
            ])
            #expect(piped.status == 0, "\(piped.output)\(piped.errors)")
            #expect(piped.output.contains("250 2.0.0 OK queued as"), "\(piped.output)")
            let authenticated = try await server.tool("/usr/bin/swaks", [
                "--server", "127.0.0.1:\(submission)", "--tls", "--auth", "LOGIN", "--auth-user", "alice",
                "--auth-password", "alice-pass", "--from", "alice@example.com", "--to", "bob@example.com", "--pipeline",
                "--header", "Subject: swaks tls",
            ])
            #expect(authenticated.status == 0, "\(authenticated.output)\(authenticated.errors)")

            let message = "From: curl@remote.test\r\nSubject: curl\r\n\r\nsent by curl\r\n"
            let plainCurl = try await server.tool("/usr/bin/curl", [
                "-sS", "smtp://127.0.0.1:\(smtp)", "--mail-from", "curl@remote.test", "--mail-rcpt", "alice@example.com",
                "--upload-file", "-",
            ], input: message)
            #expect(plainCurl.status == 0, "\(plainCurl.errors)")
            let tlsCurl = try await server.tool("/usr/bin/curl", [
                "-sS", "-k", "smtps://127.0.0.1:\(smtps)", "-u", "bob:bob-pass", "--mail-from", "bob@example.com",
                "--mail-rcpt", "alice@example.com", "--upload-file", "-",
            ], input: message.replacingOccurrences(of: "curl@remote.test", with: "bob@example.com"))
            #expect(tlsCurl.status == 0, "\(tlsCurl.errors)")

            let result = try await server.python(Self.clientContext + """
                out = {}
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.ehlo()
                out['mail'] = s.mail('x@remote.test', ['RET=FULL', 'ENVID=chunky', 'BODY=8BITMIME'])[0]
                out['rcpt'] = s.rcpt('alice@example.com', ['NOTIFY=SUCCESS,DELAY', 'ORCPT=rfc822;alice+2Bx@example.com'])[0]
                body = b'Subject: bdat\\r\\n\\r\\nchunked\\r\\n.body with a dot\\r\\n'
                s.send(b'BDAT 10\\r\\n' + body[:10])
                out['chunk1'] = s.getreply()[0]
                s.send(b'BDAT %d LAST\\r\\n' % (len(body) - 10) + body[10:])
                code, text = s.getreply()
                out['chunk2'] = [code, text.decode()]
                s.send(b'BDAT 5 LAST\\r\\nhello')
                out['bdat_without_mail'] = s.getreply()[0]
                out['noop'] = s.noop()[0]
                s.quit()
                print(json.dumps(out))
                """).json
            #expect(result["mail"] as? Int == 250 && result["rcpt"] as? Int == 250)
            #expect(result["chunk1"] as? Int == 250)
            #expect(replyCode(result["chunk2"]) == 250)
            #expect(result["bdat_without_mail"] as? Int == 503)
            #expect(result["noop"] as? Int == 250)

            let alice = try await server.awaitInbox("alice", count: 4).map { String(decoding: $0, as: UTF8.self) }
            #expect(alice.count == 4)
            #expect(alice.contains("Subject: bdat\r\n\r\nchunked\r\n.body with a dot\r\n"))
            #expect(alice.contains { $0.contains("Subject: swaks pipelined") })
            #expect(alice.filter { $0 == message }.count == 1)
            #expect(alice.filter { $0 == message.replacingOccurrences(of: "curl@remote.test", with: "bob@example.com") }.count == 1)
            let log = try await server.cli(["log", "dump"])
            let chunked = log.split(separator: "\n").first { $0.contains("\"envelopeID\":\"chunky\"") }
            #expect(chunked?.contains("\"notify\":[\"SUCCESS\",\"DELAY\"]") == true)
            #expect(chunked?.contains("\"originalRecipient\":\"rfc822;alice+x@example.com\"") == true)
            #expect(chunked?.contains("\"ret\":\"FULL\"") == true && chunked?.contains("\"body\":\"8BITMIME\"") == true)
        }
    }

    @Test("a large message is spooled while it arrives, stored in pieces, and reads back exactly")
    func largeMessage() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start()
            let result = try await server.python(Self.clientContext + """
                import hashlib
                lines = [('line %07d ' % n + 'abcdefghij' * 7 + '\\r\\n').encode() for n in range(40000)]
                body = b'Subject: large\\r\\n\\r\\n' + b''.join(lines)
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('big@remote.test', ['alice@example.com'], body)
                s.quit()
                print(json.dumps({'size': len(body), 'sha256': hashlib.sha256(body).hexdigest()}))
                """).json
            let size = try #require(result["size"] as? Int)
            #expect(size > 3_000_000)
            let stored = try #require(try await server.awaitInbox("alice", count: 1).first)
            #expect(stored.count == size)
            #expect(MailServerHarness.sha256(stored) == result["sha256"] as? String)
            #expect(try await server.largestBlobChunks() >= 3)
            let spool = (try? FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/spool")) ?? []
            #expect(spool.isEmpty, "spool files left behind: \(spool)")
        }
    }
}
