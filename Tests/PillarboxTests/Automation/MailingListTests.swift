import Foundation
import TestSupport
import Testing

/// Mailing lists and the ListServer end to end, through SMTP with smtplib.
@Suite("Mailing lists")
struct MailingListTests {
    /// Sends one message: argv = from, to, subject, body, extra header lines.
    static let send = """
        import smtplib
        sender, to, subject, body, extra = sys.argv[1:6]
        if body == '@many':
            body = '\\r\\n'.join('subscribe list%d' % i for i in range(10000))
        s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
        message = 'From: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\n%s\\r\\n%s\\r\\n' % (sender or 'someone@remote.example', to, subject, extra, body)
        s.sendmail(sender, [to], message.encode())
        s.quit()
        """

    static func send(_ server: MailServerHarness, from: String, to: String, subject: String, body: String = "hello",
                     extra: String = "") async throws {
        _ = try await server.python(send, [from, to, subject, body, extra])
    }

    static func texts(_ messages: [[UInt8]]) -> [String] { messages.map { String(decoding: $0, as: UTF8.self) } }

    /// The first message in `user`'s INBOX holding `text`.
    static func awaitMessage(_ server: MailServerHarness, _ user: String, containing text: String) async throws -> String {
        try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "\(text) in \(user)'s INBOX") { () -> String? in
            texts(try await server.inbox(user)).first { $0.contains(text) }
        }
    }

    /// The token in a subject such as `confirm <token>`.
    static func token(after word: String, in text: String) -> String? {
        guard let range = text.range(of: "Subject: \(word) ") else { return nil }
        return String(text[range.upperBound...].prefix(32))
    }

    @Test("posts with a subject prefix and List-* headers; members only; subscription confirmed by reply; moderation by reply; a ban; a loop; one-click unsubscribe")
    func mailingList() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.cli(["list", "add", "news", "--kind", "mailing", "--public", "--description", "Office news"])
            try await server.cli(["list", "set", "news", "--posting", "members", "--subject-prefix", "[news]", "--reply-to-list", "true",
                                  "--subscription", "confirm"])
            for member in ["alice", "bob", "friend@elsewhere.test"] { try await server.cli(["list", "member", "add", "news", member]) }
            // A list that would contain itself is refused.
            let loop = try await PillarboxBinary.run(["list", "member", "add", "news", "news@example.com"] + server.databaseArguments)
            #expect(loop.status != 0 && loop.errors.contains("contain itself"), "\(loop.errors)")
            try await server.start(admin: true)

            // A member posts: every member gets it with the list's fields; the remote member's
            // copy leaves with the return address as its envelope sender.
            try await Self.send(server, from: "alice@example.com", to: "news@example.com", subject: "hello all", extra: "Reply-To: <x@example.com>\r\n")
            let bob = Self.texts(try await server.awaitInbox("bob", count: 1))[0]
            #expect(bob.contains("Subject: [news] hello all"), "\(bob)")
            #expect(bob.contains("List-Id: \"Office news\" <news.example.com>") && bob.contains("List-Post: <mailto:news@example.com>"), "\(bob)")
            #expect(bob.contains("List-Unsubscribe: <mailto:listserver@example.com?subject=unsubscribe%20news>"), "\(bob)")
            #expect(bob.contains("Precedence: list") && bob.contains("Reply-To: <news@example.com>") && !bob.contains("x@example.com"), "\(bob)")
            _ = try await server.awaitInbox("alice", count: 1)
            let remote = try await eventually(within: .seconds(30), "the remote member's copy") { () -> [[String]]? in
                let rows = try await server.query("SELECT address, returnpath FROM outqueue.outrecipients WHERE address = 'friend@elsewhere.test'")
                return rows.isEmpty ? nil : rows
            }
            #expect(remote == [["friend@elsewhere.test", "postmaster@example.com"]])

            // An outsider may not post; a loop and a banned address are dropped.
            try await Self.send(server, from: "outsider@elsewhere.test", to: "news@example.com", subject: "buy now")
            try await Self.send(server, from: "alice@example.com", to: "news@example.com", subject: "again", extra: "List-Id: <news.example.com>\r\n")
            _ = try await eventually(within: .seconds(30), "the first refusals") { () -> Int? in
                let rows = try await server.query("SELECT result FROM lists.posts WHERE result LIKE 'refused%'")
                return rows.count >= 2 ? rows.count : nil
            }
            try await server.cli(["list", "set", "news", "--ban", "*@spam.test", "--posting", "moderated-non-members"])
            try await Self.send(server, from: "x@spam.test", to: "news@example.com", subject: "spam")
            let refused = try await eventually(within: .seconds(30), "the refusals") { () -> [String]? in
                let rows = try await server.query("SELECT result FROM lists.posts WHERE result LIKE 'refused%' ORDER BY position")
                return rows.count >= 3 ? rows.map { $0[0] } : nil
            }
            #expect(refused == ["refused: not a member", "refused: a loop: the post came through this list before",
                                "refused: x@spam.test is banned"], "\(refused)")

            // carol subscribes through the ListServer and confirms by replying.
            try await Self.send(server, from: "carol@example.com", to: "listserver@example.com", subject: "subscribe news")
            let request = Self.texts(try await server.awaitInbox("carol", count: 1))[0]
            let token = try #require(Self.token(after: "confirm", in: request), "\(request)")
            try await Self.send(server, from: "carol@example.com", to: "listserver@example.com", subject: "Re: confirm \(token)")
            let members = try await eventually(within: .seconds(30), "carol on the list") { () -> String? in
                let shown = try await server.cli(["list", "show", "news"])
                return shown.contains("carol@example.com") ? shown : nil
            }
            #expect(members.contains("carol@example.com"))
            _ = try await Self.awaitMessage(server, "carol", containing: "carol@example.com is now a member of news.")

            // A non-member's post is held; the main administrator approves it by replying.
            try await Self.send(server, from: "guest@elsewhere.test", to: "news@example.com", subject: "may I")
            let notice = try await Self.awaitMessage(server, "postmaster", containing: "Subject: approve ")
            let held = try #require(Self.token(after: "approve", in: notice), "\(notice)")
            #expect(notice.contains("Subject: may I") && notice.contains("message/rfc822"), "\(notice)")
            let pending = try await server.cli(["list", "pending", "news"])
            #expect(pending.contains(held), "\(pending)")
            try await Self.send(server, from: "postmaster@example.com", to: "listserver@example.com", subject: "Re: approve \(held)")
            let decided = try await Self.awaitMessage(server, "postmaster", containing: "Subject: Re: Re: approve")
            #expect(decided.contains("The post \"may I\" goes to news."), "\(decided)")
            _ = try await Self.awaitMessage(server, "bob", containing: "Subject: [news] may I")
            // The same post cannot be approved twice.
            let again = try await PillarboxBinary.run(["list", "approve", held] + server.databaseArguments)
            #expect(again.status != 0)

            // One-click unsubscribe (RFC 8058) with the link a post carries.
            try await server.cli(["settings", "set", "lists.unsubscribe_url", "https://mail.example.com"])
            try await Self.send(server, from: "alice@example.com", to: "news@example.com", subject: "third")
            let third = try await Self.awaitMessage(server, "bob", containing: "Subject: [news] third")
            #expect(third.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "\(third)")
            let link = try #require(third.range(of: "<https://mail.example.com").map { range -> String in
                let rest = third[range.lowerBound...].dropFirst()
                return String(rest[..<rest.firstIndex(of: ">")!])
            })
            let path = String(link.dropFirst("https://mail.example.com".count))
            let result = try await server.python("""
                import urllib.request
                base = 'http://127.0.0.1:%d' % PORTS['admin']
                forged = sys.argv[1].replace('address=bob', 'address=alice')
                try:
                    urllib.request.urlopen(urllib.request.Request(base + forged, data=b'List-Unsubscribe=One-Click', method='POST'), timeout=30)
                    print('forged accepted')
                except urllib.error.HTTPError as e:
                    print('forged %d' % e.code)
                page = urllib.request.urlopen(base + sys.argv[1], timeout=30).read().decode()
                print('page has form' if 'method="post"' in page else 'no form')
                r = urllib.request.urlopen(urllib.request.Request(base + sys.argv[1], data=b'List-Unsubscribe=One-Click', method='POST'), timeout=30)
                print(r.read().decode())
                """, [path]).output
            #expect(result.contains("forged 403") && result.contains("page has form") && result.contains("bob@example.com has left news."), "\(result)")
            let after = try await server.cli(["list", "show", "news"])
            #expect(!after.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == "bob" } && after.contains("alice"),
                    "\(after)")

            // Everything the agent appended rebuilds.
            try await server.cli(["verify"])
        }
    }

    @Test("ListServer: lists, users when allowed, unsubscribe *, help; unknown lines reported; 10 000 lines read no further than 100; silent without a command")
    func listServer() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.cli(["list", "add", "chat", "--kind", "mailing", "--public"])
            try await server.cli(["list", "set", "chat", "--subscription", "open", "--members-may-list", "true"])
            try await server.cli(["list", "add", "staff", "--kind", "mailing"])
            try await server.cli(["list", "set", "staff", "--subscription", "open"])
            try await server.cli(["list", "member", "add", "chat", "bob"])
            try await server.start()
            try await Self.send(server, from: "alice@example.com", to: "listserver@example.com", subject: "commands",
                                body: "subscribe chat\r\nsubscribe staff\r\nusers chat\r\nlists\r\nfrobnicate\r\n> subscribe quoted\r\nend\r\nsubscribe nothing")
            let answer = Self.texts(try await server.awaitInbox("alice", count: 1))[0]
            #expect(answer.contains("alice@example.com is now a member of chat."), "\(answer)")
            #expect(answer.contains("alice@example.com is now a member of staff."), "\(answer)")
            #expect(answer.contains("bob@example.com") && answer.contains("Not understood (1 line)") && answer.contains("> frobnicate"), "\(answer)")
            #expect(answer.contains("Auto-Submitted: auto-replied") && !answer.contains("no mailing list nothing"), "\(answer)")
            try await Self.send(server, from: "alice@example.com", to: "listserver@example.com", subject: "uns *")
            let left = Self.texts(try await server.awaitInbox("alice", count: 2))[1]
            #expect(left.contains("alice@example.com has left chat.") && left.contains("alice@example.com has left staff."), "\(left)")
            // 10 000 lines: read up to 100, said so.
            try await Self.send(server, from: "carol@example.com", to: "listserver@example.com", subject: "many", body: "@many")
            let answered = Self.texts(try await server.awaitInbox("carol", count: 1))[0]
            #expect(answered.contains("Only the first 100 lines were read.") && answered.contains("There is no mailing list list99."), "\(answered)")
            #expect(!answered.contains("list100."), "\(answered)")
            // Without a command: silent (the default), recorded.
            try await Self.send(server, from: "bob@example.com", to: "listserver@example.com", subject: "hi there", body: "just chatting")
            try await Self.send(server, from: "bob@example.com", to: "listserver@example.com", subject: "help")
            let help = Self.texts(try await server.awaitInbox("bob", count: 1))
            #expect(help.count == 1 && help[0].contains("unsubscribe <list>|* [address]"), "\(help)")
            let recorded = try await server.query("SELECT count(*)::text FROM eventlog.events WHERE type = 'listserver_answered'")
            #expect(recorded == [["5"]])
        }
    }
}
