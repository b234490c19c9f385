import Foundation
import Testing
import TestSupport

/// The SMTP findings of an attack on a running server, each made as it was made, each refused.
@Suite("SMTP attacks, second round", .serialized)
struct SMTPAttackTests {
    static let client = SMTPSecurityTests.rawClient + """
        import json, ssl, base64
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        def session(port=None):
            sock, f = connect(port or PORTS['smtp'])
            reply(f)
            command(sock, f, b'EHLO attacker.test\\r\\n')
            return sock, f
        def submission(user, password):
            s = smtplib.SMTP('127.0.0.1', PORTS['submission'])
            s.starttls(context=ctx)
            s.ehlo()
            s.login(user, password)
            return s

        """

    @Test("relay battery: members-only lists, public lists, aliases to *REMOTE and forwarding lists relay nothing for outsiders; a user's forwarding goes only where the user chose")
    func listsAndForwarding() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["list", "add", "team"])
            try await server.cli(["list", "member", "add", "team", "alice"])
            try await server.cli(["list", "member", "add", "team", "victim@elsewhere.test"])
            try await server.cli(["list", "add", "fwd", "--kind", "forwarding"])
            try await server.cli(["list", "member", "add", "fwd", "victim2@elsewhere.test"])
            try await server.cli(["list", "add", "announce", "--public"])
            try await server.cli(["list", "member", "add", "announce", "bob"])
            try await server.cli(["list", "member", "add", "announce", "friend@elsewhere.test"])
            try await server.cli(["user", "import", "-"], input: "User Id,Forward To,Use Forwarding\r\nbob,victim3@elsewhere.test,1\r\n")
            try await server.start()
            let result = try await server.python(Self.client + """
                out = {}
                sock, f = session()
                for address in ['team@example.com', 'fwd@example.com', 'TEAM@EXAMPLE.COM', 'announce@example.com',
                                'elsewhere@example.com', 'bob@example.com']:
                    command(sock, f, b'RSET\\r\\n')
                    command(sock, f, b'MAIL FROM:<spammer@elsewhere.test>\\r\\n')
                    out[address] = command(sock, f, b'RCPT TO:<' + address.encode() + b'>\\r\\n')
                    if out[address][0] == 250:
                        command(sock, f, b'DATA\\r\\n')
                        out[address + ' data'] = command(sock, f, b'Subject: hi\\r\\n\\r\\nspam\\r\\n.\\r\\n')
                command(sock, f, b'QUIT\\r\\n')
                s = submission('alice', 'alice-pass')
                out['alice team'] = s.sendmail('alice@example.com', ['team@example.com'], b'From: alice@example.com\\r\\nSubject: team\\r\\n\\r\\nhi\\r\\n')
                s.quit()
                s = submission('carol', 'carol-pass')
                out['carol team'] = s.sendmail('carol@example.com', ['team@example.com'], b'From: carol@example.com\\r\\nSubject: carol\\r\\n\\r\\nhi\\r\\n')
                s.quit()
                print(json.dumps(out))
                """).json
            #expect(replyCode(result["team@example.com"]) == 550, "\(result)")
            #expect(replyCode(result["TEAM@EXAMPLE.COM"]) == 550)
            #expect(replyCode(result["fwd@example.com"]) == 550)
            #expect(replyCode(result["announce@example.com"]) == 250)
            #expect(replyCode(result["elsewhere@example.com"]) == 250)
            #expect(replyCode(result["bob@example.com"]) == 250)

            // What was queued for other servers, recipient by recipient, with its envelope sender
            // (not the reports from <> on those that cannot be delivered from here).
            let queued = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(200), "the outgoing queue") {
                let rows = try await server.query("""
                    SELECT r.address, r.returnpath FROM outqueue.outrecipients r WHERE r.returnpath <> ''
                    ORDER BY r.address, r.returnpath
                    """)
                return rows.count >= 4 ? rows : nil
            }
            // bob's own forwarding takes his mail to the one address he chose (not one the sender
            // names), with an SRS sender of ours: that is forwarding, not relaying.
            let forwarded = queued.filter { $0.first == "victim3@elsewhere.test" }
            #expect(forwarded.count == 1 && forwarded[0].last?.hasPrefix("SRS0=") == true
                    && forwarded[0].last?.hasSuffix("=elsewhere.test=spammer@example.com") == true, "\(queued)")
            #expect(queued.filter { $0.first != "victim3@elsewhere.test" } == [
                ["elsewhere@example.com", "spammer@elsewhere.test"],
                ["friend@elsewhere.test", "announce@example.com"],
                ["victim@elsewhere.test", "team@example.com"],
            ], "\(queued)")
            // The outsider's address never leaves with a list member's copy, and a members-only
            // forwarding list relays nothing.
            let log = try await server.cli(["log", "dump", "--category", "message"])
            #expect(!log.contains("victim2@elsewhere.test"))
            // carol (local only) reached the list's local member, not its remote one.
            let alice = try await server.awaitInbox("alice", count: 2).map { String(decoding: $0, as: UTF8.self) }
            #expect(alice.contains { $0.contains("Subject: carol") })
        }
    }

    @Test("authenticated users send as their own addresses only, unless smtp.allow_any_sender names them")
    func sendAsAnyone() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start()
            let script = Self.client + """
                out = {}
                s = submission('alice', 'alice-pass')
                for sender in ['root@example.com', 'bob@example.com', 'root@vm', 'alice@example.com', 'sales@example.com', 'ALICE@EXAMPLE.COM']:
                    out['mail ' + sender] = list(s.mail(sender))[0]
                    s.rset()
                def send(frm, header):
                    try:
                        s.sendmail(frm, ['bob@example.com'], ('From: %s\\r\\nSubject: as\\r\\n\\r\\nhi\\r\\n' % header).encode())
                        return 250
                    except smtplib.SMTPDataError as e:
                        return e.smtp_code
                    except smtplib.SMTPSenderRefused as e:
                        return e.smtp_code
                out['header root'] = send('alice@example.com', 'Root <root@vm>')
                out['header bob'] = send('alice@example.com', 'alice@example.com, bob@example.com')
                out['header own'] = send('alice@example.com', '"Alice" <alice@example.com>')
                s.quit()
                print(json.dumps(out))
                """
            let before = try await server.python(script).json
            #expect(before["mail root@example.com"] as? Int == 553, "\(before)")
            #expect(before["mail bob@example.com"] as? Int == 553)
            #expect(before["mail root@vm"] as? Int == 553)
            #expect(before["mail alice@example.com"] as? Int == 250)
            #expect(before["mail sales@example.com"] as? Int == 250)
            #expect(before["mail ALICE@EXAMPLE.COM"] as? Int == 250)
            #expect(before["header root"] as? Int == 553)
            #expect(before["header bob"] as? Int == 553)
            #expect(before["header own"] as? Int == 250)

            try await server.cli(["settings", "set", "smtp.allow_any_sender", "[\"alice\"]"])
            let output = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(200), "the setting to apply") {
                let result = try await server.python(script)
                return try result.json["mail root@vm"] as? Int == 250 ? result.output : nil
            }
            let after = try MailServerHarness.PythonResult(status: 0, output: output, errors: "").json
            #expect(after["header root"] as? Int == 250)
        }
    }

    @Test("pipelining after a group-ending command, late connection slots, xtext, reply texts and IDS event folding")
    func protocolProbes() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "ips.never_block", "[\"127.0.0.1\"]"])
            try await server.cli(["settings", "set", "smtp.max_sessions_per_ip", "1"])
            try await server.start()
            let result = try await server.python(Self.client + """
                out = {}
                # smtpsmug's pipelining probe: message 2 pipelined behind the end of message 1.
                sock, f = session()
                command(sock, f, b'MAIL FROM:<a@remote.test>\\r\\n')
                command(sock, f, b'RCPT TO:<alice@example.com>\\r\\n')
                command(sock, f, b'DATA\\r\\n')
                out['smuggled'] = command(sock, f, b'Subject: one\\r\\n\\r\\none\\r\\n.\\r\\nMAIL FROM:<a@remote.test>\\r\\n' +
                                          b'RCPT TO:<bob@example.com>\\r\\nDATA\\r\\nSubject: two\\r\\n\\r\\ntwo\\r\\n.\\r\\n')
                out['smuggled_after'] = reply(f)
                sock.close()
                # A command pipelined behind EHLO, and a body behind DATA before its 354.
                sock, f = connect(PORTS['smtp'])
                reply(f)
                out['after_ehlo'] = [command(sock, f, b'EHLO a.test\\r\\nMAIL FROM:<a@remote.test>\\r\\n'), reply(f)]
                sock.close()
                sock, f = session()
                command(sock, f, b'MAIL FROM:<a@remote.test>\\r\\n')
                command(sock, f, b'RCPT TO:<alice@example.com>\\r\\n')
                out['before_354'] = command(sock, f, b'DATA\\r\\nSubject: early\\r\\n\\r\\nearly\\r\\n.\\r\\n')
                sock.close()
                # Pipelining where RFC 2920 allows it still works.
                sock, f = session()
                sock.sendall(b'MAIL FROM:<a@remote.test>\\r\\nRCPT TO:<alice@example.com>\\r\\nDATA\\r\\n')
                out['allowed'] = [reply(f), reply(f), reply(f)]
                out['allowed_data'] = command(sock, f, b'Subject: fine\\r\\n\\r\\nfine\\r\\n.\\r\\n')
                command(sock, f, b'QUIT\\r\\n')
                sock.close()

                # One session slot per address: 30 reconnects right after 221 are all greeted.
                greetings = []
                for n in range(30):
                    sock, f = connect(PORTS['smtp'])
                    greetings.append(reply(f)[0])
                    command(sock, f, b'QUIT\\r\\n')
                    sock.close()
                out['greetings'] = greetings

                sock, f = session()
                out['envid'] = command(sock, f, b'MAIL FROM:<a@remote.test> ENVID=x+0D+0ABcc:+20victim@elsewhere.test\\r\\n')
                out['auth_param'] = command(sock, f, b'MAIL FROM:<a@remote.test> AUTH=alice@example.com\\r\\n')
                out['orcpt'] = command(sock, f, b'RCPT TO:<alice@example.com> ORCPT=rfc822;x+0D+0AInjected:+20yes\\r\\n')
                out['quoted'] = command(sock, f, b'RCPT TO:<"alice"@example.com>\\r\\n')
                command(sock, f, b'DATA\\r\\n')
                out['quoted_data'] = command(sock, f, b'Subject: quoted\\r\\n\\r\\nq\\r\\n.\\r\\n')
                out['bad_sender'] = command(sock, f, b'MAIL FROM:<a..b@remote.test>\\r\\n')
                out['huge_size'] = command(sock, f, b'MAIL FROM:<a@remote.test> SIZE=9223372036854775807\\r\\n')
                out['binarymime'] = command(sock, f, b'MAIL FROM:<a@remote.test> BODY=BINARYMIME\\r\\n')
                # 2 000 recipients in one session, half of them unknown.
                command(sock, f, b'MAIL FROM:<many@remote.test>\\r\\n')
                codes = {}
                for batch in range(20):
                    lines = b''.join(b'RCPT TO:<%s@example.com>\\r\\n' % (b'alice' if (batch * 100 + n) % 2 else b'nobody%d' % n) for n in range(100))
                    sock.sendall(lines)
                    for n in range(100):
                        code = reply(f)[0]
                        codes[code] = codes.get(code, 0) + 1
                out['rcpt_codes'] = codes
                command(sock, f, b'QUIT\\r\\n')
                print(json.dumps(out))
                """).json
            let smuggled = try #require(result["smuggled"] as? [Any])
            #expect(replyCode(smuggled) == 554, "\(result)")
            #expect((smuggled.last as? String)?.contains("synchronization") == true)
            #expect(replyCode(result["smuggled_after"]) == 0, "the connection is closed")
            let afterEHLO = try #require(result["after_ehlo"] as? [Any])
            #expect(afterEHLO.map(replyCode) == [250, 554], "\(afterEHLO)")
            #expect(replyCode(result["before_354"]) == 554)
            let allowed = try #require(result["allowed"] as? [Any])
            #expect(allowed.map(replyCode) == [250, 250, 354])
            #expect(replyCode(result["allowed_data"]) == 250)
            #expect((result["greetings"] as? [Int]) == Array(repeating: 220, count: 30), "\(result["greetings"] ?? "")")
            #expect(replyCode(result["envid"]) == 501)
            #expect(replyCode(result["orcpt"]) == 501)
            #expect(replyCode(result["auth_param"]) == 250)
            #expect(replyCode(result["quoted"]) == 250)
            #expect(replyCode(result["quoted_data"]) == 250)
            let badSender = try #require(result["bad_sender"] as? [Any])
            #expect(replyCode(badSender) == 501)
            #expect((badSender.last as? String)?.contains("sender address") == true, "\(badSender)")
            let huge = try #require(result["huge_size"] as? [Any])
            #expect(replyCode(huge) == 552 && (huge.last as? String)?.contains("5.3.4") == true, "\(huge)")
            #expect(replyCode(result["binarymime"]) == 555)
            let codes = try #require(result["rcpt_codes"] as? [String: Int])
            // 500 accepted (the limit), the unknown ones refused until then, 452 for the rest.
            #expect(codes["250"] == 500 && codes["550"] == 500 && codes["452"] == 1_000, "\(codes)")

            // Nothing smuggled or pipelined too early was delivered; the AUTH= of an untrusted
            // client was not kept; and the 2 000 recipients wrote a handful of IDS events.
            let alice = try await server.awaitInbox("alice", count: 2).map { String(decoding: $0, as: UTF8.self) }
            #expect(!alice.contains { $0.contains("Subject: one") || $0.contains("Subject: early") })
            #expect(try await server.inbox("bob").isEmpty)
            let messages = try await server.cli(["log", "dump", "--category", "message"])
            #expect(!messages.contains("mailAuth"), "\(messages)")
            #expect(!messages.contains("Injected"))
            let ids = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(200), "the session's folded IDS events") {
                let lines = try await server.cli(["log", "dump", "--category", "ids"]).split(separator: "\n").map(String.init)
                return lines.contains { $0.contains("\"count\":500") } ? lines : nil
            }
            #expect(ids.count < 20, "\(ids.count) IDS events")
            // The unknown recipients: the first written at once, the other 499 folded into one event.
            #expect(ids.contains { $0.contains("\"kind\":3") && $0.contains("\"count\":499") }, "\(ids.joined(separator: "\n"))")
        }
    }

    @Test("settings that did nothing: unknown local recipients go out when asked; what is stored but not acted on is said at start")
    func inertSettings() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["user", "import", "-"], input: "User Id,Reply To\r\nbob,bob@elsewhere.test\r\n")
            try await server.cli(["settings", "set", "smtp.relay_networks", "[\"127.0.0.1\"]"])
            try await server.start()
            #expect(server.log.contains("users' reply-to addresses are stored but not applied to outgoing mail yet"), "\(server.log)")
            let send = Self.client + """
                try:
                    s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                    s.sendmail('script@example.com', ['nobody@example.com'], b'Subject: shared domain\\r\\n\\r\\nhello\\r\\n')
                    s.quit()
                    print(json.dumps({'code': 250}))
                except smtplib.SMTPRecipientsRefused as e:
                    print(json.dumps({'code': list(e.recipients.values())[0][0]}))
                """
            #expect(try await server.python(send).json["code"] as? Int == 550)
            try await server.cli(["settings", "set", "mail.unknown_local_recipients_outgoing", "true"])
            _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(200), "the setting to apply") {
                try await server.python(send).json["code"] as? Int == 250 ? true : nil
            }
            _ = try await server.awaitQueue { $0.contains("nobody@example.com") }
        }
    }
}
