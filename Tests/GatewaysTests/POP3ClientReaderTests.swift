import POP3Wire
import Testing

@Suite("POP3 client reader")
struct POP3ClientReaderTests {
    @Test("status lines: +OK, -ERR, continuations; anything else refused; fed byte by byte")
    func statuses() throws {
        var reader = POP3ClientReader()
        for byte in Array("+OK ready <1.2@isp>\r\n-ERR no\r\n+ Y2hhbGxlbmdl\r\n".utf8) { reader.append([byte]) }
        #expect(try reader.status() == .ok("ready <1.2@isp>"))
        #expect(try reader.status() == .error("no"))
        #expect(try reader.status() == .continuation("Y2hhbGxlbmdl"))
        #expect(try reader.status() == nil)
        reader.append(Array("HELLO\r\n".utf8))
        #expect(throws: POP3ClientReadError.malformedStatus("HELLO")) { try reader.status() }
    }

    @Test("multi-line: dot-unstuffed, CRLF line ends (a bare LF taken as one), bounded in size and line length")
    func multiline() throws {
        var reader = POP3ClientReader(lineLimit: 100)
        reader.append(Array("Subject: x\r\n\r\n..dotted\nbare\r\n.\r\n".utf8))
        #expect(try reader.multiline(limit: 1_000) == Array("Subject: x\r\n\r\n.dotted\r\nbare\r\n".utf8))
        reader.append(Array("partial\r\n".utf8))
        #expect(try reader.multiline(limit: 1_000) == nil)
        reader.append(Array(".\r\n".utf8))
        #expect(try reader.multiline(limit: 1_000) == Array("partial\r\n".utf8))
        reader.append(Array(repeating: UInt8(ascii: "y"), count: 200))
        #expect(throws: POP3ClientReadError.lineTooLong) { try reader.multiline(limit: 1_000) }
        var small = POP3ClientReader()
        small.append(Array("12345678\r\n12345678\r\n.\r\n".utf8))
        #expect(throws: POP3ClientReadError.responseTooLarge) { try small.multiline(limit: 15) }
    }

    @Test("UIDL and LIST listings: numbers and ids checked, a number twice refused")
    func listings() throws {
        let uids = try POP3ClientReader.uniqueIDs(Array("1 abc\r\n2  def \r\n".utf8))
        #expect(uids.map(\.number) == [1, 2] && uids.map(\.uid) == ["abc", "def"])
        #expect(throws: POP3ClientReadError.self) { try POP3ClientReader.uniqueIDs(Array("1 abc\r\n1 def\r\n".utf8)) }
        #expect(throws: POP3ClientReadError.self) { try POP3ClientReader.uniqueIDs(Array("x abc\r\n".utf8)) }
        #expect(throws: POP3ClientReadError.self) { try POP3ClientReader.uniqueIDs(Array("1 \(String(repeating: "a", count: 71))\r\n".utf8)) }
        #expect(throws: POP3ClientReadError.self) { try POP3ClientReader.uniqueIDs(Array("0 abc\r\n".utf8)) }
        #expect(try POP3ClientReader.sizes(Array("1 120\r\n2 3400 extra\r\n".utf8)) == [1: 120, 2: 3400])
        #expect(throws: POP3ClientReadError.self) { try POP3ClientReader.sizes(Array("1 big\r\n".utf8)) }
    }
}
