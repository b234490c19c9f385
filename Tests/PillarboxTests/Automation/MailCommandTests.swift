import Foundation
import TestSupport
import Testing

/// Mail commands to `mailer_daemon@`: with USERNAME/PASSWORD or SMTP AUTH, a wrong password
/// counted by the login IPS, malformed messages answered and nothing changed.
@Suite("Mail commands")
struct MailCommandTests {
    /// Sends each argument `sender|auth|subject|body` (`\n` in the body as written) in order.
    static let send = #"""
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for spec in sys.argv[1:]:
    sender, auth, subject, body = spec.split('|', 3)
    body = body.replace('\\n', '\r\n')
    message = ('From: %s\r\nTo: mailer_daemon@example.com\r\nSubject: %s\r\n\r\n%s\r\n' % (sender, subject, body)).encode()
    if auth:
        user, password = auth.split(':')
        s = smtplib.SMTP('127.0.0.1', PORTS['submission'], timeout=30)
        s.starttls(context=ctx)
        s.ehlo()
        s.login(user, password)
    else:
        s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
    s.sendmail(sender, ['mailer_daemon@example.com'], message)
    s.quit()
print(json.dumps({'sent': len(sys.argv) - 1}))
"""#

    static func text(_ message: [UInt8]) -> String { String(decoding: message, as: UTF8.self) }

    @Test("Set Forwarding with the right password and a notice to the user; a wrong password refused and counted; malformed bodies answered; SMTP AUTH without a password; Password checked against the policy")
    func mailCommands() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.start()

            let long = Array(repeating: "FORWARD OFF", count: 10_000).joined(separator: "\\n")
            let sent = try await server.python(Self.send, [
                "bob@example.com||Set Forwarding|USERNAME alice\\nPASSWORD alice-pass\\nFORWARD TO carol\\nEND\\nanything after END",
                "bob@example.com||Set Forwarding|USERNAME alice\\nPASSWORD wrong\\nFORWARD OFF",
                "bob@example.com||Set Forwarding|USERNAME alice\\nPASSWORD alice-pass\\nFORWARD SIDEWAYS",
                "bob@example.com||Hello|USERNAME alice",
                "bob@example.com||Set Forwarding|USERNAME alice\\nPASSWORD alice-pass\\n" + long,
                "alice@example.com|alice:alice-pass|Query Forwarding|",
                "alice@example.com|alice:alice-pass|Set Forwarding|FORWARD OFF",
                "bob@example.com||Password|USERNAME alice\\nPASSWORD alice-pass\\nNEW PASSWORD x",
                "bob@example.com||Re: password|USERNAME alice\\nPASSWORD alice-pass\\nNEW PASSWORD alice-new-pass",
            ])
            #expect(try sent.json["sent"] as? Int == 9)

            // Answers come in the order the commands were sent; the last is bob's seventh.
            let bob = try await server.awaitInbox("bob", count: 7).map(Self.text)
            #expect(bob.count == 7)
            #expect(bob[0].contains("Subject: Set Forwarding: done") && bob[0].contains("Forwarding is on, to carol."), "\(bob[0])")
            #expect(bob[1].contains("Subject: Set Forwarding: refused") && bob[1].contains("the user name or password is wrong"))
            #expect(bob[2].contains("line 3: FORWARD takes TO <address>, ON or OFF"), "\(bob[2])")
            #expect(bob[3].contains("the subject names no command"))
            #expect(bob[4].contains("more than 50 lines"))
            #expect(bob[5].contains("Subject: Password: refused") && bob[5].contains("a password needs"), "\(bob[5])")
            #expect(bob[6].contains("Subject: Password: done"))
            #expect(!bob.contains { $0.contains("alice-pass") || $0.contains("alice-new-pass") }, "no answer repeats a password")
            for answer in bob {
                #expect(answer.contains("Auto-Submitted: auto-replied") && answer.contains("From: <mailer_daemon@example.com>"))
            }

            // Alice: the notice of bob's change, her own two answers (no notice for those), the
            // notice of the new password.
            let alice = try await server.awaitInbox("alice", count: 4).map(Self.text)
            #expect(alice.count == 4)
            #expect(alice[0].contains("Subject: Your account was changed by mail") && alice[0].contains("from bob@example.com"))
            #expect(alice[1].contains("Subject: Query Forwarding: done") && alice[1].contains("Forwarding is on, to carol."))
            #expect(alice[2].contains("Subject: Set Forwarding: done") && alice[2].contains("Forwarding is off (the address kept is carol)."))
            #expect(alice[3].contains("The password was changed."))

            let shown = try await server.cli(["user", "show", "alice"])
            #expect(shown.contains("carol") && shown.contains("false"), "\(shown)")
            let login = try await server.python("""
                import smtplib, ssl
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                s = smtplib.SMTP('127.0.0.1', PORTS['submission'], timeout=30)
                s.starttls(context=ctx)
                s.ehlo()
                print(json.dumps({'code': s.login('alice', 'alice-new-pass')[0]}))
                """)
            #expect(try login.json["code"] as? Int == 235)
            // smtplib tries CRAM-MD5 first, which alice has not enabled: those failures are the
            // submission service's; the mail command's is its own.
            let failures = try await server.cli(["log", "dump"]).split(separator: "\n")
                .filter { $0.contains("\"type\":\"login_failed\"") && $0.contains("\"service\":\"mailcommands\"") }
            #expect(failures.count == 1 && failures[0].contains("\"user\":\"alice\""), "the wrong password counted once: \(failures)")
            let answered = try await server.query("SELECT count(*)::text FROM eventlog.events e JOIN eventlog.streams s USING (stream_id) WHERE s.category = 'mailcommands'")
            #expect(answered.first?.first == "9")
            try await server.cli(["verify"])
        }
    }

    @Test("a command as mail clients write it: multipart/alternative, HTML first, the text part in base64")
    func mimeBody() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.start()
            _ = try await server.python("""
                import smtplib, email.policy
                from email.mime.multipart import MIMEMultipart
                from email.mime.text import MIMEText
                message = MIMEMultipart('alternative')
                message['From'] = 'bob@example.com'
                message['To'] = 'mailer_daemon@example.com'
                message['Subject'] = 'Set Forwarding'
                message.attach(MIMEText('<p>USERNAME nobody</p>', 'html', 'utf-8'))
                message.attach(MIMEText('USERNAME carol\\r\\nPASSWORD carol-pass\\r\\nFORWARD TO alice\\r\\n', 'plain', 'utf-8'))
                assert 'base64' in message.as_string()
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                s.sendmail('bob@example.com', ['mailer_daemon@example.com'], message.as_bytes(policy=email.policy.SMTP))
                s.quit()
                print(json.dumps({}))
                """)
            let answer = try await server.awaitInbox("bob", count: 1).map(Self.text)
            #expect(answer[0].contains("Subject: Set Forwarding: done") && answer[0].contains("Forwarding is on, to alice."), "\(answer[0])")
            #expect(try await server.cli(["user", "show", "carol"]).contains("alice"))
        }
    }
}

/// Admin messages to a group or everyone, with keywords filled in for each member.
@Suite("Admin messages")
struct AdminMessageTests {
    @Test("one copy per member of a group, keywords filled in for each; everyone; unknown keywords and unknown targets refused")
    func adminMessage() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["group", "add", "staff"])
            try await server.cli(["group", "member", "add", "staff", "alice"])
            try await server.cli(["group", "member", "add", "staff", "bob"])
            try await server.cli(["settings", "set", "mail.quota_kib", "2048"])
            let bad = try await PillarboxBinary.run(["user", "message", "staff", "--subject", "Hi {username}", "--text", "{nonsense}"]
                                                    + server.databaseArguments)
            #expect(bad.status != 0 && bad.errors.contains("unknown keywords {nonsense}"), "\(bad.errors)")
            let missing = try await PillarboxBinary.run(["user", "message", "nobody-here", "--subject", "x", "--text", "x"]
                                                        + server.databaseArguments)
            #expect(missing.status != 0 && missing.errors.contains("no group or list named nobody-here"), "\(missing.errors)")
            try await server.start()

            let output = try await server.cli(["user", "message", "staff", "--subject", "Hello {username}",
                                               "--text", "Dear {username} <{address}>, your mailbox holds {mailboxsize} of {quota}."])
            #expect(output.contains("sent the message to 2 members of staff"), "\(output)")
            let alice = try await server.awaitInbox("alice", count: 1).map { String(decoding: $0, as: UTF8.self) }
            #expect(alice[0].contains("Subject: Hello alice") && alice[0].contains("Dear alice <alice@example.com>")
                    && alice[0].contains("of 2048 KiB"), "\(alice[0])")
            let bob = try await server.awaitInbox("bob", count: 1).map { String(decoding: $0, as: UTF8.self) }
            #expect(bob[0].contains("Subject: Hello bob") && !bob[0].contains("alice"))
            #expect(try await server.inbox("carol").isEmpty)
            _ = try await server.cli(["user", "message", "everyone", "--subject", "Maintenance", "--text", "Tonight, {username}."])
            let carol = try await server.awaitInbox("carol", count: 1).map { String(decoding: $0, as: UTF8.self) }
            #expect(carol[0].contains("Tonight, carol."))
            try await server.cli(["verify"])
        }
    }
}
