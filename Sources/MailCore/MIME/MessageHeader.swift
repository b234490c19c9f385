import Foundation

/// A message or MIME part header: its fields in order, unfolded, with the header's extent.
///
/// RFC 5322 §2.2: a header is lines of `name: value` ending at the first empty line; a line
/// starting with white space continues the previous field (§2.2.3). Lines may end in CRLF or a
/// bare LF; a line without a colon is skipped, never fatal.
public struct MessageHeader: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        /// As written.
        public let name: String
        /// Unfolded (line breaks removed), leading white space trimmed, otherwise raw.
        public let value: String
    }

    public private(set) var fields: [Field]
    /// Bytes from the start of the header through the empty line that ends it.
    public let size: Int
    /// True when fields were dropped because the header passed the size or count limit.
    public let truncated: Bool

    /// The value of the first field called `name` (case-insensitive).
    public func first(_ name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    public func all(_ name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// Field names compared without regard to case: byte by byte for ASCII names (RFC 5322
    /// §3.6.8 allows nothing else), through `lowercased()` for anything else read from the wire.
    static func sameName(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return a.lowercased() == b.lowercased() }
        for (p, q) in zip(x, y) where p != q {
            guard p < 0x80, q < 0x80 else { return a.lowercased() == b.lowercased() }
            let lp = p >= 0x41 && p <= 0x5A ? p | 0x20 : p
            let lq = q >= 0x41 && q <= 0x5A ? q | 0x20 : q
            if lp != lq { return false }
        }
        return true
    }

    /// Parses the header starting at `start` in `bytes`, reading no further than `end`.
    public static func parse(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil,
                             maxBytes: Int = 256 * 1024, maxFields: Int = 2_000) -> MessageHeader {
        bytes.withUnsafeBytes { parse($0, from: start, to: end ?? bytes.count, maxBytes: maxBytes, maxFields: maxFields) }
    }

    /// The same over bytes anywhere in memory (a mapped file).
    static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, maxBytes: Int,
                      maxFields: Int) -> MessageHeader {
        var fields: [Field] = []
        var truncated = false
        var index = start
        var currentName: [UInt8]?
        var currentValue: [UInt8] = []

        func finish() {
            guard let name = currentName else { return }
            currentName = nil
            guard fields.count < maxFields else { truncated = true; return }
            var value = currentValue[...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            fields.append(Field(name: HeaderText.decode(name[...]), value: HeaderText.decode(value)))
        }

        while index < end {
            // One line: [index, lineEnd) without its terminator; next starts after it.
            var lineEnd = index
            while lineEnd < end && bytes[lineEnd] != 0x0a { lineEnd += 1 }
            let next = lineEnd < end ? lineEnd + 1 : end
            var contentEnd = lineEnd
            if contentEnd > index && bytes[contentEnd - 1] == 0x0d { contentEnd -= 1 }
            if contentEnd == index {
                // The empty line: the header ends here.
                finish()
                return MessageHeader(fields: fields, size: next - start, truncated: truncated)
            }
            if index - start >= maxBytes {
                truncated = true
            } else if bytes[index] == 0x20 || bytes[index] == 0x09 {
                if currentName != nil { currentValue.append(contentsOf: bytes[index..<contentEnd]) }
            } else {
                finish()
                if let colon = bytes[index..<contentEnd].firstIndex(of: UInt8(ascii: ":")), colon > index {
                    var nameEnd = colon
                    while nameEnd > index && (bytes[nameEnd - 1] == 0x20 || bytes[nameEnd - 1] == 0x09) { nameEnd -= 1 }
                    currentName = Array(bytes[index..<nameEnd])
                    currentValue = Array(bytes[(colon + 1)..<contentEnd])
                }
            }
            index = next
        }
        finish()
        // No empty line: everything was header.
        return MessageHeader(fields: fields, size: end - start, truncated: truncated)
    }
}

/// Header bytes to text: UTF-8 when valid (RFC 6532), otherwise each byte as Latin-1, so 8-bit
/// headers from old mailers still read as something.
enum HeaderText {
    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return String(bytes.map { Character(Unicode.Scalar($0)) })
    }
}

extension MessageHeader {
    /// The header lines (with folds) whose names are (or, `not`, are not) among `names`, then CRLF.
    public static func fields(_ header: [UInt8], names: Set<String>, not: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        var keep = false
        while index < header.count {
            let end = header[index...].firstIndex(of: 0x0A).map { $0 + 1 } ?? header.count
            let line = header[index..<end]
            if line.first == 0x20 || line.first == 0x09 {
                if keep { out += line }
            } else if line.first == 0x0D || line.first == 0x0A {
                break
            } else {
                let name = line.prefix { $0 != UInt8(ascii: ":") }
                let lowered = String(decoding: name, as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
                keep = names.contains(lowered) != not
                if keep { out += line }
            }
            index = end
        }
        return out + [0x0D, 0x0A]
    }
}
