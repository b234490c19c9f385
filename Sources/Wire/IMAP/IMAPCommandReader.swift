import Foundation
import WireCore

/// Collects one whole command from the input: its lines and the literals inside it (RFC 9051
/// §4.3, RFC 7888 LITERAL+). A synchronizing literal asks the session to send a continuation
/// first; a literal over the limit is refused before its data is sent (or, when the client did
/// not wait for permission, ends the session).
///
/// An APPEND's message literal larger than `literalLimit` (up to `streamedLiteralLimit`) is not
/// collected: the reader hands it out piece by piece (`.literalStarts`, then `.literalData`) for
/// the session to spool, and leaves `{*}` in its place in the command, so the
/// command itself stays small; a MULTIAPPEND may stream several, in order. No other literal
/// may be large.
public struct IMAPCommandReader: Sendable {
    public enum Step: Equatable, Sendable {
        /// A complete command: its bytes from the tag to the final CRLF (excluded).
        case command([UInt8])
        /// Send `+ ...` and call again: the client waits before sending the literal.
        case continuation
        /// An APPEND message literal of `size` octets follows as `.literalData` (`binary`: a
        /// literal8, RFC 3516). When `synchronizing`, send `+ ...` first. The command that
        /// comes after holds `{*}` where this one was.
        case literalStarts(size: Int, binary: Bool, synchronizing: Bool)
        /// The next piece of the streamed literal.
        case literalData(ArraySlice<UInt8>)
        /// More input is needed.
        case needInput
        /// A synchronizing literal too large: answer the tagged NO/BAD and carry on.
        case refusedLiteral(tag: String, size: Int)
        /// The connection cannot continue (bare line ending, line or command too long, a
        /// non-synchronizing literal too large).
        case fatal(String)
    }

    public let lineLimit: Int
    /// Literals collected into the command; raised once the client has logged in, small before
    /// (see `IMAPLimits`).
    public var literalLimit: Int
    /// An APPEND message literal handed out in pieces; 0 (before login) streams nothing.
    public var streamedLiteralLimit: Int
    public var commandLimit: Int
    private var pending: [UInt8] = []
    private var literalRemaining = 0
    private var streamRemaining = 0

    public init(lineLimit: Int, literalLimit: Int, streamedLiteralLimit: Int = 0, commandLimit: Int) {
        self.lineLimit = lineLimit
        self.literalLimit = literalLimit
        self.streamedLiteralLimit = streamedLiteralLimit
        self.commandLimit = commandLimit
    }

    /// The largest literal accepted in any form.
    public var largestLiteral: Int { max(literalLimit, streamedLiteralLimit) }

    public var isIdle: Bool { pending.isEmpty && literalRemaining == 0 && streamRemaining == 0 }

    public mutating func next(from input: inout LineBuffer) -> Step {
        while true {
            if streamRemaining > 0 {
                let piece = input.take(upTo: streamRemaining)
                if piece.isEmpty { return .needInput }
                streamRemaining -= piece.count
                return .literalData(piece)
            }
            if literalRemaining > 0 {
                let piece = input.take(upTo: literalRemaining)
                if piece.isEmpty { return .needInput }
                pending.append(contentsOf: piece)
                literalRemaining -= piece.count
                continue
            }
            let line: ArraySlice<UInt8>
            do {
                guard let next = try input.nextLine(limit: lineLimit) else { return .needInput }
                line = next
            } catch {
                return .fatal(error == .lineTooLong ? "line too long" : "lines end with CRLF")
            }
            pending.append(contentsOf: line)
            guard pending.count <= commandLimit else { return .fatal("command too long") }
            guard let (size, synchronizing) = Self.literalAnnouncement(line) else {
                defer { pending = [] }
                return .command(pending)
            }
            if size > literalLimit, size <= streamedLiteralLimit, Self.isAppend(pending),
               let open = pending.lastIndex(of: UInt8(ascii: "{")) {
                // The message goes to the session in pieces; the command keeps `{*}` for it.
                let binary = open > pending.startIndex && pending[open - 1] == UInt8(ascii: "~")
                pending.removeSubrange(open...)
                pending.append(contentsOf: IMAPParser.streamedPlaceholder)
                streamRemaining = size
                return .literalStarts(size: size, binary: binary, synchronizing: synchronizing)
            }
            guard size <= literalLimit else {
                let tag = String(decoding: pending.prefix { $0 != UInt8(ascii: " ") }.prefix(64), as: UTF8.self)
                pending = []
                if synchronizing { return .refusedLiteral(tag: tag, size: size) }
                return .fatal("literal of \(size) octets is too large")
            }
            pending.append(contentsOf: [0x0D, 0x0A])
            literalRemaining = size
            if synchronizing && size > 0 { return .continuation }
        }
    }

    /// Whether the command so far is `tag APPEND ...`.
    static func isAppend(_ command: [UInt8]) -> Bool {
        let words = command.prefix(80).split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        return words.count == 3 && words[1].count == 6
            && String(decoding: words[1], as: UTF8.self).uppercased() == "APPEND"
    }

    /// `{n}` or `{n+}` at the end of a line: the size and whether the client waits.
    public static func literalAnnouncement(_ line: ArraySlice<UInt8>) -> (Int, Bool)? {
        guard line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var digits = line[(open + 1)..<(line.endIndex - 1)]
        let synchronizing = digits.last != UInt8(ascii: "+")
        if !synchronizing { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let size = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
        return (size, synchronizing)
    }
}

/// Building IMAP response text: strings quoted or as literals, NIL, lists.
public enum IMAPText {
    /// A string as a quoted string when it can be one, else a literal.
    public static func string(_ text: String?) -> [UInt8] {
        guard let text else { return Array("NIL".utf8) }
        return string(Array(text.utf8))
    }

    public static func string(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.count < 1_000, bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return [UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")]
        }
        return literal(bytes)
    }

    public static func literal(_ bytes: [UInt8]) -> [UInt8] {
        Array("{\(bytes.count)}\r\n".utf8) + bytes
    }

    /// A mailbox name as an astring (quoted when needed).
    public static func mailbox(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8)
        if !bytes.isEmpty, bytes.allSatisfy({ ($0 > 0x20 && $0 < 0x7f && !IMAPParser.atomSpecials.contains($0)) }) { return bytes }
        return string(bytes)
    }
}

/// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), for clients that have not enabled UTF8=ACCEPT.
public enum ModifiedUTF7 {
    public static func encode(_ text: String) -> String {
        var output = ""
        var pending: [UInt16] = []
        func flush() {
            guard !pending.isEmpty else { return }
            var bytes: [UInt8] = []
            for unit in pending { bytes += [UInt8(unit >> 8), UInt8(unit & 0xff)] }
            let encoded = Base64.encode(bytes).replacingOccurrences(of: "/", with: ",").replacingOccurrences(of: "=", with: "")
            output += "&" + encoded + "-"
            pending = []
        }
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value <= 0x7e {
                flush()
                output += scalar == "&" ? "&-" : String(scalar)
            } else {
                pending += Array(String(scalar).utf16)
            }
        }
        flush()
        return output
    }

    /// Nil for a name that is not valid modified UTF-7.
    public static func decode(_ text: String) -> String? {
        var output = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            output += rest[..<amp]
            guard let dash = rest[amp...].firstIndex(of: "-") else { return nil }
            let encoded = rest[rest.index(after: amp)..<dash]
            if encoded.isEmpty {
                output += "&"
            } else {
                var base64 = encoded.replacingOccurrences(of: ",", with: "/")
                while base64.utf8.count % 4 != 0 { base64 += "=" }
                guard let bytes = Base64.decode(Array(base64.utf8)) else { return nil }
                var units: [UInt16] = []
                var index = 0
                while index + 1 < bytes.count {
                    units.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]))
                    index += 2
                }
                guard let decoded = String(utf16CodeUnits: units, count: units.count) as String? else { return nil }
                output += decoded
            }
            rest = rest[rest.index(after: dash)...]
        }
        return output + rest
    }
}
