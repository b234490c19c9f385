import Foundation
import Testing
import TestSupport

/// The attacks of ../shared/reference/security-lessons.md against the SMTP gateway, each
/// made with a real client and each refused.
@Suite("SMTP attacks", .serialized)
struct SMTPSecurityTests {
    static let rawClient = """
        import socket, smtplib
        def connect(port):
            sock = socket.create_connection(('127.0.0.1', port), timeout=20)
            return sock, sock.makefile('rb')
        def reply(f):
            lines = []
            while True:
                line = f.readline()
                if not line:
                    return [0, ' '.join(lines) or 'closed']
                lines.append(line.decode().rstrip('\\r\\n'))
                if len(line) < 4 or line[3:4] != b'-':
                    return [int(lines[-1][:3]), ' '.join(lines)]
        def command(sock, f, text):
            sock.sendall(text)
            return reply(f)

        """

    @Test("open-relay battery, smuggling, STARTTLS injection, early talkers, size, hops, long lines, SMTPUTF8")
    func attacks() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.greeting_pause_ms", "300"])
            try await server.cli(["settings", "set", "smtp.max_message_size", "4096"])
            try await server.cli(["settings", "set", "ips.never_block", "[\"127.0.0.1\"]"])
            try await server.start()
            let result = try await server.python(Self.rawClient + """
                out = {}
                # The open-relay battery, unauthenticated from an address with no relay rights.
                battery = ['user%elsewhere.test@example.com', 'elsewhere.test!user@example.com', '"user@elsewhere.test"@example.com',
                           '@example.com:user@elsewhere.test', '@example.com,@mx.example.com:user@elsewhere.test',
                           'user@example.com@elsewhere.test', 'user@elsewhere.test@example.com', 'user@elsewhere.test.',
                           'user@EXAMPLE.COM.', 'USER@ELSEWHERE.TEST', 'user@[192.0.2.1]', 'user@example.com.elsewhere.test',
                           'user%elsewhere.test', '"user@elsewhere.test"', 'user@elsewhere.test ', '"alice@example.com"@elsewhere.test',
                           'alice@example.com%elsewhere.test', 'elsewhere.test:user@example.com', '']
                sock, f = connect(PORTS['smtp'])
                reply(f)
                command(sock, f, b'EHLO relay.test\\r\\n')
                out['battery'] = {}
                for address in battery:
                    command(sock, f, b'RSET\\r\\n')
                    command(sock, f, b'MAIL FROM:<spammer@elsewhere.test>\\r\\n')
                    out['battery'][address] = command(sock, f, b'RCPT TO:<' + address.encode() + b'>\\r\\n')
                sock.close()

                # SMTP smuggling: each near-miss terminator, followed by a smuggled transaction.
                out['smuggling'] = {}
                for payload in [b'\\n.\\n', b'\\n.\\r\\n', b'\\r.\\r', b'\\r\\n.\\n', b'\\r\\r\\n.\\r\\r\\n']:
                    sock, f = connect(PORTS['smtp'])
                    reply(f)
                    command(sock, f, b'EHLO smuggler.test\\r\\n')
                    command(sock, f, b'MAIL FROM:<a@remote.test>\\r\\n')
                    command(sock, f, b'RCPT TO:<alice@example.com>\\r\\n')
                    command(sock, f, b'DATA\\r\\n')
                    first = command(sock, f, b'Subject: smuggle\\r\\n\\r\\nfirst' + payload +
                                    b'MAIL FROM:<evil@remote.test>\\r\\nRCPT TO:<bob@example.com>\\r\\nDATA\\r\\n' +
                                    b'Subject: smuggled\\r\\n\\r\\nsmuggled\\r\\n.\\r\\n')
                    after = reply(f)
                    out['smuggling'][repr(payload)] = [first, after]
                    sock.close()

                # A bare LF in a command line.
                sock, f = connect(PORTS['smtp'])
                reply(f)
                out['bare_lf_command'] = command(sock, f, b'EHLO lf.test\\n')
                sock.close()

                # STARTTLS with a command pipelined behind it in plain text.
                sock, f = connect(PORTS['smtp'])
                reply(f)
                command(sock, f, b'EHLO inject.test\\r\\n')
                out['starttls_injection'] = [command(sock, f, b'STARTTLS\\r\\nMAIL FROM:<evil@remote.test>\\r\\n'), reply(f)]
                sock.close()

                # Talking before the greeting.
                sock = socket.create_connection(('127.0.0.1', PORTS['smtp']), timeout=20)
                sock.sendall(b'EHLO early.test\\r\\n')
                f = sock.makefile('rb')
                out['early'] = reply(f)
                sock.close()

                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.ehlo()
                out['declared_too_big'] = s.mail('a@remote.test', ['SIZE=5000'])[0]
                s.rset()
                # Too big without a declared SIZE: read to the end, then refused.
                s.mail('a@remote.test')
                s.rcpt('alice@example.com')
                code, text = s.data(b'Subject: big\\r\\n\\r\\n' + (b'x' * 70 + b'\\r\\n') * 80)
                out['too_big'] = [code, text.decode()]
                s.rset()
                try:
                    s.sendmail('a@remote.test', ['alice@example.com'], b'Received: from a by b; x\\r\\n' * 60 + b'Subject: loop\\r\\n\\r\\nloop\\r\\n')
                    out['hops'] = 'accepted'
                except smtplib.SMTPDataError as e:
                    out['hops'] = [e.smtp_code, e.smtp_error.decode()]
                try:
                    s.sendmail('a@remote.test', ['alice@example.com'], b'Subject: long\\r\\n\\r\\n' + b'y' * 1200 + b'\\r\\n')
                    out['long_line'] = 'accepted'
                except smtplib.SMTPDataError as e:
                    out['long_line'] = [e.smtp_code, e.smtp_error.decode()]
                # RFC 6531: a UTF-8 address needs SMTPUTF8.
                s.send('MAIL FROM:<jörg@remote.test>\\r\\n'.encode())
                out['utf8_without'] = s.getreply()[0]
                s.rset()
                s.mail('jörg@remote.test', ['SMTPUTF8'])
                s.rcpt('alice@example.com')
                out['utf8_with'] = s.data(b'Subject: utf8\\r\\n\\r\\nHall\\xc3\\xb6\\r\\n')[0]
                out['vrfy'] = s.verify('alice')[0]
                out['unknown'] = s.docmd('FROB')[0]
                out['rcpt_first'] = s.docmd('RCPT TO:<alice@example.com>')[0]
                s.quit()
                print(json.dumps(out))
                """).json

            let battery = try #require(result["battery"] as? [String: [Any]])
            #expect(battery.count == 19)
            for (address, reply) in battery {
                let code = reply.first as? Int ?? 0
                #expect(code >= 500 && code < 600, "relay battery: <\(address)> got \(reply)")
            }
            #expect((battery["@example.com:user@elsewhere.test"]?.last as? String)?.contains("5.7.1 Relaying not allowed") == true)
            #expect((battery["user%elsewhere.test@example.com"]?.last as? String)?.contains("5.1.1") == true)

            let smuggling = try #require(result["smuggling"] as? [String: [[Any]]])
            #expect(smuggling.count == 5)
            for (payload, replies) in smuggling {
                let first = replies[0], after = replies[1]
                #expect(first.first as? Int == 500, "smuggling \(payload): \(first)")
                #expect((first.last as? String)?.contains("smuggling") == true, "smuggling \(payload): \(first)")
                #expect(after.first as? Int == 0, "smuggling \(payload): the connection stayed open: \(after)")
            }
            #expect(replyCode(result["bare_lf_command"]) == 500)
            let injection = try #require(result["starttls_injection"] as? [Any])
            #expect(replyCode(injection[0]) == 554 && replyCode(injection[1]) == 0, "\(injection)")
            #expect(replyCode(result["early"]) == 554)
            #expect(result["declared_too_big"] as? Int == 552)
            #expect(replyCode(result["too_big"]) == 552)
            #expect((result["hops"] as? [AnyHashable]) == [554, "5.4.6 Too many hops (mail loop?)"])
            #expect(replyCode(result["long_line"]) == 500)
            #expect(result["utf8_without"] as? Int == 553)
            #expect(result["utf8_with"] as? Int == 250)
            #expect(result["vrfy"] as? Int == 502)
            #expect(result["unknown"] as? Int == 500)
            #expect(result["rcpt_first"] as? Int == 503)

            // Nothing smuggled, too big, looping or too long was delivered; the UTF-8 one was.
            let alice = try await server.awaitInbox("alice", count: 1).map { String(decoding: $0, as: UTF8.self) }
            #expect(alice == ["Subject: utf8\r\n\r\nHall\u{f6}\r\n"])
            #expect(try await server.inbox("bob").isEmpty)
            let log = try await server.cli(["log", "dump"])
            #expect(log.split(separator: "\n").filter { $0.contains("\"type\":\"message_accepted\"") }.count == 1)
        }
    }

    @Test("connections per address are limited, and the IPS blocks a client that keeps trying to relay")
    func limitsAndBlocks() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.max_sessions_per_ip", "3"])
            try await server.start()
            let result = try await server.python(Self.rawClient + """
                import time
                out = {}
                held = []
                for _ in range(3):
                    sock, f = connect(PORTS['smtp'])
                    held.append((sock, f, reply(f)))
                out['held'] = [h[2][0] for h in held]
                sock, f = connect(PORTS['smtp'])
                out['fourth'] = reply(f)
                sock.close()
                for h in held:
                    h[0].sendall(b'QUIT\\r\\n')
                    reply(h[1])
                    h[0].close()
                # The slots come back as the server sees the sessions end.
                deadline = time.time() + 20
                while True:
                    sock, f = connect(PORTS['smtp'])
                    greeting = reply(f)
                    if greeting[0] == 220 or time.time() > deadline:
                        break
                    sock.close()
                out['after'] = greeting[0]
                command(sock, f, b'EHLO relay.test\\r\\n')
                out['relay'] = []
                for n in range(10):
                    command(sock, f, b'RSET\\r\\n')
                    command(sock, f, b'MAIL FROM:<spammer@elsewhere.test>\\r\\n')
                    out['relay'].append(command(sock, f, b'RCPT TO:<victim%d@elsewhere.test>\\r\\n' % n)[0])
                command(sock, f, b'QUIT\\r\\n')
                f.close()
                sock.close()
                sock, f = connect(PORTS['smtp'])
                out['blocked'] = reply(f)
                print(json.dumps(out))
                """).json
            #expect(result["held"] as? [Int] == [220, 220, 220])
            #expect((result["fourth"] as? [AnyHashable]) == [421, "421 4.3.2 Too many connections from your IP address - try later"])
            #expect(result["after"] as? Int == 220)
            #expect(result["relay"] as? [Int] == Array(repeating: 550, count: 10))
            #expect((result["blocked"] as? [AnyHashable]) == [421, "421 4.7.0 Your connection has been blocked temporarily - Try again later"])
            // The ten refusals are folded into the session's events, each carrying how many it
            // stands for; the session's own are written when the server has seen it end.
            let log = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(200), "the session's IDS events") {
                let log = try await server.cli(["log", "dump"])
                let refusals = log.split(separator: "\n").filter { $0.contains("\"kind\":1,") }.map { line -> Int in
                    guard let match = line.firstMatch(of: /"count":(\d+)/) else { return 1 }
                    return Int(match.1) ?? 1
                }
                return refusals.reduce(0, +) == 10 ? log : nil
            }
            #expect(log.contains("\"type\":\"client_blocked\"") && log.contains("IPS score 1000 within 60 minutes"))
        }
    }
}
