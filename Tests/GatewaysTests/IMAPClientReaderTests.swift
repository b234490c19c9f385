import IMAPWire
import Testing

/// The collector's side of IMAP framing: responses with their literals, bounded, taken apart.
@Suite("IMAP client reader")
struct IMAPClientReaderTests {
    static func responses(_ text: String, pieces: Int = 1, limit: Int? = nil) throws -> [IMAPServerResponse] {
        var reader = IMAPClientReader(lineLimit: 200, responseLimit: 1_000)
        var found: [IMAPServerResponse] = []
        let bytes = Array(text.utf8)
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        for start in stride(from: 0, to: bytes.count, by: size) {
            reader.append(bytes[start..<min(start + size, bytes.count)])
            while let response = try reader.next(limit: limit) { found.append(response) }
        }
        #expect(reader.buffered == 0)
        return found
    }

    @Test("status responses, tagged and untagged, with codes; continuations; data")
    func statuses() throws {
        let found = try Self.responses("* OK [CAPABILITY IMAP4rev1 STARTTLS SASL-IR] Dovecot ready.\r\n+ \r\n+ PDEyMz4=\r\n"
                                       + "* 3 EXISTS\r\n* OK [UIDVALIDITY 1700000001] UIDs valid\r\nC1 no [AUTHENTICATIONFAILED] Bad\r\n* BYE bye\r\n")
        #expect(found == [
            .status(tag: nil, .ok, code: "CAPABILITY IMAP4rev1 STARTTLS SASL-IR", text: "Dovecot ready."),
            .continuation(""), .continuation("PDEyMz4="),
            .data([.atom("3"), .atom("EXISTS")]),
            .status(tag: nil, .ok, code: "UIDVALIDITY 1700000001", text: "UIDs valid"),
            .status(tag: "C1", .no, code: "AUTHENTICATIONFAILED", text: "Bad"),
            .status(tag: nil, .bye, code: nil, text: "bye"),
        ])
    }

    @Test("FETCH with a literal, byte by byte or whole; quoted strings with escapes; sections with spaces; NIL")
    func fetch() throws {
        let text = "* 2 FETCH (UID 9 RFC822.SIZE 5 FLAGS (\\Seen $Junk) BODY[HEADER.FIELDS (FROM TO)] {5}\r\nhe\r\no X \"a \\\"q\\\" \\\\\" Y NIL)\r\nC4 OK Fetch completed\r\n"
        for pieces in [1, 7, text.utf8.count] {
            let found = try Self.responses(text, pieces: pieces)
            #expect(found.count == 2)
            let fetch = try #require(found.first?.fetch)
            #expect(fetch.number == 2)
            #expect(fetch.attributes["UID"]?.number == 9 && fetch.attributes["RFC822.SIZE"]?.number == 5)
            #expect(fetch.attributes["FLAGS"] == .list([.atom("\\Seen"), .atom("$Junk")]))
            #expect(fetch.attributes["BODY[HEADER.FIELDS (FROM TO)]"]?.bytes == Array("he\r\no".utf8))
            #expect(fetch.attributes["X"]?.bytes == Array("a \"q\" \\".utf8))
            #expect(fetch.attributes["Y"] == .atom("NIL") && fetch.attributes["Y"]?.bytes == nil)
        }
        // An empty literal, and RFC 7888's {N+}.
        let empty = try Self.responses("* 1 FETCH (BODY[] {0}\r\n UID 3)\r\n* 2 FETCH (BODY[] {2+}\r\nab)\r\n")
        #expect(empty[0].fetch?.attributes["BODY[]"]?.bytes == [] && empty[0].fetch?.attributes["UID"]?.number == 3)
        #expect(empty[1].fetch?.attributes["BODY[]"]?.bytes == Array("ab".utf8))
    }

    @Test("bounds: a long line, a literal over the limit (before its bytes arrive), a response over the limit")
    func bounds() {
        #expect(throws: IMAPClientReadError.responseTooLarge) { _ = try Self.responses("* OK " + String(repeating: "x", count: 300) + "\r\n") }
        #expect(throws: IMAPClientReadError.responseTooLarge) { _ = try Self.responses("* 1 FETCH (BODY[] {5000}\r\n") }
        #expect(throws: IMAPClientReadError.responseTooLarge) {
            _ = try Self.responses("* 1 FETCH (BODY[] {50}\r\n" + String(repeating: "y", count: 50) + ")\r\n", limit: 40)
        }
        // More digits than any size: not a literal, and the line does not parse.
        #expect(throws: IMAPClientReadError.malformed("a bad literal: * 1 FETCH (BODY[] {99999999999999}")) {
            _ = try Self.responses("* 1 FETCH (BODY[] {99999999999999}\r\n")
        }
    }

    @Test("malformed: unbalanced lists, unclosed strings, bad tags, a control character, a tagged answer that is no status")
    func malformed() {
        for text in ["* 1 FETCH (UID 1\r\n", "* 1 FETCH UID 1)\r\n", "* 1 FETCH (X \"abc)\r\n", "\r\n", "nospace\r\n",
                     "C1 FETCH (UID 1)\r\n", "* 1 FETCH (X a\u{1}b)\r\n", "* OK [UNCLOSED text\r\n",
                     "* " + String(repeating: "(", count: 40) + "\r\n"] {
            #expect(throws: IMAPClientReadError.self, "\(text.debugDescription)") { _ = try Self.responses(text) }
        }
    }
}
