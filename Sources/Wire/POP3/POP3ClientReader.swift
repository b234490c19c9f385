/// A POP3 server's status line as a client reads it (RFC 1939 §3): `+OK` or `-ERR` with its
/// text; the text of `+OK` answers to AUTH continuations (`+ challenge`) is kept as well.
public enum POP3ServerStatus: Equatable, Sendable {
    case ok(String)
    case error(String)
    /// RFC 5034 §4: `+ base64` during AUTH.
    case continuation(String)

    public var isOK: Bool {
        if case .ok = self { return true }
        return false
    }

    public var text: String {
        switch self {
        case .ok(let text), .error(let text), .continuation(let text): text
        }
    }
}

/// What a POP3 server sent that a client cannot take.
public enum POP3ClientReadError: Error, Equatable, Sendable {
    /// A line longer than the limit (RFC 2449 §4 allows 512 octets for a status line).
    case lineTooLong
    /// A multi-line response larger than the limit.
    case responseTooLarge
    /// Neither `+OK`, `-ERR` nor `+ `.
    case malformedStatus(String)
    /// A listing line that is not `number SP value`, a UIDL outside RFC 1939 §7's rules, or a
    /// message number listed twice.
    case malformedListing(String)
}

/// The client side of POP3's framing over received bytes: status lines and dot-terminated
/// multi-line responses (dot-unstuffed, lines ending CRLF), each with a bound. Pure: bytes in,
/// responses out, nothing read from a socket here.
public struct POP3ClientReader: Sendable {
    var bytes: [UInt8] = []
    var start = 0
    /// A multi-line response being gathered.
    var body: [UInt8] = []
    /// Longest status line, listing line or message line accepted.
    public var lineLimit: Int
    /// RFC 2449 §4: status lines are at most 512 octets; 1 000 tolerates servers that add more.
    public static let statusLineLimit = 1_000

    public init(lineLimit: Int = 64 * 1024) {
        self.lineLimit = lineLimit
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

    /// The next line without its line end. Deviation from RFC 1939 §3 (CRLF only): a bare LF
    /// also ends a line, because mail kept at ISPs has bare LFs and refusing it would leave
    /// the message on the server for ever; the line is stored with CRLF.
    mutating func nextLine(limit: Int) throws(POP3ClientReadError) -> ArraySlice<UInt8>? {
        guard let newline = bytes[start...].prefix(limit + 1).firstIndex(of: 0x0A) else {
            if bytes.count - start > limit { throw .lineTooLong }
            return nil
        }
        var line = bytes[start..<newline]
        if line.last == 0x0D { line = line.dropLast() }
        start = newline + 1
        return line
    }

    /// The next status line, or nil until a whole one has arrived.
    public mutating func status() throws(POP3ClientReadError) -> POP3ServerStatus? {
        guard let line = try nextLine(limit: Self.statusLineLimit) else { return nil }
        return try Self.parseStatus(line)
    }

    static func parseStatus(_ line: ArraySlice<UInt8>) throws(POP3ClientReadError) -> POP3ServerStatus {
        let text = String(decoding: line, as: UTF8.self)
        if line.starts(with: "+OK".utf8) {
            return .ok(String(text.dropFirst(3).drop { $0 == " " }))
        }
        if line.starts(with: "-ERR".utf8) {
            return .error(String(text.dropFirst(4).drop { $0 == " " }))
        }
        if line.first == UInt8(ascii: "+"), line.count == 1 || line.dropFirst().first == UInt8(ascii: " ") {
            return .continuation(String(text.dropFirst(2)))
        }
        throw .malformedStatus(String(text.prefix(100)))
    }

    /// The rest of a multi-line response after its `+OK` line, once its terminating `.` line
    /// has arrived: lines dot-unstuffed (RFC 1939 §3), each ending CRLF. Nil until then.
    /// `limit` bounds the whole response.
    public mutating func multiline(limit: Int) throws(POP3ClientReadError) -> [UInt8]? {
        while true {
            guard let line = try nextLine(limit: lineLimit) else { return nil }
            if line.count == 1 && line.first == UInt8(ascii: ".") {
                defer { body = [] }
                return body
            }
            let content = line.first == UInt8(ascii: ".") ? line.dropFirst() : line
            guard body.count + content.count + 2 <= limit else {
                body = []
                throw .responseTooLarge
            }
            body += content
            body += [0x0D, 0x0A]
        }
    }

    /// A UIDL listing (RFC 1939 §7): message number → unique id, in the server's order.
    public static func uniqueIDs(_ listing: [UInt8]) throws(POP3ClientReadError) -> [(number: Int, uid: String)] {
        var seen = Set<Int>()
        var entries: [(number: Int, uid: String)] = []
        for line in lines(listing) {
            let (number, value) = try numbered(line)
            // RFC 1939 §7: 1 to 70 characters in the range 0x21 to 0x7E.
            guard (1...70).contains(value.count), value.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
                throw .malformedListing(String(decoding: line.prefix(100), as: UTF8.self))
            }
            guard seen.insert(number).inserted else { throw .malformedListing("message \(number) listed twice") }
            entries.append((number, String(decoding: value, as: UTF8.self)))
        }
        return entries
    }

    /// A LIST listing: message number → size in octets.
    public static func sizes(_ listing: [UInt8]) throws(POP3ClientReadError) -> [Int: Int] {
        var sizes: [Int: Int] = [:]
        for line in lines(listing) {
            let (number, value) = try numbered(line)
            // RFC 1939 §5: the size may be followed by more text; only the first word counts.
            let digits = value.prefix { $0 >= 0x30 && $0 <= 0x39 }
            guard !digits.isEmpty, digits.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self)) else {
                throw .malformedListing(String(decoding: line.prefix(100), as: UTF8.self))
            }
            guard sizes.updateValue(size, forKey: number) == nil else { throw .malformedListing("message \(number) listed twice") }
        }
        return sizes
    }

    private static func lines(_ listing: [UInt8]) -> [ArraySlice<UInt8>] {
        listing.split(separator: 0x0A).map { $0.last == 0x0D ? $0.dropLast() : $0 }.filter { !$0.isEmpty }
    }

    private static func numbered(_ line: ArraySlice<UInt8>) throws(POP3ClientReadError) -> (Int, ArraySlice<UInt8>) {
        guard let space = line.firstIndex(of: 0x20) else { throw .malformedListing(String(decoding: line.prefix(100), as: UTF8.self)) }
        let digits = line[..<space]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let number = Int(String(decoding: digits, as: UTF8.self)), number > 0 else {
            throw .malformedListing(String(decoding: line.prefix(100), as: UTF8.self))
        }
        var value = line[(space + 1)...]
        while value.first == 0x20 { value = value.dropFirst() }
        while value.last == 0x20 { value = value.dropLast() }
        return (number, value)
    }
}
