import Foundation
import WireCore

/// Atoms, numbers, strings, literals, flags and lists: the pieces every command is made of.
extension IMAPParser {
    public var isAtEnd: Bool { index >= bytes.count }
    public var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    public mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    public mutating func expect(_ text: String) throws {
        for byte in text.utf8 {
            guard consume(byte) else { throw Failure(text: "expected \"\(text)\"") }
        }
    }

    public mutating func space() throws {
        guard consume(UInt8(ascii: " ")) else { throw Failure(text: "expected a space") }
    }

    public mutating func optionalSpace() throws -> Bool {
        consume(UInt8(ascii: " "))
    }

    public mutating func take(while predicate: (UInt8) -> Bool) -> ArraySlice<UInt8> {
        let start = index
        while let byte = peek, predicate(byte) { index += 1 }
        return bytes[start..<index]
    }

    public mutating func matchKeyword(_ word: String) -> Bool {
        let saved = index
        let found = take { Self.isAtomChar($0) }
        if String(decoding: found, as: UTF8.self).uppercased() == word, peek == UInt8(ascii: " ") { return true }
        index = saved
        return false
    }

    public static func isAtomChar(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7f && !atomSpecials.contains(byte) || byte == UInt8(ascii: "]")
    }

    public mutating func atom() throws -> String {
        let found = take { $0 > 0x20 && $0 < 0x7f && !Self.atomSpecials.contains($0) }
        guard !found.isEmpty else { throw Failure(text: "expected an atom") }
        return String(decoding: found, as: UTF8.self)
    }

    public mutating func number() throws -> Int64 {
        let digits = take { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard !digits.isEmpty, digits.count <= 19, let value = Int64(String(decoding: digits, as: UTF8.self)) else {
            throw Failure(text: "expected a number")
        }
        return value
    }

    /// astring: an atom (`]` allowed) or a string; UTF-8 allowed in atoms (RFC 9051 §9 utf8).
    public mutating func astring() throws -> String {
        if peek == UInt8(ascii: "\"") || peek == UInt8(ascii: "{") { return try string() }
        let found = take { ($0 > 0x20 && $0 < 0x7f && !Self.atomSpecials.contains($0)) || $0 == UInt8(ascii: "]") || $0 >= 0x80 }
        guard !found.isEmpty, let text = String(validating: found, as: UTF8.self) else { throw Failure(text: "expected a string") }
        return text
    }

    public mutating func nstring() throws -> String? {
        if peek == UInt8(ascii: "N") || peek == UInt8(ascii: "n") {
            let saved = index
            if try atom().uppercased() == "NIL" { return nil }
            index = saved
        }
        return try string()
    }

    /// Returns true after "(", false after NIL.
    public mutating func nilOrOpen() throws -> Bool {
        if consume(UInt8(ascii: "(")) { return true }
        guard try atom().uppercased() == "NIL" else { throw Failure(text: "expected ( or NIL") }
        return false
    }

    public mutating func string() throws -> String {
        if peek == UInt8(ascii: "{") {
            guard let text = String(validating: try literal(), as: UTF8.self) else { throw Failure(text: "literal is not UTF-8") }
            return text
        }
        return try quoted()
    }

    public mutating func quoted() throws -> String {
        try expect("\"")
        var result: [UInt8] = []
        while true {
            guard let byte = peek else { throw Failure(text: "unterminated quoted string") }
            index += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                guard let escaped = peek, escaped == UInt8(ascii: "\\") || escaped == UInt8(ascii: "\"") else {
                    throw Failure(text: "bad escape in quoted string")
                }
                index += 1
                result.append(escaped)
            } else {
                guard byte != 0x0D && byte != 0x0A && byte != 0 else { throw Failure(text: "line break in quoted string") }
                result.append(byte)
            }
        }
        guard let text = String(validating: result, as: UTF8.self) else { throw Failure(text: "quoted string is not UTF-8") }
        return text
    }

    /// `{n}` or `{n+}` CRLF then n bytes (the reader has already collected them).
    public mutating func literal() throws -> [UInt8] {
        try expect("{")
        let count = try number()
        _ = consume(UInt8(ascii: "+"))
        try expect("}\r\n")
        guard count >= 0, index + Int(count) <= bytes.count else { throw Failure(text: "literal shorter than announced") }
        defer { index += Int(count) }
        return Array(bytes[index..<(index + Int(count))])
    }

    /// An APPEND literal, or `{*}`: one the command reader streamed to the session's spool.
    public mutating func appendLiteral() throws -> (bytes: [UInt8], streamed: Bool) {
        if bytes[index...].starts(with: Self.streamedPlaceholder) {
            index += Self.streamedPlaceholder.count
            return ([], true)
        }
        return (try literal(), false)
    }

    /// What the command reader leaves where a streamed APPEND literal was.
    public static let streamedPlaceholder = Array("{*}\r\n".utf8)

    public mutating func listMailbox() throws -> String {
        if peek == UInt8(ascii: "\"") || peek == UInt8(ascii: "{") { return try string() }
        let found = take { ($0 > 0x20 && $0 < 0x7f && ($0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "]")
                || !Self.atomSpecials.contains($0))) || $0 >= 0x80 }
        guard !found.isEmpty, let text = String(validating: found, as: UTF8.self) else { throw Failure(text: "expected a mailbox pattern") }
        return text
    }

    public mutating func flag() throws -> String {
        if consume(UInt8(ascii: "\\")) {
            if consume(UInt8(ascii: "*")) { return "\\*" }
            return "\\" + (try atom())
        }
        return try atom()
    }

    public mutating func flagList() throws -> [String] {
        try expect("(")
        var flags: [String] = []
        if !consume(UInt8(ascii: ")")) {
            repeat {
                flags.append(try flag())
                guard flags.count <= 100 else { throw Failure(text: "too many flags") }
            } while try optionalSpace()
            try expect(")")
        }
        return flags
    }

    /// A parenthesised list of atoms or strings (one level).
    public mutating func parenthesised() throws -> [String] {
        try expect("(")
        var items: [String] = []
        if consume(UInt8(ascii: ")")) { return items }
        repeat {
            if peek == UInt8(ascii: "(") {
                items.append(contentsOf: try parenthesised()) // nested lists are flattened
            } else {
                items.append(try astring())
            }
            guard items.count <= 100 else { throw Failure(text: "list too long") }
        } while try optionalSpace()
        try expect(")")
        return items
    }
}
