import Foundation
import TestSupport
import Testing

/// IMAP collectors, with a private Dovecot playing the ISP.
@Suite("Collection from ISP IMAP folders")
struct IMAPCollectionTests {
    /// Maildir files of `user` flagged seen (Dovecot moves them to cur/ with `S` in their info).
    static func seen(_ isp: TestDovecot, _ user: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(isp.directory)/home/\(user)/Maildir/cur")) ?? [])
            .filter { name in name.split(separator: ":2,").last.map { $0.contains("S") } ?? false }.count
    }

    @Test("STARTTLS with LOGIN, flagged seen: each message once, left on the server flagged \\Seen; a new one taken next run; rules apply")
    func startTLSMarkSeen() async throws {
        let isp = try await TestDovecot(users: ["office": "isp \"pass\\"], imap: true)
        for n in 1...3 { try isp.deliver(CollectionTests.message(n), to: "office") }
        try isp.deliver(CollectionTests.message(4, extra: "X-Spam-Flag: YES\r\n"), to: "office")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "imap", "--protocol", "imap", "--server", "127.0.0.1:\(isp.imapPort)",
                                  "--user", "office", "--password-stdin", "--encryption", "stls", "--trusted-certificates", isp.certificate,
                                  "--after-download", "seen", "--rule", "delete X-Spam-Flag:yes", "--all-to", "alice", "--poll-minutes", "0"],
                                 input: "isp \"pass\\\n")
            try await server.start()
            try await server.cli(["collect", "now", "imap"])
            let first = try await CollectionTests.run(server, "imap", after: 0)
            #expect(first == "ok: 3 collected, 0 deleted, 1 deleted by rule", "\(first)")
            let inbox = try await server.awaitInbox("alice", count: 3)
            #expect(CollectionTests.subjects(inbox) == ["collected 1", "collected 2", "collected 3"])
            #expect(isp.count("office") == 3)
            #expect(Self.seen(isp, "office") == 3)
            // Identities are UIDVALIDITY.UID.
            let uids = try await server.query("SELECT uidl FROM collection.uidls WHERE collector = 'imap' ORDER BY uidl").map { $0[0] }
            #expect(uids.count == 3 && uids.allSatisfy { $0.split(separator: ".").count == 2 }, "\(uids)")
            let tls = try await eventually(within: .seconds(30), "the run's session in LogDB") { () -> String? in
                try await server.query("SELECT tls FROM logdb.sessions WHERE sesstype = 'P'").first?.first
            }
            #expect(tls.hasPrefix("TLS"), "\(tls)")

            try isp.deliver(CollectionTests.message(5), to: "office")
            try await server.cli(["collect", "now", "imap"])
            let second = try await CollectionTests.run(server, "imap", after: 1)
            #expect(second == "ok: 1 collected, 0 deleted", "\(second)")
            _ = try await server.awaitInbox("alice", count: 4)
            try await server.cli(["verify"])
        }
    }

    @Test("IMAPS with AUTHENTICATE PLAIN and CRAM-MD5, deleted after download; a folder other than INBOX; a missing folder is the run's result")
    func imapsDelete() async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"], imap: true)
        for n in 1...2 { try isp.deliver(CollectionTests.message(n), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "imaps", "--protocol", "imap", "--server", "127.0.0.1:\(isp.imapsPort)",
                                  "--user", "office", "--password-stdin", "--encryption", "ssl", "--trusted-certificates", isp.certificate,
                                  "--auth", "sasl-plain", "--all-to", "bob", "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now", "imaps"])
            let first = try await CollectionTests.run(server, "imaps", after: 0)
            #expect(first == "ok: 2 collected, 2 deleted", "\(first)")
            _ = try await server.awaitInbox("bob", count: 2)
            #expect(isp.count("office") == 0)

            try await server.cli(["collector", "set", "imaps", "--auth", "cram-md5"])
            try isp.deliver(CollectionTests.message(3), to: "office")
            try await server.cli(["collect", "now", "imaps"])
            let second = try await CollectionTests.run(server, "imaps", after: 1)
            #expect(second == "ok: 1 collected, 1 deleted", "\(second)")
            _ = try await server.awaitInbox("bob", count: 3)

            try await server.cli(["collector", "set", "imaps", "--folder", "Archive"])
            try await server.cli(["collect", "now", "imaps"])
            let missing = try await CollectionTests.run(server, "imaps", after: 2)
            #expect(missing.hasPrefix("SELECT Archive: NO"), "\(missing)")
        }
    }

    @Test("IDLE: with the connection always online, new mail on the server is collected without being asked for")
    func idle() async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"], imap: true)
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "push", "--protocol", "imap", "--server", "127.0.0.1:\(isp.imapsPort)",
                                  "--user", "office", "--password-stdin", "--encryption", "ssl", "--trusted-certificates", isp.certificate,
                                  "--idle", "true", "--all-to", "carol", "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            let process = try #require(server.process)
            try await process.waitForLog("waiting for new mail in IDLE")
            try isp.deliver(CollectionTests.message(1), to: "office")
            let inbox = try await server.awaitInbox("carol", count: 1, within: .seconds(90))
            #expect(CollectionTests.subjects(inbox) == ["collected 1"])
            let trigger = try await server.query("SELECT trigger FROM collection.runs WHERE collector = 'push'")
            #expect(trigger == [["requested by idle: new mail"]], "\(trigger)")
            _ = try await eventually(within: .seconds(30), "the message deleted from the server") { isp.count("office") == 0 ? true : nil }
        }
    }

    /// An IMAP server misbehaving by the login name: `drop` closes in the middle of a message's
    /// literal, `huge` announces a literal far larger than the size it listed, `garbage`
    /// answers FETCH with a response that does not parse, `novalidity` gives no UIDVALIDITY;
    /// `normal` behaves.
    static let isp = #"""
import socket, threading, sys
messages = {1: b'Subject: one\r\n\r\nfirst\r\n', 2: b'Subject: two\r\n\r\nsecond\r\n'}
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen(16)
print(json.dumps({'port': listener.getsockname()[1]}), flush=True)
def serve(connection):
    reader = connection.makefile('rb')
    send = lambda text: connection.sendall(text if isinstance(text, bytes) else text.encode())
    send('* OK [CAPABILITY IMAP4rev1 UIDPLUS] fake ISP\r\n')
    mode = 'normal'
    while True:
        line = reader.readline()
        if not line:
            return
        words = line.decode(errors='replace').strip().split(' ')
        tag, command = words[0], ' '.join(words[1:3]).upper()
        if command.startswith('LOGIN'):
            mode = words[2].strip('"')
            send(tag + ' OK logged in\r\n')
        elif command.startswith('SELECT'):
            send('* %d EXISTS\r\n' % len(messages))
            if mode != 'novalidity':
                send('* OK [UIDVALIDITY 42] ok\r\n')
            send(tag + ' OK [READ-WRITE] selected\r\n')
        elif command == 'UID FETCH' and '1:*' in words[3]:
            for uid, body in messages.items():
                send('* %d FETCH (UID %d RFC822.SIZE %d FLAGS ())\r\n' % (uid, uid, len(body)))
            send(tag + ' OK done\r\n')
        elif command == 'UID FETCH':
            uid = int(words[3])
            body = messages[uid]
            if mode == 'drop' and uid == 2:
                send(b'* 2 FETCH (UID 2 BODY[] {%d}\r\n' % len(body) + body[:10])
                connection.close()
                return
            if mode == 'huge' and uid == 2:
                send(b'* 2 FETCH (UID 2 BODY[] {900000000}\r\n')
                try:
                    for _ in range(64):
                        send(b'y' * 65536)
                except OSError:
                    pass
                connection.close()
                return
            if mode == 'garbage' and uid == 2:
                send(b'* 2 FETCH (UID 2 BODY[] "unterminated\r\n')
                send(tag + ' OK done\r\n')
                continue
            send(b'* %d FETCH (UID %d BODY[] {%d}\r\n' % (uid, uid, len(body)) + body + b')\r\n')
            send(tag + ' OK done\r\n')
        elif command.startswith('UID STORE') or command.startswith('UID EXPUNGE') or command.startswith('LOGOUT'):
            send(tag + ' OK done\r\n')
            if command.startswith('LOGOUT'):
                connection.close()
                return
        else:
            send(tag + ' BAD unknown\r\n')
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"""#

    @Test("an IMAP server that drops mid-literal, announces a huge literal, sends garbage or no UIDVALIDITY: a clear result, nothing lost or doubled")
    func misbehaving() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (peer, port) = try await server.startPeer(Self.isp)
            defer { peer.signal(SIGKILL) }
            try await server.cli(["collector", "set", "isp", "--protocol", "imap", "--server", "127.0.0.1:\(port)", "--user", "drop",
                                  "--password-stdin", "--encryption", "none", "--after-download", "seen", "--all-to", "alice",
                                  "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            var runs = 0
            func collect(as user: String) async throws -> String {
                try await server.cli(["collector", "set", "isp", "--user", user])
                try await server.cli(["collect", "now", "isp"])
                defer { runs += 1 }
                return try await CollectionTests.run(server, "isp", after: runs)
            }
            let dropped = try await collect(as: "drop")
            #expect(dropped.contains("closed the connection"), "\(dropped)")
            let garbage = try await collect(as: "garbage")
            #expect(garbage.contains("does not parse"), "\(garbage)")
            let huge = try await collect(as: "huge")
            #expect(huge.contains("larger than allowed"), "\(huge)")
            let novalidity = try await collect(as: "novalidity")
            #expect(novalidity.contains("UIDVALIDITY"), "\(novalidity)")
            // The huge one was recorded as left; message 1 was taken once by the first run.
            let normal = try await collect(as: "normal")
            #expect(normal == "ok: 0 collected, 0 deleted", "\(normal)")
            #expect(try await server.query("SELECT uidl, reason FROM collection.left WHERE collector = 'isp'")
                    == [["42.2", "larger than the size the server listed"]])
            let inbox = try await server.awaitInbox("alice", count: 1)
            #expect(CollectionTests.subjects(inbox) == ["one"])
        }
    }

    @Test("a second Pillarbox as the ISP: collected over POP3 with STLS and over IMAPS with AUTHENTICATE PLAIN, each message once, the ISP's mailbox as it should be")
    func pillarboxAsISP() async throws {
        try await MailServerHarness.with { isp in
            try await isp.createStandardDirectory()
            try await isp.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await isp.start(pop3: true, imap: true)
            @Sendable func send(_ n: Int) async throws {
                _ = try await isp.python("""
                    import smtplib
                    s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                    s.sendmail('sender@remote.example', ['alice@example.com'], sys.argv[1].encode())
                    s.quit()
                    """, [CollectionTests.message(n, to: "alice@example.com")])
            }
            for n in 1...3 { try await send(n) }
            _ = try await isp.awaitInbox("alice", count: 3)
            try await MailServerHarness.with { server in
                try await server.createStandardDirectory()
                try await server.cli(["collector", "set", "pop", "--server", "127.0.0.1:\(isp.ports["pop3"]!)", "--user", "alice",
                                      "--password-stdin", "--encryption", "stls", "--verify-certificate", "false", "--all-to", "bob",
                                      "--poll-minutes", "0"], input: "alice-pass\n")
                try await server.start()
                try await server.cli(["collect", "now", "pop"])
                let pop = try await CollectionTests.run(server, "pop", after: 0)
                #expect(pop == "ok: 3 collected, 3 deleted", "\(pop)")
                let bob = try await server.awaitInbox("bob", count: 3)
                #expect(CollectionTests.subjects(bob) == ["collected 1", "collected 2", "collected 3"])
                _ = try await eventually(within: .seconds(30), "alice's mailbox at the ISP emptied") {
                    try await isp.inbox("alice").isEmpty ? true : nil
                }

                for n in 4...5 { try await send(n) }
                _ = try await isp.awaitInbox("alice", count: 2)
                try await server.cli(["collector", "set", "imap", "--protocol", "imap", "--server", "127.0.0.1:\(isp.ports["imaps"]!)",
                                      "--user", "alice", "--password-stdin", "--encryption", "ssl", "--verify-certificate", "false",
                                      "--auth", "sasl-plain", "--after-download", "seen", "--all-to", "carol", "--poll-minutes", "0"],
                                     input: "alice-pass\n")
                try await server.cli(["collect", "now", "imap"])
                let imap = try await CollectionTests.run(server, "imap", after: 0)
                #expect(imap == "ok: 2 collected, 0 deleted", "\(imap)")
                let carol = try await server.awaitInbox("carol", count: 2)
                #expect(CollectionTests.subjects(carol) == ["collected 4", "collected 5"])
                // Left at the ISP, flagged seen there.
                _ = try await eventually(within: .seconds(30), "both seen at the ISP") {
                    try await isp.query("""
                        SELECT count(*)::text FROM mail.messages m JOIN mail.mailboxes b USING (user_id, mailbox_id)
                        WHERE m.user_id = 'alice' AND b.name = 'INBOX' AND '\\Seen' = ANY (m.flags)
                        """) == [["2"]] ? true : nil
                }
                try await server.cli(["collect", "now", "imap"])
                #expect(try await CollectionTests.run(server, "imap", after: 1) == "ok: 0 collected, 0 deleted")
                try await server.cli(["verify"])
            }
            try await isp.cli(["verify"])
        }
    }
}
