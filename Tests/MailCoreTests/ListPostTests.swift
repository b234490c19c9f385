import MailCore
import Testing

@Suite("Mailing list posts and ListServer commands")
struct ListPostTests {
    static let post = Array((
        "Return-Path: <alice@example.com>\r\n" + "From: Alice <alice@example.com>\r\n" + "Subject: hello\r\n"
        + "Reply-To: <other@example.com>\r\n" + "X-Folded: one\r\n two\r\n" + "List-Id: <old.example.org>\r\n"
        + "Precedence: bulk\r\n" + "\r\n" + "Body line\r\n"
    ).utf8)

    @Test("rewriting drops the list's own fields, keeps folded ones, prefixes the subject once and keeps the body")
    func rewrite() {
        let rewritten = String(decoding: ListPost.rewrite(Self.post, subjectPrefix: "[news]", replaced: ["reply-to"],
                                                          added: [("List-Id", "<news.example.com>"), ("Reply-To", "<news@example.com>")]),
                               as: UTF8.self)
        #expect(rewritten == "From: Alice <alice@example.com>\r\nSubject: [news] hello\r\nX-Folded: one\r\n two\r\n"
                + "List-Id: <news.example.com>\r\nReply-To: <news@example.com>\r\n\r\nBody line\r\n")
        let twice = String(decoding: ListPost.rewrite(Array(rewritten.utf8), subjectPrefix: "[news]", replaced: [], added: []), as: UTF8.self)
        #expect(twice.contains("Subject: [news] hello\r\n") && !twice.contains("[news] [news]"))
    }

    @Test("a message without a header end or a subject still gets one, and nothing is lost")
    func oddMessages() {
        let bare = String(decoding: ListPost.rewrite(Array("From: a@b.example\r\n".utf8), subjectPrefix: "[x]", replaced: [], added: []),
                          as: UTF8.self)
        #expect(bare == "From: a@b.example\r\nSubject: [x]\r\n\r\n")
        #expect(ListPost.withoutReturnPath(Array("Return-Path: <a@b>\r\nX: 1\r\n".utf8)) == Array("X: 1\r\n".utf8))
        #expect(ListPost.withoutReturnPath(Array("X: 1\r\n".utf8)) == Array("X: 1\r\n".utf8))
        #expect(ListPost.address(in: "\"Bob, B\" <Bob@Example.com>") == "bob@example.com")
        #expect(ListPost.address(in: "undisclosed") == nil)
    }

    @Test("a command in the subject wins over the body; reply prefixes are passed over")
    func subject() {
        let reading = ListServerCommand.read(subject: "Re: AW: confirm 0123456789abcdef0123456789abcdef", body: "subscribe other")
        #expect(reading.fromSubject && reading.commands.map(\.verb) == [.confirm])
        #expect(ListServerCommand.read(subject: "sub news", body: "").commands == [.init(verb: .subscribe, arguments: ["news"], text: "sub news")])
    }

    @Test("body lines until end or a signature, quotes passed over, unknown lines kept, at most the limit read")
    func body() {
        let reading = ListServerCommand.read(subject: "hello", body: "uns *\n> subscribe quoted\n\nwhat\nusers news\nend\nlists")
        #expect(reading.commands.map(\.verb) == [.unsubscribe, .users])
        #expect(reading.unknown == ["what"] && !reading.truncated)
        let signature = ListServerCommand.read(subject: "", body: "lists\r\n-- \r\nhelp")
        #expect(signature.commands.map(\.verb) == [.lists])
        let many = ListServerCommand.read(subject: "", body: String(repeating: "subscribe a\n", count: 10_000))
        #expect(many.commands.count == ListServerCommand.lineLimit && many.truncated)
    }

    @Test("malformed commands are none", arguments: [
        "subscribe", "subscribe a b c", "confirm short", "approve 0123456789ABCDEF0123456789ABCDEF", "lists all", "subscribe <x>",
    ])
    func malformed(line: String) {
        #expect(ListServerCommand.parse(line: line) == nil)
    }
}

@Suite("Header editing")
struct HeaderEditingTests {
    @Test("named fields dropped with their folded lines, others kept as written, fields added, the body untouched")
    func edit() {
        let message = Array("From: a@b\r\nDisposition-Notification-To: a@b,\r\n c@d\r\nSubject: hi\r\n\r\nbody\r\nDisposition-Notification-To: x\r\n".utf8)
        let edited = HeaderEditing.edit(message, removed: HeaderEditing.receiptRequests, added: [("X-Note", "copy")])
        #expect(String(decoding: edited, as: UTF8.self)
            == "From: a@b\r\nSubject: hi\r\nX-Note: copy\r\n\r\nbody\r\nDisposition-Notification-To: x\r\n")
        // No header end: all header, and an empty line is added before nothing.
        #expect(String(decoding: HeaderEditing.edit(Array("Return-Receipt-To: x".utf8), removed: HeaderEditing.receiptRequests), as: UTF8.self) == "\r\n")
    }
}

@Suite("Mail commands to mailer_daemon")
struct MailCommandRequestTests {
    @Test("Set Forwarding with USERNAME and PASSWORD; quoted lines and what follows END passed over")
    func setForwarding() {
        let request = MailCommandRequest.read(subject: "Re:  set   forwarding",
                                              body: "> old quote\r\nUSERNAME alice\r\nPASSWORD two words\r\nforward to <a@b.example>\r\nEND\r\nrubbish")
        #expect(request.problems.isEmpty)
        #expect(request.command == .setForwarding && request.username == "alice" && request.password == "two words")
        #expect(request.forwarding == .to("a@b.example"))
    }

    @Test("unknown subjects, unknown lines, repeated and misplaced lines, missing lines: problems, in order")
    func problems() {
        #expect(MailCommandRequest.read(subject: "Hello", body: "").problems.first?.hasPrefix("the subject names no command") == true)
        let bad = MailCommandRequest.read(subject: "Set Forwarding", body: "FORWARD SIDEWAYS\nhello there\nNEW PASSWORD x\nUSERNAME a\nUSERNAME b")
        #expect(bad.problems == [
            "line 1: FORWARD takes TO <address>, ON or OFF", "line 2: not understood: \"hello there\"", "line 5: USERNAME given twice",
            "Set Forwarding needs a FORWARD TO <address>, FORWARD ON or FORWARD OFF line", "NEW PASSWORD is not part of Set Forwarding",
        ])
        let password = MailCommandRequest.read(subject: "Password", body: "NEW PASSWORD")
        #expect(password.problems == ["line 1: NEW PASSWORD takes the new password", "Password needs a NEW PASSWORD line"])
        let assistant = MailCommandRequest.read(subject: "Set Assistant", body: "ASSISTANT off\nREDIRECT maybe")
        #expect(assistant.assistants == [] && assistant.problems == ["line 2: REDIRECT takes ON or OFF"])
    }

    @Test("10 000 lines: refused after the limit, with the lines before it read")
    func long() {
        let body = Array(repeating: "QUERY", count: 10_000).joined(separator: "\n")
        let request = MailCommandRequest.read(subject: "Query Forwarding", body: body)
        #expect(request.problems.count == MailCommandRequest.lineLimit + 1)
        #expect(request.problems.last == "more than \(MailCommandRequest.lineLimit) lines; put END after the commands")
    }
}
