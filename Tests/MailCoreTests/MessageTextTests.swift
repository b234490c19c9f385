import MailCore
import Testing

@Suite("Transfer encodings and a message's plain text")
struct MessageTextTests {
    @Test("quoted-printable: soft breaks, octets, trailing white space; base64 across lines, padding missing")
    func decode() {
        let qp = Array("caf=C3=A9 =\r\nau lait  \r\n=3D=zz\r\n".utf8)
        #expect(TransferEncoding.decode(qp, encoding: "Quoted-Printable").map { String(decoding: $0, as: UTF8.self) }
            == "café au lait\r\n==zz\r\n")
        #expect(TransferEncoding.decode(Array("aGVs\r\nbG8g\r\nd29y bGQ".utf8), encoding: "base64")
            .map { String(decoding: $0, as: UTF8.self) } == "hello world")
        #expect(TransferEncoding.decode(Array("x".utf8), encoding: "x-uuencode") == nil)
        #expect(TransferEncoding.decode(Array("as is".utf8), encoding: "8bit") == Array("as is".utf8))
    }

    @Test("the first plain-text part of a multipart message, decoded in its charset; attachments and HTML passed over")
    func plain() {
        let message = Array("""
            From: a@example.com\r
            Subject: Set Forwarding\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="outer"\r
            \r
            --outer\r
            Content-Type: multipart/alternative; boundary="inner"\r
            \r
            --inner\r
            Content-Type: text/html; charset=utf-8\r
            \r
            <p>USERNAME html</p>\r
            --inner\r
            Content-Type: text/plain; charset=iso-8859-1\r
            Content-Transfer-Encoding: quoted-printable\r
            \r
            USERNAME alice\r
            PASSWORD caf=E9-pass\r
            --inner--\r
            --outer\r
            Content-Type: text/plain\r
            Content-Disposition: attachment; filename=x.txt\r
            \r
            USERNAME attached\r
            --outer--\r

            """.utf8)
        #expect(MessageText.plain(message) == "USERNAME alice\r\nPASSWORD café-pass")
        let base64 = Array("Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nRU5E\r\n".utf8)
        #expect(MessageText.plain(base64) == "END")
        // Without MIME: the body as it is, up to the limit.
        #expect(MessageText.plain(Array("Subject: x\r\n\r\nhelp\r\nend\r\n".utf8), limit: 6) == "help\r\n")
        // A preview is text: control characters (a NUL) are white space, quoted lines and the signature left out.
        let withNUL = Array("Content-Type: text/plain\r\n\r\n> quoted\r\nzero\0byte here\r\n-- \r\nsig\r\n".utf8)
        let summary = MIMEParser.summarise(withNUL)
        #expect(MessageText.preview(summary) { Array(withNUL[$0.clamped(to: 0..<withNUL.count)]) } == "zero byte here")
        // A long line or a long word is read only as far as the preview needs; the preview is
        // what reading all of it would give.
        let longWord = Array(("Content-Type: text/plain\r\n\r\n  \t" + String(repeating: "x", count: 5_000) + "\r\n").utf8)
        #expect(MessageText.preview(MIMEParser.summarise(longWord)) { Array(longWord[$0.clamped(to: 0..<longWord.count)]) }
                == String(repeating: "x", count: 200))
        let words = (1...400).map { "w\($0)" }
        let longLine = Array(("Content-Type: text/plain\r\n\r\n   > quoted, left out\r\n" + words.joined(separator: "  ") + "\r\n").utf8)
        let expected = String(words.joined(separator: " ").prefix(200))
        #expect(MessageText.preview(MIMEParser.summarise(longLine)) { Array(longLine[$0.clamped(to: 0..<longLine.count)]) } == expected)
        // Only HTML: the raw body rather than nothing.
        #expect(MessageText.plain(Array("Content-Type: text/html\r\n\r\n<b>help</b>".utf8)) == "<b>help</b>")
    }
}
