import Foundation

/// The `Authentication-Results:` header field (RFC 8601): written for the checks made on
/// intake, and read far enough to find which ones claim to be ours.
public struct AuthenticationResults: Sendable, Equatable {
    /// One method's result: `dkim=pass header.d=example.com`.
    public struct Entry: Sendable, Equatable {
        public var method: String
        public var result: String
        /// `reason` (§2.2), shown as a quoted string.
        public var reason: String?
        /// A comment after the result (§2.2 allows CFWS there): `(p=reject dis=none)`.
        public var comment: String?
        /// `ptype.property=value`, in order.
        public var properties: [(String, String)]

        public init(method: String, result: String, reason: String? = nil, comment: String? = nil, properties: [(String, String)] = []) {
            self.method = method
            self.result = result
            self.reason = reason
            self.comment = comment
            self.properties = properties
        }

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.method == rhs.method && lhs.result == rhs.result && lhs.reason == rhs.reason && lhs.comment == rhs.comment
                && lhs.properties.map(\.0) == rhs.properties.map(\.0) && lhs.properties.map(\.1) == rhs.properties.map(\.1)
        }
    }

    public var authservID: String
    public var entries: [Entry]

    public init(authservID: String, entries: [Entry]) {
        self.authservID = authservID
        self.entries = entries
    }

    /// The header field, folded one result per line, ending in CRLF.
    public var field: String {
        var text = "Authentication-Results: \(authservID);"
        guard !entries.isEmpty else { return text + " none\r\n" }
        for (index, entry) in entries.enumerated() {
            text += "\r\n\t\(entry.method)=\(entry.result)"
            if let comment = entry.comment { text += " (\(Self.commentText(comment)))" }
            if let reason = entry.reason { text += " reason=\(Self.quoted(reason))" }
            for (name, value) in entry.properties { text += "\r\n\t\t\(name)=\(Self.propertyValue(value))" }
            if index < entries.count - 1 { text += ";" }
        }
        return text + "\r\n"
    }

    /// A value as a token when it is one (or an address), else a quoted string.
    static func propertyValue(_ value: String) -> String {
        let special = Set("()<>[]:;,\\\" \t\r\n=")
        if !value.isEmpty, value.allSatisfy({ $0.isASCII && !special.contains($0) && !$0.isWhitespace && $0.asciiValue! >= 0x21 }) {
            return value
        }
        return quoted(value)
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text where !character.isNewline && character != "\0" {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }

    static func commentText(_ text: String) -> String {
        String(text.filter { $0 != "(" && $0 != ")" && $0 != "\\" && !$0.isNewline })
    }

    /// The authserv-id of a field's value: the first token or quoted string, comments and
    /// whitespace skipped (§2.2). Nil when the value does not start with one.
    public static func authservID(ofValue value: some Collection<UInt8>) -> String? {
        var bytes = Array(value)[...]
        skipCFWS(&bytes)
        guard let first = bytes.first else { return nil }
        if first == UInt8(ascii: "\"") {
            bytes = bytes.dropFirst()
            var out: [UInt8] = []
            while let byte = bytes.popFirst() {
                if byte == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                if byte == UInt8(ascii: "\\"), let escaped = bytes.popFirst() { out.append(escaped) } else { out.append(byte) }
            }
            return nil
        }
        let stops: Set<UInt8> = [UInt8(ascii: ";"), UInt8(ascii: "("), UInt8(ascii: " "), UInt8(ascii: "\t"), 0x0D, 0x0A]
        let token = bytes.prefix { !stops.contains($0) }
        return token.isEmpty ? nil : String(decoding: token, as: UTF8.self)
    }

    /// Skips whitespace and (nested) comments.
    static func skipCFWS(_ bytes: inout ArraySlice<UInt8>) {
        while let byte = bytes.first {
            if byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A {
                bytes = bytes.dropFirst()
            } else if byte == UInt8(ascii: "(") {
                var depth = 0
                while let next = bytes.popFirst() {
                    if next == UInt8(ascii: "\\") { _ = bytes.popFirst(); continue }
                    if next == UInt8(ascii: "(") { depth += 1 }
                    if next == UInt8(ascii: ")") { depth -= 1 }
                    if depth == 0 { break }
                }
            } else {
                return
            }
        }
    }
}
