import MailCore
import Testing

func bytes(_ text: String) -> [UInt8] { Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8) }

@Suite("MIME parser")
struct MIMEParserTests {
    @Test("a plain message: envelope, defaults, size and lines")
    func plain() {
        let message = bytes("""
            From: "Smith, Alice" <alice@example.com>
            To: bob@example.net, Carol <carol@example.org>
            Cc: undisclosed-recipients:;
            Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?b?IHRpbWU=?=
            Date: Tue, 1 Jul 2003 10:52:37 +0200
            Message-ID: <123@example.com>

            hello
            world
            """)
        let summary = MIMEParser.summarise(message)
        #expect(summary.envelope.from == [MessageAddress(name: "Smith, Alice", mailbox: "alice", host: "example.com")])
        #expect(summary.envelope.sender == summary.envelope.from && summary.envelope.replyTo == summary.envelope.from)
        #expect(summary.envelope.to.map(\.mailbox) == ["bob", "carol"])
        #expect(summary.envelope.cc == [MessageAddress(mailbox: "undisclosed-recipients", host: nil),
                                        MessageAddress(mailbox: nil, host: nil)])
        #expect(summary.subjectText == "café time")
        #expect(summary.envelope.subject == "=?utf-8?q?caf=C3=A9?= =?utf-8?b?IHRpbWU=?=")
        #expect(summary.sentDate == 1_057_049_557)
        #expect(summary.body.type == "text" && summary.body.subtype == "plain" && summary.body.encoding == "7bit")
        #expect(summary.body.parameter("charset") == "us-ascii")
        #expect(summary.body.lines == 2 && summary.body.bodySize == 12)
        #expect(summary.body.bodyOffset == summary.headerSize && summary.size == message.count)
    }

    @Test("the conversation's root: References first, then In-Reply-To, then Message-ID; an older summary falls back on its envelope")
    func threadRoot() {
        let reply = MIMEParser.summarise(bytes("""
            Message-ID: <r2@x.test>
            In-Reply-To: <r1@x.test>
            References: <root@x.test>
             <r1@x.test>

            body
            """))
        #expect(reply.threadRoot == "root@x.test" && reply.conversationRoot == "root@x.test")
        #expect(MIMEParser.summarise(bytes("In-Reply-To: Alice's message <r1@x.test>\nMessage-ID: <r2@x.test>\n\nx")).threadRoot == "r1@x.test")
        #expect(MIMEParser.summarise(bytes("Message-ID: < spaced@x.test >\n\nx")).threadRoot == "spaced@x.test")
        #expect(MIMEParser.summarise(bytes("References: no brackets\nSubject: x\n\nx")).threadRoot == nil)
        var older = reply
        older.threadRoot = nil
        #expect(older.conversationRoot == "r1@x.test", "without References, In-Reply-To is as near as it gets")
        #expect(MessageSummary.firstMessageID("<>") == nil && MessageSummary.firstMessageID("<a@b") == nil)
    }

    @Test("nested multipart with a message/rfc822 attachment")
    func nested() {
        let message = bytes("""
            From: a@example.com
            Content-Type: multipart/mixed; boundary="outer"

            preamble
            --outer
            Content-Type: multipart/alternative; boundary=inner

            --inner
            Content-Type: text/plain; charset=utf-8

            plain body
            --inner
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            <p>html</p>
            --inner--
            --outer
            Content-Type: message/rfc822
            Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.eml

            From: inner@example.org
            Subject: forwarded

            inner text
            --outer
            Content-Type: application/pdf; name="doc.pdf"
            Content-Transfer-Encoding: base64

            JVBERi0xLjQK
            --outer--
            epilogue
            """)
        let body = MIMEParser.summarise(message).body
        #expect(body.type == "multipart" && body.subtype == "mixed" && body.parts.count == 3)
        let alternative = body.parts[0]
        #expect(alternative.subtype == "alternative" && alternative.parts.map(\.subtype) == ["plain", "html"])
        #expect(alternative.parts[1].encoding == "quoted-printable")
        let plain = alternative.parts[0]
        #expect(Array(message[plain.bodyOffset..<(plain.bodyOffset + plain.bodySize)]) == Array("plain body".utf8))
        let attached = body.parts[1]
        #expect(attached.isMessage && attached.envelope?.subject == "forwarded")
        #expect(attached.disposition == "attachment" && attached.dispositionParameters == [["filename", "résumé.eml"]])
        #expect(attached.parts.first?.lines == 1)
        #expect(body.parts[2].type == "application" && body.parts[2].parameter("name") == "doc.pdf")
    }

    @Test("damage is summarised, never fatal: missing boundaries, no closing delimiter, 8-bit headers, no body")
    func malformed() {
        let noBoundary = MIMEParser.summarise(bytes("Content-Type: multipart/mixed\n\nbody\n"))
        #expect(noBoundary.body.type == "text" && noBoundary.body.subtype == "plain")

        let unclosed = MIMEParser.summarise(bytes("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\n\nsecond"))
        #expect(unclosed.body.parts.count == 2)

        let latin1: [UInt8] = Array("Subject: caf".utf8) + [0xe9] + Array("\r\nFrom: J\u{00fc}rgen <j@example.de>\r\n\r\nx".utf8)
        let eightBit = MIMEParser.summarise(latin1)
        #expect(eightBit.envelope.subject == "café")
        #expect(eightBit.envelope.from.first?.name == "Jürgen")

        let headerOnly = MIMEParser.summarise(bytes("Subject: only a header"))
        #expect(headerOnly.body.bodySize == 0 && headerOnly.envelope.subject == "only a header")

        let bareLF = MIMEParser.summarise(Array("Subject: lf\n\nline one\nline two\n".utf8))
        #expect(bareLF.body.lines == 2 && bareLF.envelope.subject == "lf")

        #expect(MIMEParser.summarise([]).size == 0)
    }

    @Test("limits bound depth and part count")
    func limits() {
        var text = ""
        for level in 0..<50 { text += "Content-Type: multipart/mixed; boundary=b\(level)\n\n--b\(level)\n" }
        text += "\nleaf\n"
        var limits = MIMELimits()
        limits.maxDepth = 10
        let deep = MIMEParser.summarise(bytes(text), limits: limits)
        var depth = 0
        var part = deep.body
        while let child = part.parts.first { depth += 1; part = child }
        #expect(depth <= 10 && deep.truncated)

        var many = "Content-Type: multipart/mixed; boundary=x\n\n"
        for _ in 0..<100 { many += "--x\n\npart\n" }
        limits = MIMELimits()
        limits.maxParts = 20
        let wide = MIMEParser.summarise(bytes(many + "--x--\n"), limits: limits)
        #expect(wide.body.parts.count < 20 && wide.truncated)
    }

    @Test("addresses: groups, routes, comments, quoted locals, missing parts")
    func addresses() {
        #expect(MessageAddress.parseList("<@relay.example:joe@example.com>")
            == [MessageAddress(route: "@relay.example", mailbox: "joe", host: "example.com")])
        // A trailing comment names an address that has no display name.
        #expect(MessageAddress.parseList("\"odd local\"@example.com (comment)")
            == [MessageAddress(name: "comment", mailbox: "odd local", host: "example.com")])
        #expect(MessageAddress.parseList("Team: a@x.org, B <b@y.org>;, c@z.org").map(\.mailbox)
            == ["Team", "a", "b", nil, "c"])
        #expect(MessageAddress.parseList("nobody").first?.host == "MISSING_DOMAIN")
        #expect(MessageAddress.parseList(",,, <").count <= 1)
        #expect(EncodedWord.decode("=?iso-8859-1?q?J=FCrgen?= =?bogus?x?abc?=") == "Jürgen =?bogus?x?abc?=")
    }
}
