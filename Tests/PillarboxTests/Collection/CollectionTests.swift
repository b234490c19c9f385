import Foundation
import TestSupport
import Testing

/// Mail collection from an ISP mailbox, with a private Dovecot playing the ISP.
@Suite("Collection from ISP mailboxes")
struct CollectionTests {
    static func message(_ n: Int, to: String = "office@isp.example", extra: String = "") -> String {
        "From: sender\(n)@remote.example\r\nTo: \(to)\r\n\(extra)Subject: collected \(n)\r\nMessage-ID: <c\(n)@remote.example>\r\n\r\nbody \(n)\r\n"
    }

    /// The last run's result of `collector`, once a run newer than `after` has ended.
    static func run(_ server: MailServerHarness, _ collector: String, after count: Int) async throws -> String {
        try await eventually(within: .seconds(60), "collector \(collector)'s run") { () -> String? in
            let rows = try await server.query("""
                SELECT (SELECT count(*) FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                        WHERE s.stream_key = 'collector-\(collector)' AND e.type = 'collector_run_ended')::text,
                       coalesce((SELECT lastresult FROM collection.runs WHERE collector = '\(collector)'), '')
                """)
            guard let row = rows.first, let runs = Int(row[0]), runs > count else { return nil }
            return row[1]
        }
    }

    static func subjects(_ messages: [[UInt8]]) -> [String] {
        messages.compactMap { message in
            String(decoding: message, as: UTF8.self).split(separator: "\r\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) }
        }.sorted()
    }

    @Test("STLS with USER/PASS: every message once into the user's mailbox, deleted from the server after the commit; the next run takes nothing")
    func stlsDeleteAfterDownload() async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"])
        for n in 1...3 { try isp.deliver(Self.message(n), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "stls", "--trusted-certificates", isp.certificate, "--all-to", "alice",
                                  "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now", "isp"])
            let result1 = try await Self.run(server, "isp", after: 0)
            #expect(result1 == "ok: 3 collected, 3 deleted", "\(result1)")
            let inbox = try await eventually(within: .seconds(30), "three messages in alice's INBOX") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count == 3 ? messages : nil
            }
            #expect(Self.subjects(inbox) == ["collected 1", "collected 2", "collected 3"])
            #expect(isp.count("office") == 0)
            // The password never shows.
            let listed = try await server.cli(["collector", "list"])
            #expect(listed.contains("(sealed)") && !listed.contains("isp-pass"))

            // STLS if available: Dovecot offers it, so the session is encrypted.
            try await server.cli(["collector", "set", "isp", "--encryption", "stls-if-available"])
            try isp.deliver(Self.message(4), to: "office")
            try await server.cli(["collect", "now"])
            let result2 = try await Self.run(server, "isp", after: 1)
            #expect(result2 == "ok: 1 collected, 1 deleted", "\(result2)")
            _ = try await eventually(within: .seconds(30), "the fourth in alice's INBOX") {
                try await server.inbox("alice").count == 4 ? true : nil
            }
            try await server.cli(["verify"])
        }
    }

    @Test("POP3S with APOP, CRAM-MD5 and SASL PLAIN; left on the server, the UIDLs remembered across a restart; redownload fetches again")
    func leaveOnServer() async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"])
        for n in 1...2 { try isp.deliver(Self.message(n), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.sslPort)", "--user", "office", "--password-stdin",
                                  "--encryption", "ssl", "--trusted-certificates", isp.certificate, "--auth", "apop", "--all-to", "bob",
                                  "--leave-days", "7", "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now", "isp"])
            let result3 = try await Self.run(server, "isp", after: 0)
            #expect(result3 == "ok: 2 collected, 0 deleted", "\(result3)")
            #expect(isp.count("office") == 2)

            // After a restart the same messages are not taken again; a new one is, by each way
            // of logging in.
            await server.stop()
            try await server.start()
            var runs = 1
            for (n, method) in [(3, "cram-md5"), (4, "sasl-plain"), (5, "plain")] {
                try await server.cli(["collector", "set", "isp", "--auth", method])
                try isp.deliver(Self.message(n), to: "office")
                try await server.cli(["collect", "now", "isp"])
                let result4 = try await Self.run(server, "isp", after: runs)
                #expect(result4 == "ok: 1 collected, 0 deleted", "\(result4)")
                runs += 1
            }
            _ = try await eventually(within: .seconds(30), "five messages in bob's INBOX") {
                try await server.inbox("bob").count == 5 ? true : nil
            }
            #expect(isp.count("office") == 5)

            let forgotten = try await server.cli(["collect", "redownload", "isp"])
            #expect(forgotten.contains("5 messages"), "\(forgotten)")
            try await server.cli(["collect", "now", "isp"])
            let result5 = try await Self.run(server, "isp", after: runs)
            #expect(result5 == "ok: 5 collected, 0 deleted", "\(result5)")
            _ = try await eventually(within: .seconds(30), "ten messages in bob's INBOX") {
                try await server.inbox("bob").count == 10 ? true : nil
            }
            try await server.cli(["verify"])
        }
    }

    @Test("routing by header fields: accepted domains, a special field with its pattern, user mappings; nobody recognised goes to the administrator")
    func headerRouting() async throws {
        let isp = try await TestDovecot(users: ["catchall": "isp-pass"])
        try isp.deliver(Self.message(1, to: "alice@isp.example"), to: "catchall")
        try isp.deliver(Self.message(2, to: "someone@elsewhere.example", extra: "X-Envelope: for bob@isp.example via isp\r\n"), to: "catchall")
        try isp.deliver(Self.message(3, to: "Team <alice@isp.example>, carol@isp.example"), to: "catchall")
        try isp.deliver(Self.message(4, to: "nobody@isp.example"), to: "catchall")
        try isp.deliver(Self.message(5, to: "bob@other.example"), to: "catchall")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "catch", "--server", "127.0.0.1:\(isp.port)", "--user", "catchall", "--password-stdin",
                                  "--encryption", "none", "--accepted-domain", "isp.example", "--special-header", "X-Envelope: for * ~",
                                  "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now"])
            let result6 = try await Self.run(server, "catch", after: 0)
            #expect(result6 == "ok: 5 collected, 5 deleted", "\(result6)")
            let alice = try await eventually(within: .seconds(30), "alice's two") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count == 2 ? messages : nil
            }
            #expect(Self.subjects(alice) == ["collected 1", "collected 3"])
            #expect(Self.subjects(try await server.inbox("bob")) == ["collected 2"])
            #expect(Self.subjects(try await server.inbox("carol")) == ["collected 3"])
            // Neither nobody@ nor an address of another domain is ours: the administrator gets them.
            _ = try await eventually(within: .seconds(30), "postmaster's two") {
                Self.subjects(try await server.inbox("postmaster")) == ["collected 4", "collected 5"] ? true : nil
            }
        }
    }

    @Test("a server without STLS gets no password when STLS is required; a wrong password is the run's result; oversize left on the server")
    func refusals() async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"])
        try isp.deliver(Self.message(1), to: "office")
        try isp.deliver(Self.message(2, extra: "X-Padding: " + String(repeating: "x", count: 4_000) + "\r\n"), to: "office")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "stls", "--verify-certificate", "true", "--all-to", "alice", "--poll-minutes", "0"],
                                 input: "wrong-pass\n")
            try await server.start()
            // The certificate is not trusted: the TLS failure is the result, nothing is sent.
            try await server.cli(["collect", "now", "isp"])
            let untrusted = try await Self.run(server, "isp", after: 0)
            #expect(untrusted.contains("TLS"), "\(untrusted)")
            try await server.cli(["collector", "set", "isp", "--trusted-certificates", isp.certificate])
            try await server.cli(["collect", "now", "isp"])
            let refused = try await Self.run(server, "isp", after: 1)
            #expect(refused.hasPrefix("PASS") || refused.hasPrefix("USER"), "\(refused)")
            try await server.cli(["collector", "set", "isp", "--password-stdin", "--max-size-kib", "2"], input: "isp-pass\n")
            try await server.cli(["collect", "now", "isp"])
            let result7 = try await Self.run(server, "isp", after: 2)
            #expect(result7 == "ok: 1 collected, 1 deleted", "\(result7)")
            #expect(isp.count("office") == 1)
            #expect(try await server.query("SELECT count(*)::text FROM collection.left WHERE collector = 'isp'") == [["1"]])
            // Taken again next time only once the limit allows it (and redownload forgets it).
            try await server.cli(["collector", "set", "isp", "--max-size-kib", "0"])
            try await server.cli(["collect", "redownload", "isp"])
            try await server.cli(["collect", "now", "isp"])
            let result8 = try await Self.run(server, "isp", after: 3)
            #expect(result8 == "ok: 1 collected, 1 deleted", "\(result8)")
            #expect(isp.count("office") == 0)
        }
    }

    @Test("routing errors: the error message with the original attached, a bounce to the sender but never to automatic mail; download rules delete and skip")
    func routingErrorsAndRules() async throws {
        let isp = try await TestDovecot(users: ["catchall": "isp-pass"])
        try isp.deliver("Return-Path: <bob@example.com>\r\n" + Self.message(1, to: "nobody@isp.example"), to: "catchall")
        try isp.deliver("Return-Path: <bob@example.com>\r\n" + Self.message(2, to: "nobody@isp.example", extra: "Auto-Submitted: auto-replied\r\n"),
                        to: "catchall")
        try isp.deliver(Self.message(3, to: "alice@isp.example", extra: "X-Spam: win the LOTTERY now\r\n"), to: "catchall")
        try isp.deliver(Self.message(4, to: "alice@isp.example", extra: "X-Padding: " + String(repeating: "x", count: 4_000) + "\r\n"),
                        to: "catchall")
        try isp.deliver(Self.message(5, to: "carol@isp.example"), to: "catchall")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "catch", "--server", "127.0.0.1:\(isp.port)", "--user", "catchall", "--password-stdin",
                                  "--encryption", "none", "--accepted-domain", "isp.example", "--on-error", "error-to-administrator",
                                  "--bounce-to-sender", "true", "--rule", "delete X-Spam:*lottery*", "--rule", "skip >3",
                                  "--poll-minutes", "0"], input: "isp-pass\n")
            let listed = try await server.cli(["collector", "list", "--json"])
            #expect(listed.contains("bounce to sender"), "\(listed)")
            try await server.start()
            try await server.cli(["collect", "now"])
            let result = try await Self.run(server, "catch", after: 0)
            #expect(result == "ok: 3 collected, 3 deleted, 1 deleted by rule", "\(result)")
            // The skipped one stays; the one deleted by rule is gone without being taken.
            #expect(isp.count("catchall") == 1)
            #expect(try await server.query("SELECT reason FROM collection.left WHERE collector = 'catch'") == [["download rule: skip if larger than 3 KiB"]])
            // The local delivery agent files collected mail from the log after the run commits.
            #expect(Self.subjects(try await server.awaitInbox("carol", count: 1)) == ["collected 5"])
            #expect(try await server.inbox("alice").isEmpty)
            // Two error messages for the administrator, each with its original attached.
            let errors = try await eventually(within: .seconds(30), "the administrator's error messages") { () -> [String]? in
                let messages = try await server.inbox("postmaster").map { String(decoding: $0, as: UTF8.self) }
                return messages.count == 2 ? messages : nil
            }
            for n in [1, 2] {
                #expect(errors.contains { $0.contains("Subject: Collected message with no recognised recipient")
                    && $0.contains("Content-Type: message/rfc822") && $0.contains("Subject: collected \(n)") }, "\(errors)")
            }
            // One bounce to the sender, for the message that was not automatic.
            let bounce = try await eventually(within: .seconds(30), "the bounce in bob's INBOX") { () -> String? in
                let messages = try await server.inbox("bob").map { String(decoding: $0, as: UTF8.self) }
                return messages.count == 1 ? messages[0] : nil
            }
            #expect(bounce.contains("MAILER-DAEMON") && bounce.contains("Status: 5.1.1") && bounce.contains("Subject: collected 1"), "\(bounce)")
            #expect(!bounce.contains("Subject: collected 2"))
            // The run is a LogDB session of type P, its messages' recipients of type F.
            _ = try await eventually(within: .seconds(30), "the run in LogDB") {
                try await server.query("""
                    SELECT count(*)::text FROM logdb.sessions s JOIN logdb.messages m USING (sessid)
                    JOIN logdb.recipients r USING (msgid) WHERE s.sesstype = 'P' AND r.rcpttype = 'F' AND r.name = 'carol@isp.example'
                    """) == [["1"]] ? true : nil
            }
            try await server.cli(["verify"])
        }
    }

    @Test("a message over the size limit: its recipient gets a notice, a reply to it fetches the message at the next run")
    func oversizeNoticeAndFetchOnReply() async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"])
        try isp.deliver(Self.message(1, extra: "X-Padding: " + String(repeating: "y", count: 6_000) + "\r\n"), to: "office")
        try isp.deliver(Self.message(2), to: "office")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            // Loopback only: no SPF, DKIM or DMARC lookups in the system's DNS.
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "none", "--all-to", "alice", "--max-size-kib", "3", "--poll-minutes", "0"],
                                 input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now"])
            let result = try await Self.run(server, "isp", after: 0)
            #expect(result == "ok: 1 collected, 1 deleted", "\(result)")
            #expect(isp.count("office") == 1)
            let notice = try await eventually(within: .seconds(30), "the notice in alice's INBOX") { () -> String? in
                try await server.inbox("alice").map { String(decoding: $0, as: UTF8.self) }.first { $0.contains("Large message waiting") }
            }
            #expect(notice.contains("Subject: Large message waiting: collected 1") && notice.contains("sender1@remote.example"), "\(notice)")
            let from = try #require(notice.split(separator: "\r\n").first { $0.hasPrefix("From: ") })
            let reply = try #require(from.split(separator: "<").last?.split(separator: ">").first.map(String.init))
            #expect(reply.hasPrefix("collector-fetch+") && reply.hasSuffix("@example.com"), "\(reply)")
            // A second run leaves it alone: no second notice.
            try await server.cli(["collect", "now"])
            #expect(try await Self.run(server, "isp", after: 1) == "ok: 0 collected, 0 deleted")

            // alice replies, from her mail client.
            _ = try await server.python("""
                import smtplib, ssl
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                s = smtplib.SMTP('127.0.0.1', PORTS['submission'], timeout=30)
                s.starttls(context=ctx)
                s.login('alice', 'alice-pass')
                s.sendmail('alice@example.com', [sys.argv[1]], b'From: alice@example.com\\r\\nSubject: Re: Large message waiting\\r\\n\\r\\nyes please\\r\\n')
                s.quit()
                """, [reply])
            _ = try await eventually(within: .seconds(30), "the fetch request") {
                try await server.query("SELECT fetch_requested::text FROM collection.left WHERE collector = 'isp'") == [["true"]] ? true : nil
            }
            try await server.cli(["collect", "now"])
            #expect(try await Self.run(server, "isp", after: 2) == "ok: 1 collected, 1 deleted")
            _ = try await eventually(within: .seconds(30), "the large message in alice's INBOX") {
                Self.subjects(try await server.inbox("alice")).contains("collected 1") ? true : nil
            }
            #expect(isp.count("office") == 0)
            // A reply with a token nobody was given is taken and dropped.
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                s.sendmail('x@remote.example', ['collector-fetch+00000000000000000000000000000000@example.com'], b'Subject: x\\r\\n\\r\\nx\\r\\n')
                s.quit()
                """)
            try await server.cli(["verify"])
        }
    }
}

/// The exactly-once guarantee under crashes.
@Suite("Collection: exactly once across crashes")
struct CollectionCrashTests {
    /// 300 messages; the server SIGKILLed five times while it collects, at different points;
    /// then a run to the end. Every message is in alice's INBOX once (by body), and the ISP
    /// mailbox holds what it should: nothing with `leave` 0, everything with days to keep.
    @Test("SIGKILL five times during a collection of 300 messages: each arrives once", arguments: [0, 7])
    func killed(leaveDays: Int) async throws {
        let isp = try await TestDovecot(users: ["office": "isp-pass"])
        for n in 1...300 { try isp.deliver(CollectionTests.message(n) + String(repeating: "line \(n)\r\n", count: n % 40), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "none", "--all-to", "alice", "--leave-days", "\(leaveDays)", "--poll-minutes", "0"],
                                 input: "isp-pass\n")
            let collected = { @Sendable () async throws -> Int in
                Int(try await server.query("SELECT count(*)::text FROM collection.uidls WHERE collector = 'isp'").first?.first ?? "0") ?? 0
            }
            for round in 1...5 {
                try await server.start()
                try await server.cli(["collect", "now", "isp"])
                // A different moment each time: after a few more messages are recorded.
                let before = try await collected()
                let target = min(299, before + 5 + round * 7)
                _ = try await eventually(within: .seconds(120), "\(target) messages recorded before kill \(round)") {
                    try await collected() >= target ? true : nil
                }
                try await server.kill()
            }
            try await server.start()
            try await server.cli(["collect", "now", "isp"])
            _ = try await eventually(within: .seconds(180), "all 300 recorded") { try await collected() == 300 ? true : nil }
            let inbox = try await eventually(within: .seconds(120), "300 messages in alice's INBOX") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count >= 300 ? messages : nil
            }
            #expect(inbox.count == 300)
            #expect(Set(CollectionTests.subjects(inbox)).count == 300)
            if leaveDays == 0 {
                // The last run's deletions, and those of runs killed after their commits.
                _ = try await eventually(within: .seconds(60), "the ISP mailbox emptied") { isp.count("office") == 0 ? true : nil }
            } else {
                #expect(isp.count("office") == 300)
            }
            try await server.cli(["verify"])
        }
    }
}

/// ISPs that misbehave, played by a small Python POP3 server whose trouble is chosen by the
/// user name the collector logs in with.
@Suite("Collection: misbehaving ISPs")
struct CollectionHostileTests {
    static let isp = #"""
import socket, threading, sys
messages = {1: ('u-one', b'Subject: one\r\n\r\nfirst\r\n'), 2: ('u-two', b'Subject: two\r\n\r\nsecond\r\n' + b'x' * 3000 + b'\r\n'),
            3: ('u-three', b'Subject: three\r\n\r\nthird\r\n'),
            4: ('u-four', b'Subject: four\r\n\r\n' + (b'z' * 70 + b'\r\n') * 1500)}
deleted = set()
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen(16)
print(json.dumps({'port': listener.getsockname()[1]}), flush=True)
def serve(connection):
    reader = connection.makefile('rb')
    send = lambda text: connection.sendall(text if isinstance(text, bytes) else text.encode())
    mode = 'normal'
    if True:
        send('+OK fake ISP ready\r\n')
    marked = set()
    while True:
        line = reader.readline()
        if not line:
            return
        words = line.decode(errors='replace').strip().split(' ')
        command = words[0].upper()
        if command == 'USER':
            mode = words[1]
            send('+OK\r\n')
        elif command == 'PASS':
            send('+OK logged in\r\n')
        elif command == 'UIDL':
            send('+OK\r\n')
            if mode == 'malformed':
                send('1 u-one\r\nnot a listing line\r\n.\r\n')
                continue
            for number, (uid, body) in messages.items():
                if number in deleted or (number == 4 and mode != 'liar'): continue
                send('%d %s\r\n' % (number, 'u-same' if mode == 'dupes' and number < 3 else uid))
            send('.\r\n')
        elif command == 'LIST':
            send('+OK\r\n')
            for number, (uid, body) in messages.items():
                if number in deleted or (number == 4 and mode != 'liar'): continue
                send('%d %d\r\n' % (number, 10 if number == 4 else len(body)))
            send('.\r\n')
        elif command == 'RETR':
            number = int(words[1])
            body = messages[number][1]
            if mode == 'drop' and number == 2:
                send('+OK\r\n' + body[:20].decode())
                connection.close()
                return
            if mode == 'endless' and number == 2:
                send('+OK\r\n')
                try:
                    for _ in range(64):
                        send(b'y' * 65536)
                except OSError:
                    pass
                connection.close()
                return
            send(b'+OK\r\n' + body + b'.\r\n')
        elif command == 'DELE':
            marked.add(int(words[1]))
            send('+OK\r\n')
        elif command == 'QUIT':
            deleted.update(marked)
            send('+OK bye\r\n')
            connection.close()
            return
        else:
            send('-ERR unknown\r\n')
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"""#

    @Test("a connection dropped mid-RETR, a malformed listing, an endless line, duplicate UIDLs: a clear result, nothing lost or doubled")
    func misbehaving() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (peer, port) = try await server.startPeer(Self.isp)
            defer { peer.signal(SIGKILL) }
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(port)", "--user", "drop", "--password-stdin",
                                  "--encryption", "none", "--all-to", "alice", "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            var runs = 0
            func collect(as user: String) async throws -> String {
                try await server.cli(["collector", "set", "isp", "--user", user])
                try await server.cli(["collect", "now", "isp"])
                defer { runs += 1 }
                return try await CollectionTests.run(server, "isp", after: runs)
            }
            // Dropped in the middle of message 2: message 1 is kept, nothing is deleted (no QUIT).
            let dropped = try await collect(as: "drop")
            #expect(dropped.contains("closed the connection"), "\(dropped)")
            let malformed = try await collect(as: "malformed")
            #expect(malformed.contains("listing is malformed"), "\(malformed)")
            let endless = try await collect(as: "endless")
            #expect(endless.contains("longer than allowed") || endless.contains("larger than allowed"), "\(endless)")
            // Two messages under one UIDL are left alone; the third is taken and deleted.
            let dupes = try await collect(as: "dupes")
            #expect(dupes == "ok: 1 collected, 1 deleted", "\(dupes)")
            // A well-behaved run takes what is left (message 2), deletes it and message 1,
            // whose copy the dropped run committed.
            let normal = try await collect(as: "normal")
            #expect(normal == "ok: 1 collected, 2 deleted", "\(normal)")
            let inbox = try await eventually(within: .seconds(30), "three messages in alice's INBOX") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count >= 3 ? messages : nil
            }
            #expect(CollectionTests.subjects(inbox) == ["one", "three", "two"], "\(CollectionTests.subjects(inbox))")
            #expect(server.log.contains("the server lists a UIDL for more than one message"))
            // A message far larger than LIST said: the run ends, the message is left and
            // recorded, and the next run goes past it.
            let liar = try await collect(as: "liar")
            #expect(liar.contains("larger than allowed"), "\(liar)")
            let after = try await collect(as: "liar")
            #expect(after == "ok: 0 collected, 0 deleted", "\(after)")
            #expect(try await server.query("SELECT uidl, reason FROM collection.left WHERE collector = 'isp'")
                    == [["u-four", "larger than the size the server listed"]])
            // A server without STLS: required, the password is not sent; if available, the
            // session goes on in the clear.
            try await server.cli(["collector", "set", "isp", "--encryption", "stls"])
            let required = try await collect(as: "normal")
            #expect(required.contains("does not offer STLS") && required.contains("the password was not sent"), "\(required)")
            try await server.cli(["collector", "set", "isp", "--encryption", "stls-if-available"])
            let available = try await collect(as: "normal")
            #expect(available == "ok: 0 collected, 0 deleted", "\(available)")
        }
    }
}
