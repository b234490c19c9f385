import Foundation
import Testing
@testable import Gateways
@testable import WireCore
@testable import SMTPWire
@testable import IMAPWire
@testable import POP3Wire

/// The SMTP wire layer: command lines, paths, parameters, and the DATA/BDAT scanner, fed
/// whole and byte by byte.
@Suite("SMTP wire")
struct SMTPWireTests {
    func parse(_ text: String) -> Result<SMTPCommand, SMTPSyntaxError> {
        SMTPCommandParser.parse(Array(text.utf8))
    }

    @Test("commands parse into their typed form", arguments: [
        ("EHLO client.example", SMTPCommand.ehlo("client.example")),
        ("helo client", .helo("client")),
        ("EHLO [192.0.2.1]", .ehlo("[192.0.2.1]")),
        ("DATA", .data),
        ("RSET", .rset),
        ("NOOP anything at all", .noop),
        ("QUIT", .quit),
        ("STARTTLS", .startTLS),
        ("BDAT 100", .bdat(size: 100, last: false)),
        ("BDAT 0 LAST", .bdat(size: 0, last: true)),
        ("AUTH PLAIN", .auth(mechanism: "PLAIN", initialResponse: nil)),
        ("auth plain AGFsaWNlAHB3", .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHB3")),
        ("AUTH PLAIN =", .auth(mechanism: "PLAIN", initialResponse: "=")),
        ("HELP", .help(nil)),
        ("VRFY alice", .vrfy("alice")),
    ])
    func commands(_ text: String, _ expected: SMTPCommand) {
        #expect(parse(text) == .success(expected))
    }

    @Test("MAIL FROM with every parameter Pillarbox offers")
    func mailParameters() throws {
        guard case .success(.mail(let path, let parameters)) = parse(
            "MAIL FROM:<Alice@Example.COM> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=a+2Bb AUTH=<>") else {
            Issue.record("did not parse")
            return
        }
        #expect(path == SMTPPath(localPart: "Alice", domain: "example.com"))
        #expect(parameters.size == 1000 && parameters.body == .eightBitMIME && parameters.smtpUTF8)
        #expect(parameters.ret == .headers && parameters.envelopeID == "a+b" && parameters.auth == nil)
        #expect(parse("MAIL FROM:<>") == .success(.mail(reversePath: nil, parameters: .init())))
        #expect(parse("MAIL FROM: <a@b.example>") == .success(.mail(reversePath: SMTPPath(localPart: "a", domain: "b.example"), parameters: .init())))
    }

    @Test("RCPT TO with NOTIFY and ORCPT; Postmaster; source routes dropped; quoted local parts kept")
    func recipientParameters() {
        guard case .success(.rcpt(let path, let parameters)) = parse("RCPT TO:<@relay.example,@b.example:bob@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;bob+40example.com") else {
            Issue.record("did not parse")
            return
        }
        #expect(path.description == "bob@example.com")
        #expect(parameters.notify == [.success, .delay])
        #expect(parameters.originalRecipient == "rfc822;bob@example.com")
        #expect(parse("RCPT TO:<Postmaster>") == .success(.rcpt(forwardPath: SMTPPath(localPart: "Postmaster", domain: ""), parameters: .init())))
        guard case .success(.rcpt(let quoted, _)) = parse(#"RCPT TO:<"user@elsewhere"@example.com>"#) else {
            Issue.record("did not parse")
            return
        }
        #expect(quoted.quoted && quoted.localPart == "user@elsewhere" && quoted.domain == "example.com")
        #expect(quoted.description == #""user@elsewhere"@example.com"#)
    }

    @Test("malformed commands get the error their reply needs", arguments: [
        ("FROB", SMTPSyntaxError.unknownCommand),
        ("", .unknownCommand),
        ("DATA now", .badArguments("this command takes no arguments")),
        ("MAIL FROM:<a@b.example> SIZE=big", .badParameter("SIZE needs a number")),
        ("MAIL FROM:<a@b.example> FOO=1", .badParameter("unknown MAIL parameter FOO")),
        ("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", .badParameter("SIZE given twice")),
        ("RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", .badParameter("NOTIFY=NEVER stands alone")),
        ("RCPT TO:<user@example.com@elsewhere.example>", .badAddress("unexpected text in the address")),
        ("RCPT TO:<user@elsewhere.example.>", .badAddress("malformed domain")),
        ("RCPT TO:user@example.com", .badAddress("the address must be in angle brackets")),
        ("RCPT TO:<user>", .badAddress("the address needs a domain")),
        ("RCPT TO:<a..b@example.com>", .badAddress("malformed local part")),
        ("MAIL FROM:<a..b@example.com>", .badSenderAddress("malformed local part")),
        ("MAIL FROM:<a@b.example> BODY=BINARYMIME", .badParameter("BODY is 7BIT or 8BITMIME")),
        ("MAIL FROM:<a@b.example> ENVID=x+0D+0ABcc:+20victim", .badArguments("ENVID holds control characters")),
        ("MAIL FROM:<a@b.example> AUTH=a+00b", .badArguments("AUTH holds control characters")),
        ("RCPT TO:<a@b.example> ORCPT=rfc822;x+0D+0Ay", .badArguments("ORCPT holds control characters")),
        ("BDAT -1", .badArguments("expected BDAT size [LAST]")),
        ("AUTH PLAIN not*base64", .badArguments("the initial response is base64 or =")),
    ])
    func errors(_ text: String, _ expected: SMTPSyntaxError) {
        #expect(parse(text) == .failure(expected))
    }

    @Test("a SIZE too large for any counter is a size, and too big, not a syntax error")
    func hugeSize() {
        for text in ["MAIL FROM:<a@b.example> SIZE=9223372036854775807", "MAIL FROM:<a@b.example> SIZE=99999999999999999999999"] {
            guard case .success(.mail(_, let parameters)) = parse(text) else {
                Issue.record("\(text) did not parse")
                continue
            }
            #expect(parameters.size == Int.max || parameters.size == 9_223_372_036_854_775_807)
        }
    }

    @Test("only CRLF ends a command line; bare CR and LF are refused; long lines are refused")
    func lines() throws {
        var input = LineBuffer()
        input.append(Array("EHLO a\r\nNOOP\r".utf8))
        #expect(try input.nextLine(limit: 100).map { Array($0) } == Array("EHLO a".utf8))
        #expect(try input.nextLine(limit: 100) == nil)
        input.append([0x0A])
        #expect(try input.nextLine(limit: 100).map { Array($0) } == Array("NOOP".utf8))

        var bare = LineBuffer()
        bare.append(Array("EHLO a\nQUIT\r\n".utf8))
        #expect(throws: LineError.bareLineFeed) { try bare.nextLine(limit: 100) }
        var carriage = LineBuffer()
        carriage.append(Array("EHLO a\rQUIT\r\n".utf8))
        #expect(throws: LineError.bareCarriageReturn) { try carriage.nextLine(limit: 100) }
        var long = LineBuffer()
        long.append([UInt8](repeating: UInt8(ascii: "a"), count: 600))
        #expect(throws: LineError.lineTooLong) { try long.nextLine(limit: 512) }
    }

    /// Scans `input` as DATA, whole and one byte at a time; both must agree.
    func scanData(_ text: String) -> (body: String, error: LineError?, finished: Bool, rest: Int) {
        let bytes = Array(text.utf8)
        var results: [(String, LineError?, Bool, Int)] = []
        for chunkSize in [bytes.count, 1] {
            var scanner = SMTPBodyScanner(mode: .data)
            var output: [UInt8] = []
            var consumed = 0
            var index = 0
            while index < bytes.count && !scanner.isFinished {
                let end = min(bytes.count, index + max(chunkSize, 1))
                consumed += bytes[index..<end].withUnsafeBufferPointer { scanner.scan($0, into: &output) }
                index = end
            }
            results.append((String(decoding: output, as: UTF8.self), scanner.error, scanner.isFinished, bytes.count - consumed))
        }
        // After an error the body is thrown away, so only error-free bodies must agree.
        #expect(results[0].1 == results[1].1 && results[0].3 == results[1].3)
        if results[0].1 == nil { #expect(results[0].0 == results[1].0) }
        return results[0]
    }

    @Test("DATA ends at exactly CRLF.CRLF and is dot-unstuffed")
    func dataTerminator() {
        let plain = scanData("Subject: a\r\n\r\n..leading\r\n.x\r\nend\r\n.\r\nQUIT\r\n")
        #expect(plain.body == "Subject: a\r\n\r\n.leading\r\nx\r\nend\r\n")
        #expect(plain.error == nil && plain.finished && plain.rest == 6)
        #expect(scanData(".\r\n").body == "" && scanData(".\r\n").finished)
    }

    @Test("every SMTP smuggling near-miss is an error and does not end the message", arguments: [
        "\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\r\n.\r\r\n", "\r\n.\r\r\n",
    ])
    func smuggling(_ payload: String) {
        let result = scanData("Subject: a\r\n\r\nfirst" + payload + "MAIL FROM:<evil@example.com>\r\n")
        #expect(result.error != nil, "accepted \(payload.debugDescription)")
        #expect(!result.finished, "\(payload.debugDescription) ended the message")
        let ended = scanData("Subject: a\r\n\r\nfirst" + payload + "MAIL FROM:<evil@example.com>\r\n.\r\n")
        #expect(ended.finished && ended.error != nil && ended.body.isEmpty == false)
    }

    @Test("text lines over 1000 octets are refused")
    func longTextLine() {
        #expect(scanData(String(repeating: "x", count: 998) + "\r\n.\r\n").error == nil)
        #expect(scanData(String(repeating: "x", count: 999) + "\r\n.\r\n").error == .lineTooLong)
    }

    @Test("BDAT chunks keep line state across chunk boundaries")
    func chunks() {
        var scanner = SMTPBodyScanner(mode: .chunk)
        var output: [UInt8] = []
        for piece in ["Subject: a\r", "\n\r\n.not stuffed\r\n"] {
            _ = Array(piece.utf8).withUnsafeBufferPointer { scanner.scan($0, into: &output) }
        }
        scanner.finishChunks()
        #expect(scanner.error == nil)
        #expect(String(decoding: output, as: UTF8.self) == "Subject: a\r\n\r\n.not stuffed\r\n")
        var bare = SMTPBodyScanner(mode: .chunk)
        _ = Array("a\nb".utf8).withUnsafeBufferPointer { bare.scan($0, into: &output) }
        #expect(bare.error == .bareLineFeed)
    }

    @Test("replies carry enhanced codes and never a raw line break")
    func replies() {
        #expect(SMTPReply(250, "2.0.0", ["one", "two"]).bytes == Array("250-2.0.0 one\r\n250 2.0.0 two\r\n".utf8))
        #expect(SMTPReply(550, "5.1.1", "a\r\nb").bytes == Array("550 5.1.1 ab\r\n".utf8))
    }

    @Test("xtext and base64 decode strictly")
    func encodings() {
        #expect(XText.decode("a+2Bb+3Dc") == "a+b=c")
        #expect(XText.decode("a+2") == nil)
        #expect(XText.encode("a+b c") == "a+2Bb+20c")
        #expect(Base64.decode(Array("AGFsaWNlAHB3".utf8)) == [0] + Array("alice".utf8) + [0] + Array("pw".utf8))
        #expect(Base64.decode(Array("QQ==".utf8)) == [65])
        #expect(Base64.decode(Array("Q===".utf8)) == nil)
        #expect(Base64.decode(Array("QQ=A".utf8)) == nil)
        #expect(Base64.encode(Array("hello".utf8)) == "aGVsbG8=")
    }

    @Test("RFC 5322 dates in UTC")
    func dates() {
        #expect(SMTPStateMachine.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        #expect(SMTPStateMachine.rfc5322Date(Date(timeIntervalSince1970: 1_795_355_107)) == "Sun, 22 Nov 2026 13:45:07 +0000")
        #expect(SMTPStateMachine.rfc5322Date(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 +0000")
    }
}
