import SMTPClient
import Testing

@Suite("Dot-stuffing a body sent in pieces")
struct DotStufferTests {
    func stuffed(_ pieces: [String]) -> String {
        var stuffer = DotStuffer()
        var output: [UInt8] = []
        for piece in pieces { output += stuffer.stuff(Array(piece.utf8)) }
        return String(decoding: output + stuffer.finish(), as: UTF8.self)
    }

    @Test("a leading period is doubled, also when a piece ends between CR and LF")
    func periods() {
        #expect(stuffed([".a\r\nb\r\n..c\r\n"]) == "..a\r\nb\r\n...c\r\n.\r\n")
        #expect(stuffed(["a\r", "\n.b\r\n"]) == "a\r\n..b\r\n.\r\n")
        #expect(stuffed(["a\r\n", ".", "\r\n"]) == "a\r\n..\r\n.\r\n")
        #expect(stuffed(["a.b\n.c\r\n"]) == "a.b\n.c\r\n.\r\n")
    }

    @Test("a body without a final CRLF gets one before the end")
    func ending() {
        #expect(stuffed(["no end"]) == "no end\r\n.\r\n")
        #expect(stuffed([]) == ".\r\n")
    }
}
