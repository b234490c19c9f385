import Foundation
import TestSupport
import Testing

/// Autoresponders end to end, through SMTP with smtplib.
@Suite("Autoresponders")
struct AutoresponderTests {
    /// Sends each (from, to, extra header lines) as its own message over SMTP.
    static let send = """
        import smtplib
        s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
        for i, (sender, to, extra) in enumerate(json.loads(sys.argv[1])):
            body = 'From: %s\\r\\nTo: %s\\r\\n%sSubject: note %d\\r\\nMessage-ID: <note%d-%s@example.test>\\r\\n\\r\\nhello\\r\\n' % (
                sender or 'someone@remote.example', to, extra, i, i, sys.argv[2])
            s.sendmail(sender, [to], body.encode())
        s.quit()
        """

    static func send(_ server: MailServerHarness, _ messages: [(String, String, String)], tag: String) async throws {
        let list = messages.map { [$0.0, $0.1, $0.2] }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: list), as: UTF8.self)
        _ = try await server.python(send, [json, tag])
    }

    static func autoreplies(_ messages: [[UInt8]]) -> [String] {
        messages.map { String(decoding: $0, as: UTF8.self) }.filter { $0.contains("Auto-Submitted: auto-replied") }
    }

    @Test("once per sender per period; two users with autoresponders exchange one reply each; never to lists, bounces or automatic mail; the log and its clearing")
    func answering() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.cli(["autoresponder", "set", "bob", "away", "--text", "Hello {sender},\nI am away; about \"{subject}\".\n{user}",
                                  "--subject", "Away: {subject}", "--filter", "X-No-Reply:*"])
            try await server.cli(["autoresponder", "set", "alice", "holiday", "--text", "On holiday."])
            try await server.cli(["user", "add", "dave", "--password-stdin"], input: "dave-pass\n")
            try await server.start()

            // carol writes to bob twice: one answer. alice and bob write to each other: each gets
            // one answer, and the answers are not answered.
            try await Self.send(server, [("carol@example.com", "bob@example.com", ""), ("carol@example.com", "bob@example.com", ""),
                                         ("alice@example.com", "bob@example.com", ""), ("bob@example.com", "alice@example.com", "")],
                                tag: "a")
            let carol = try await server.awaitInbox("carol", count: 1)
            let reply = String(decoding: carol[0], as: UTF8.self)
            #expect(reply.contains("Subject: Away: note 0") && reply.contains("Hello carol@example.com,") && reply.contains("about \"note 0\""),
                    "\(reply)")
            #expect(reply.contains("In-Reply-To: <note0-a@example.test>") && reply.contains("From: <bob@example.com>"), "\(reply)")
            _ = try await server.awaitInbox("alice", count: 2)
            _ = try await server.awaitInbox("bob", count: 4)
            // Mail that must not be answered, then a marker that must be, so the agent has
            // passed over everything before it.
            try await Self.send(server, [
                ("", "bob@example.com", ""),
                ("news@remote.example", "bob@example.com", "Precedence: list\r\n"),
                ("news@remote.example", "bob@example.com", "List-Id: <news.remote.example>\r\n"),
                ("robot@remote.example", "bob@example.com", "Auto-Submitted: auto-generated\r\n"),
                ("owner-news@remote.example", "bob@example.com", ""),
                ("bob@example.com", "bob@example.com", ""),
                ("carol@example.com", "bob@example.com", "X-No-Reply: yes\r\n"),
                ("dave@example.com", "bob@example.com", ""),
            ], tag: "b")
            _ = try await server.awaitInbox("dave", count: 1)
            let passed = try await eventually(within: .seconds(30), "the passed-over records") { () -> Int? in
                let count = try await server.query("""
                    SELECT count(*)::text FROM eventlog.events WHERE type = 'autoresponder_passed_over'
                    """).first?.first.flatMap { Int($0) } ?? 0
                return count >= 10 ? count : nil
            }
            // carol's second message (within the period), the two answers alice and bob got,
            // and the seven above.
            #expect(passed == 10)
            #expect(Self.autoreplies(try await server.inbox("alice")).count == 1)
            #expect(Self.autoreplies(try await server.inbox("bob")).count == 1)
            #expect(Self.autoreplies(try await server.inbox("carol")).count == 1)
            let log = try await server.cli(["autoresponder", "log", "bob"])
            #expect(log.contains("carol@example.com") && log.contains("alice@example.com") && log.contains("dave@example.com"), "\(log)")
            // The log keeps the answered message's subject sealed with its body.
            let replied = try await server.cli(["log", "dump", "--stream", "autoresponder-bob"])
            let answer = try #require(replied.split(separator: "\n").first { $0.contains("autoresponder_replied") })
            #expect(answer.contains("\"subject\":{\"$sealed\":") && !answer.contains("note 0"), "\(answer)")

            // Cleared, carol is answered again.
            try await server.cli(["autoresponder", "log", "bob", "--clear"])
            try await Self.send(server, [("carol@example.com", "bob@example.com", "")], tag: "c")
            _ = try await server.awaitInbox("carol", count: 2)
            try await server.cli(["verify"])
        }
    }

    @Test("a text with unknown replacements, bad days, a missing user: refused with a clear message")
    func refusals() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            for (arguments, message) in [
                (["bob", "x", "--text", "Hi {sender}, {nickname} {mood}"], "unknown replacements {nickname}, {mood}"),
                (["bob", "x", "--text", "Hi", "--from", "2026-13-01"], "is not a day"),
                (["nobody", "x", "--text", "Hi"], "no user named nobody"),
            ] {
                let result = try await PillarboxBinary.run(["autoresponder", "set"] + arguments + server.databaseArguments)
                #expect(result.status != 0 && result.errors.contains(message), "\(result.errors)")
            }
            #expect(try await server.cli(["autoresponder", "list"]).split(separator: "\n").count <= 1)
        }
    }

    @Test("outside its hours and weekdays an autoresponder stays silent; with Keep Original off the answered message leaves the mailbox")
    func hoursAndKeepOriginal() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            // A window two hours from now, which the test's messages miss.
            let hour = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "Asia/Tokyo")!, from: Date()).hour ?? 0
            let window = String(format: "%02d:00-%02d:00", (hour + 2) % 24, (hour + 3) % 24)
            try await server.cli(["autoresponder", "set", "bob", "evenings", "--text", "Closed.", "--hours", window,
                                  "--time-zone", "Asia/Tokyo"])
            try await server.cli(["autoresponder", "set", "alice", "forward-only", "--text", "Answered and removed.",
                                  "--keep-original", "false", "--weekdays", "mon-sun"])
            let bad = try await PillarboxBinary.run(["autoresponder", "set", "alice", "x", "--text", "t", "--hours", "25:00-26:00"]
                                                    + server.databaseArguments)
            #expect(bad.status != 0 && bad.errors.contains("HH:MM-HH:MM"), "\(bad.errors)")
            let zone = try await PillarboxBinary.run(["autoresponder", "set", "alice", "x", "--text", "t", "--time-zone", "Mars/Olympus"]
                                                     + server.databaseArguments)
            #expect(zone.status != 0 && zone.errors.contains("not a time zone"), "\(zone.errors)")
            let shown = try await server.cli(["autoresponder", "list"])
            #expect(shown.contains("evenings") && shown.contains("forward-only"), "\(shown)")
            try await server.start()

            try await Self.send(server, [("carol@example.com", "bob@example.com", ""), ("carol@example.com", "alice@example.com", "")],
                                tag: "h")
            // alice's answer reaches carol; by then bob's message has been considered too.
            let carol = try await server.awaitInbox("carol", count: 1).map { String(decoding: $0, as: UTF8.self) }
            #expect(carol.count == 1 && carol[0].contains("Answered and removed."), "\(carol)")
            _ = try await eventually(within: .seconds(30), "alice's message to leave her INBOX") { () -> Bool? in
                try await server.inbox("alice").isEmpty ? true : nil
            }
            #expect(try await server.inbox("bob").count == 1, "bob keeps his; his autoresponder is outside its hours")
            let passed = try await server.query("SELECT count(*)::text FROM eventlog.events WHERE type = 'autoresponder_passed_over'")
            #expect(passed.first?.first == "1")
            try await server.cli(["verify"])
        }
    }
}
