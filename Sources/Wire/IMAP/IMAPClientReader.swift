/// A value in an IMAP server's response data (RFC 9051 §4): an atom (numbers, `NIL`, flags,
/// `BODY[…]` with its section), a string (quoted or literal, as bytes), or a parenthesized list.
public indirect enum IMAPValue: Sendable, Equatable {
    case atom(String)
    case string([UInt8])
    case list([IMAPValue])

    /// The atom's text, upper-cased; nil for strings and lists.
    public var keyword: String? {
        if case .atom(let text) = self { return text.uppercased() }
        return nil
    }

    /// A number atom's value.
    public var number: Int? {
        guard case .atom(let text) = self, !text.isEmpty, text.count <= 18, text.allSatisfy(\.isASCII) else { return nil }
        return Int(text)
    }

    /// A string's bytes; `NIL` is nil.
    public var bytes: [UInt8]? {
        if case .string(let bytes) = self { return bytes }
        return nil
    }
}

/// A server response as a client reads it (RFC 9051 §7).
public enum IMAPServerResponse: Sendable, Equatable {
    public enum Status: String, Sendable {
        case ok = "OK", no = "NO", bad = "BAD", preauth = "PREAUTH", bye = "BYE"
    }

    /// A status response, tagged or untagged (`tag` nil), with its response code (the text in
    /// brackets, e.g. `UIDVALIDITY 3857529045`) and its human-readable text.
    case status(tag: String?, Status, code: String?, text: String)
    /// `+ text`: the server waits for more from the client (AUTHENTICATE, a literal, IDLE).
    case continuation(String)
    /// Untagged data (`* 12 EXISTS`, `* SEARCH 1 2`, `* 5 FETCH (…)`): the values after `*`.
    case data([IMAPValue])
}

/// What an IMAP server sent that a client cannot take.
public enum IMAPClientReadError: Error, Equatable, Sendable {
    /// A line longer than the limit, or a response (with its literals) larger than allowed.
    case responseTooLarge
    /// A response that does not parse: the reason and the start of the line.
    case malformed(String)
}

/// The client side of IMAP's framing over received bytes: one response at a time, with its
/// literals (`{N}` CRLF then N octets) read through, each response bounded. Pure: bytes in,
/// responses out, nothing read from a socket here.
public struct IMAPClientReader: Sendable {
    var bytes: [UInt8] = []
    var start = 0
    /// Where framing stopped in the response being gathered (relative to `start`), so a large
    /// literal arriving in pieces is not scanned again from its beginning.
    var scanned = 0
    /// Longest line between literals.
    public var lineLimit: Int
    /// Largest response, literals included, unless a call asks for another bound.
    public var responseLimit: Int

    public init(lineLimit: Int = 64 * 1024, responseLimit: Int = 1 << 20) {
        self.lineLimit = lineLimit
        self.responseLimit = responseLimit
    }

    public mutating func append(_ received: some Collection<UInt8>) {
        if start > 0 && (start == bytes.count || start > 65_536) {
            bytes.removeSubrange(0..<start)
            start = 0
        }
        bytes.append(contentsOf: received)
    }

    /// Bytes received and not read yet.
    public var buffered: Int { bytes.count - start }

    /// The next whole response, or nil until it has arrived. `limit` bounds it, literals
    /// included (the reader's `responseLimit` when nil).
    public mutating func next(limit: Int? = nil) throws(IMAPClientReadError) -> IMAPServerResponse? {
        let limit = limit ?? responseLimit
        // Framing: lines, each possibly ending in a literal's announcement.
        var position = start + scanned
        while true {
            let window = bytes[position...].prefix(lineLimit + 1)
            guard let newline = window.firstIndex(of: 0x0A) else {
                if bytes.count - position > lineLimit { throw .responseTooLarge }
                scanned = position - start
                return nil
            }
            guard newline + 1 - start <= limit else { throw .responseTooLarge }
            guard let length = Self.literalLength(bytes[position..<newline]) else {
                let response = Array(bytes[start...newline])
                start = newline + 1
                scanned = 0
                return try Self.parse(response)
            }
            guard length <= limit, newline + 1 + length - start <= limit else { throw .responseTooLarge }
            guard bytes.count >= newline + 1 + length else {
                // The literal's announcement line is whole; wait for its octets.
                scanned = position - start
                return nil
            }
            position = newline + 1 + length
        }
    }

    /// `{N}` or `{N+}` (RFC 7888) at the end of a line, before its CRLF: N.
    static func literalLength(_ line: ArraySlice<UInt8>) -> Int? {
        var line = line
        if line.last == 0x0D { line = line.dropLast() }
        guard line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var digits = line[(open + 1)..<(line.endIndex - 1)]
        if digits.last == UInt8(ascii: "+") { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    /// One framed response, CRLF (or LF) at its end.
    static func parse(_ response: [UInt8]) throws(IMAPClientReadError) -> IMAPServerResponse {
        var end = response.count
        if end > 0 && response[end - 1] == 0x0A { end -= 1 }
        if end > 0 && response[end - 1] == 0x0D { end -= 1 }
        let line = response[..<end]
        func malformed(_ why: String) -> IMAPClientReadError {
            .malformed("\(why): \(String(decoding: line.prefix(80), as: UTF8.self))")
        }
        guard let first = line.first else { throw malformed("an empty line") }
        if first == UInt8(ascii: "+") {
            return .continuation(String(decoding: line.dropFirst().drop { $0 == 0x20 }, as: UTF8.self))
        }
        guard let space = line.firstIndex(of: 0x20) else { throw malformed("no space after the tag") }
        let tag = String(decoding: line[..<space], as: UTF8.self)
        let rest = line[(space + 1)...]
        guard !tag.isEmpty, tag.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "(") }) else {
            throw malformed("a bad tag")
        }
        // A status response: the word, an optional [code], the text.
        let word = rest.prefix { $0 != 0x20 }
        if let status = IMAPServerResponse.Status(rawValue: String(decoding: word, as: UTF8.self).uppercased()) {
            var text = rest.dropFirst(word.count).drop { $0 == 0x20 }
            var code: String?
            if text.first == UInt8(ascii: "[") {
                guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { throw malformed("an unclosed response code") }
                code = String(decoding: text[(text.startIndex + 1)..<close], as: UTF8.self)
                text = text[(close + 1)...].drop { $0 == 0x20 }
            }
            return .status(tag: tag == "*" ? nil : tag, status, code: code, text: String(decoding: text, as: UTF8.self))
        }
        guard tag == "*" else { throw malformed("a tagged response that is not OK, NO or BAD") }
        var tokenizer = Tokenizer(bytes: response, position: rest.startIndex, end: end)
        var values: [IMAPValue] = []
        do {
            while let value = try tokenizer.value(depth: 0) { values.append(value) }
        } catch .malformed(let why) {
            throw malformed(why)
        } catch {
            throw error
        }
        return .data(values)
    }

    /// Values from a response's data, literals read in place.
    struct Tokenizer {
        let bytes: [UInt8]
        var position: Int
        /// The response's end before its last CRLF: line ends inside it follow literals' announcements.
        let end: Int

        mutating func value(depth: Int) throws(IMAPClientReadError) -> IMAPValue? {
            while position < end && bytes[position] == 0x20 { position += 1 }
            guard position < end else { return nil }
            guard depth < 32 else { throw .malformed("lists nested too deep") }
            switch bytes[position] {
            case UInt8(ascii: "("):
                position += 1
                var items: [IMAPValue] = []
                while true {
                    while position < end && bytes[position] == 0x20 { position += 1 }
                    guard position < end else { throw .malformed("an unclosed list") }
                    if bytes[position] == UInt8(ascii: ")") {
                        position += 1
                        return .list(items)
                    }
                    guard let item = try value(depth: depth + 1) else { throw .malformed("an unclosed list") }
                    items.append(item)
                }
            case UInt8(ascii: ")"):
                throw .malformed("a ) without its (")
            case UInt8(ascii: "\""):
                position += 1
                var text: [UInt8] = []
                while position < end {
                    let byte = bytes[position]
                    position += 1
                    if byte == UInt8(ascii: "\"") { return .string(text) }
                    if byte == UInt8(ascii: "\\") {
                        guard position < end else { break }
                        text.append(bytes[position])
                        position += 1
                    } else if byte == 0x0D || byte == 0x0A {
                        throw .malformed("a line end in a quoted string")
                    } else {
                        text.append(byte)
                    }
                }
                throw .malformed("an unclosed quoted string")
            case UInt8(ascii: "{"):
                guard let close = bytes[position..<end].firstIndex(of: UInt8(ascii: "}")),
                      let length = IMAPClientReader.literalLength(bytes[position...close]) else {
                    throw .malformed("a bad literal")
                }
                // The announcement's CRLF (or LF), then the octets; the line goes on after them.
                var start = close + 1
                if start < end && bytes[start] == 0x0D { start += 1 }
                guard start < end && bytes[start] == 0x0A else { throw .malformed("a literal not at a line's end") }
                start += 1
                guard start + length <= end else { throw .malformed("a literal cut short") }
                position = start + length
                return .string(Array(bytes[start..<position]))
            default:
                // An atom, with a bracketed section (`BODY[HEADER.FIELDS (FROM)]`) read whole.
                let begin = position
                var brackets = 0
                while position < end {
                    let byte = bytes[position]
                    if byte == UInt8(ascii: "[") { brackets += 1 }
                    else if byte == UInt8(ascii: "]") { brackets = max(0, brackets - 1) }
                    else if brackets == 0 && (byte == 0x20 || byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")")
                                              || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"")) { break }
                    else if byte < 0x20 || byte == 0x7F { throw .malformed("a control character") }
                    position += 1
                }
                return .atom(String(decoding: bytes[begin..<position], as: UTF8.self))
            }
        }
    }
}

extension IMAPServerResponse {
    /// A FETCH response's message number and its attributes (names upper-cased):
    /// `* 5 FETCH (UID 7 RFC822.SIZE 120)` → (5, ["UID": 7, "RFC822.SIZE": 120]).
    public var fetch: (number: Int, attributes: [String: IMAPValue])? {
        guard case .data(let values) = self, values.count == 3, let number = values[0].number, values[1].keyword == "FETCH",
              case .list(let items) = values[2], items.count % 2 == 0 else { return nil }
        var attributes: [String: IMAPValue] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let name = items[index].keyword else { return nil }
            attributes[name] = items[index + 1]
        }
        return (number, attributes)
    }
}
