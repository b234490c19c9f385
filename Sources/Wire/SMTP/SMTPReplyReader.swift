import WireCore

/// Reads a remote server's replies (the SMTP client's side of RFC 5321 §4.2): bytes in, whole
/// replies out. Strict, since the bytes come from any server on the Internet: only CRLF ends a
/// line, every line of a reply has the same three-digit code, a line is at most
/// `SMTPReplyReader.lineLimit` bytes and a reply at most `lineCountLimit` lines. A server that
/// breaks any of that gets `SMTPReplyError`, which the client turns into a deferral.
public struct SMTPReplyReader: Sendable {
    /// RFC 5321 §4.5.3.1.5 allows 512 bytes per reply line; servers in the wild send longer
    /// ones (long EHLO keywords, verbose rejections), so this is more generous but bounded.
    public static let lineLimit = 4_096
    /// EHLO replies of some 30 lines are common; a reply longer than this is an attack.
    public static let lineCountLimit = 200

    private var buffer = LineBuffer()
    private var pending: (code: Int, lines: [String])?

    public init() {}

    public mutating func append(_ bytes: some Collection<UInt8>) {
        buffer.append(bytes)
    }

    /// Bytes received but not yet read as part of a reply (after the last reply: none, unless
    /// the server sent something it was not asked for).
    public var unreadCount: Int { buffer.count }

    /// Drops anything buffered: after STARTTLS nothing received in plain text may be read as
    /// coming through TLS (the client-side twin of the STARTTLS injection attack).
    public mutating func discardAll() {
        buffer.discardAll()
        pending = nil
    }

    /// The next whole reply, or nil when more bytes are needed.
    public mutating func next() throws(SMTPReplyError) -> SMTPReply? {
        while true {
            let line: ArraySlice<UInt8>?
            do { line = try buffer.nextLine(limit: Self.lineLimit) } catch { throw .line(error) }
            guard let line else { return nil }
            let (code, last, text) = try Self.parse(line)
            var current = pending ?? (code, [])
            guard current.code == code else { throw .codeChanged(from: current.code, to: code) }
            current.lines.append(text)
            guard current.lines.count <= Self.lineCountLimit else { throw .tooManyLines }
            if last {
                pending = nil
                return Self.reply(code: code, lines: current.lines)
            }
            pending = current
        }
    }

    /// `DDD`, `DDD text` or `DDD-text` (RFC 5321 §4.2): the code, whether the line is the last
    /// one, and the text.
    static func parse(_ line: ArraySlice<UInt8>) throws(SMTPReplyError) -> (Int, Bool, String) {
        let bytes = Array(line)
        guard bytes.count >= 3, (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(bytes[0]),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[1]),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[2]) else {
            throw .notAReply(String(decoding: bytes.prefix(80), as: UTF8.self))
        }
        let code = Int(bytes[0] - 0x30) * 100 + Int(bytes[1] - 0x30) * 10 + Int(bytes[2] - 0x30)
        guard bytes.count > 3 else { return (code, true, "") }
        guard bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-") else {
            throw .notAReply(String(decoding: bytes.prefix(80), as: UTF8.self))
        }
        // Text is kept for logs and DSNs: control characters other than tab become "?".
        let text = bytes[4...].map { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7f) ? $0 : UInt8(ascii: "?") }
        return (code, bytes[3] == UInt8(ascii: " "), String(decoding: text, as: UTF8.self))
    }

    /// RFC 3463 / RFC 2034: an enhanced status code at the start of the text whose class
    /// matches the reply's first digit is taken out of the text; anything else stays text.
    static func reply(code: Int, lines: [String]) -> SMTPReply {
        guard let first = lines.first, let enhanced = enhancedCode(first, replyCode: code) else {
            return SMTPReply(code, nil, lines)
        }
        let stripped = lines.map { line -> String in
            guard line.hasPrefix(enhanced) else { return line }
            return String(line.dropFirst(enhanced.count).drop(while: { $0 == " " }))
        }
        return SMTPReply(code, enhanced, stripped)
    }

    /// `class "." subject "." detail` (RFC 3463 §2): class 2, 4 or 5 and the reply's first
    /// digit; subject and detail 1–3 digits without leading zeros beyond a lone 0.
    static func enhancedCode(_ text: String, replyCode: Int) -> String? {
        let word = text.prefix { $0 != " " }
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1, let category = Int(parts[0]), category == replyCode / 100,
              [2, 4, 5].contains(category) else { return nil }
        for part in parts.dropFirst() {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part == "0" || !part.hasPrefix("0") else { return nil }
        }
        return String(word)
    }
}

/// Why a server's bytes were not a reply.
public enum SMTPReplyError: Error, Equatable, Sendable, CustomStringConvertible {
    case line(LineError)
    case notAReply(String)
    case codeChanged(from: Int, to: Int)
    case tooManyLines

    public var description: String {
        switch self {
        case .line(.bareLineFeed): "the server ended a line with a bare LF"
        case .line(.bareCarriageReturn): "the server sent a bare CR"
        case .line(.lineTooLong): "the server sent a reply line longer than \(SMTPReplyReader.lineLimit) bytes"
        case .notAReply(let start): "the server sent something that is not an SMTP reply: \(start)"
        case .codeChanged(let from, let to): "the server changed the reply code from \(from) to \(to) within a reply"
        case .tooManyLines: "the server sent a reply of more than \(SMTPReplyReader.lineCountLimit) lines"
        }
    }
}
