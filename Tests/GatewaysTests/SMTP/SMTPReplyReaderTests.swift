import SMTPWire
import Testing
import WireCore

@Suite("SMTP replies as a client reads them")
struct SMTPReplyReaderTests {
    /// Every reply in `text`, fed whole and then byte by byte: both must give the same.
    static func replies(_ text: String) throws -> [SMTPReply] {
        var whole = SMTPReplyReader()
        whole.append(Array(text.utf8))
        var all: [SMTPReply] = []
        while let reply = try whole.next() { all.append(reply) }
        var trickle = SMTPReplyReader()
        var trickled: [SMTPReply] = []
        for byte in text.utf8 {
            trickle.append([byte])
            while let reply = try trickle.next() { trickled.append(reply) }
        }
        #expect(all == trickled)
        return all
    }

    @Test("single and multiline replies, enhanced codes taken out of the text")
    func replies() throws {
        let got = try Self.replies("""
            220 mx.example.net ESMTP ready\r
            250-mx.example.net greets client.example\r
            250-PIPELINING\r
            250-SIZE 10240000\r
            250 8BITMIME\r
            550-5.1.1 no such user\r
            550 5.1.1 try another\r
            451 4.3.0 busy\r
            354\r

            """)
        #expect(got.count == 5)
        #expect(got[0] == SMTPReply(220, nil, "mx.example.net ESMTP ready"))
        #expect(got[1].code == 250 && got[1].lines.count == 4)
        #expect(got[2] == SMTPReply(550, "5.1.1", ["no such user", "try another"]))
        #expect(got[3].enhanced == "4.3.0" && got[3].isTransient)
        #expect(got[4] == SMTPReply(354, nil, ""))
    }

    @Test("an enhanced code whose class is not the reply's stays text")
    func mismatchedEnhanced() throws {
        #expect(try Self.replies("550 2.0.0 odd\r\n")[0] == SMTPReply(550, nil, "2.0.0 odd"))
        #expect(try Self.replies("250 2.00.0 odd\r\n")[0].enhanced == nil)
        #expect(try Self.replies("250 2.1.5\r\n")[0] == SMTPReply(250, "2.1.5", ""))
    }

    @Test("what is not a reply is refused", arguments: [
        "hello\r\n", "25\r\n", "2500 x\r\n", "650 x\r\n", "250_x\r\n", "250-a\r\n251 b\r\n",
        "250 bare line feed\n", "250 bare\rcarriage return\r\n",
    ])
    func refused(_ text: String) {
        #expect(throws: SMTPReplyError.self) { _ = try Self.replies(text) }
    }

    @Test("lines and replies are bounded")
    func bounded() {
        let long = "250 " + String(repeating: "x", count: SMTPReplyReader.lineLimit) + "\r\n"
        #expect(throws: SMTPReplyError.line(.lineTooLong)) { _ = try Self.replies(long) }
        let many = String(repeating: "250-x\r\n", count: SMTPReplyReader.lineCountLimit + 1) + "250 x\r\n"
        #expect(throws: SMTPReplyError.tooManyLines) { _ = try Self.replies(many) }
    }

    @Test("control characters in text are neutralised")
    func controlCharacters() throws {
        #expect(try Self.replies("550 a\u{1b}[31mb\tc\r\n")[0].lines == ["a?[31mb\tc"])
    }

    @Test("after STARTTLS nothing buffered in plain text is read")
    func discard() throws {
        var reader = SMTPReplyReader()
        reader.append(Array("220 go ahead\r\n250 injected\r\n".utf8))
        #expect(try reader.next()?.code == 220)
        reader.discardAll()
        #expect(try reader.next() == nil)
    }

    @Test("EHLO capabilities: keywords without case, SIZE, AUTH")
    func capabilities() throws {
        let reply = try Self.replies("""
            250-mx.example.net\r
            250-pipelining\r
            250-SIZE 35882577\r
            250-STARTTLS\r
            250-AUTH PLAIN login\r
            250-ENHANCEDSTATUSCODES\r
            250-8BITMIME\r
            250-DSN\r
            250-SMTPUTF8\r
            250 CHUNKING\r

            """)[0]
        let capabilities = SMTPServerCapabilities(ehloReply: reply)
        #expect(capabilities.pipelining && capabilities.startTLS && capabilities.dsn && capabilities.chunking)
        #expect(capabilities.smtpUTF8 && capabilities.eightBitMIME && capabilities.enhancedStatusCodes)
        #expect(capabilities.maximumSize == 35_882_577)
        #expect(capabilities.authMechanisms == ["PLAIN", "LOGIN"])
        let bare = SMTPServerCapabilities(ehloReply: SMTPReply(250, nil, ["mx", "SIZE", "X$BAD"]))
        #expect(bare.maximumSize == nil && bare.supports("SIZE") && !bare.supports("X$BAD"))
    }
}
