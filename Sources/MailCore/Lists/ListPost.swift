import Foundation

/// A mailing list post's header as its members get it: the fields as written (folding kept),
/// the ones the list owns dropped and written anew. Pure: bytes in, bytes out.
public enum ListPost {
    /// Fields a list writes itself (RFC 2369, RFC 2919, RFC 8058) and drops from the post.
    static let owned: Set<String> = [
        "list-id", "list-post", "list-help", "list-subscribe", "list-unsubscribe", "list-unsubscribe-post", "list-owner",
        "list-archive", "precedence", "return-path",
    ]

    /// The header's fields as raw lines (each with its continuation lines and line ends), and
    /// where the body starts (after the empty line; the end when there is none).
    public static func fields(of message: [UInt8]) -> (fields: [(name: String, raw: ArraySlice<UInt8>)], bodyStart: Int) {
        var fields: [(name: String, raw: ArraySlice<UInt8>)] = []
        var index = 0
        var fieldStart: Int?
        var name = ""
        func close(at end: Int) {
            if let start = fieldStart { fields.append((name, message[start..<end])) }
            fieldStart = nil
        }
        while index < message.count {
            var lineEnd = index
            while lineEnd < message.count && message[lineEnd] != 0x0A { lineEnd += 1 }
            let next = min(lineEnd + 1, message.count)
            let content = lineEnd > index && message[lineEnd - 1] == 0x0D ? lineEnd - 1 : lineEnd
            if content == index {
                close(at: index)
                return (fields, next)
            }
            if message[index] == 0x20 || message[index] == 0x09 {
                // A continuation of the field before (or stray white space, kept with nothing).
                index = next
                continue
            }
            close(at: index)
            if let colon = message[index..<content].firstIndex(of: UInt8(ascii: ":")) {
                name = String(decoding: message[index..<colon], as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
                fieldStart = index
            }
            index = next
        }
        close(at: message.count)
        return (fields, message.count)
    }

    /// The post with the list's fields: `added` after the fields kept, `replaced` fields
    /// (lower-case names) dropped first, and `subjectPrefix` put before the subject when it is
    /// not in it already (a subject is added when there is none).
    public static func rewrite(_ message: [UInt8], subjectPrefix: String, replaced: Set<String>,
                               added: [(name: String, value: String)]) -> [UInt8] {
        let (fields, bodyStart) = fields(of: message)
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 512)
        var sawSubject = false
        for field in fields where !owned.contains(field.name) && !replaced.contains(field.name) {
            if field.name == "subject", !subjectPrefix.isEmpty {
                sawSubject = true
                let raw = Array(field.raw)
                let text = String(decoding: raw, as: UTF8.self)
                if text.lowercased().contains(subjectPrefix.lowercased()) {
                    out += raw
                } else if let colon = raw.firstIndex(of: UInt8(ascii: ":")) {
                    var valueStart = colon + 1
                    while valueStart < raw.count && (raw[valueStart] == 0x20 || raw[valueStart] == 0x09) { valueStart += 1 }
                    out += raw[...colon] + Array(" \(subjectPrefix) ".utf8) + raw[valueStart...]
                }
                continue
            }
            out += field.raw
            if field.raw.last != 0x0A { out += [0x0D, 0x0A] }
        }
        if !sawSubject, !subjectPrefix.isEmpty, !fields.contains(where: { $0.name == "subject" }) {
            out += Array("Subject: \(subjectPrefix)\r\n".utf8)
        }
        for field in added {
            out += Array("\(field.name): \(field.value)\r\n".utf8)
        }
        out += [0x0D, 0x0A]
        if bodyStart < message.count { out += message[bodyStart...] }
        return out
    }

    /// The message without the `Return-Path:` line this server put first when it stored it.
    public static func withoutReturnPath(_ stored: [UInt8]) -> [UInt8] {
        let prefix = Array("return-path:".utf8)
        guard stored.count > prefix.count,
              zip(stored.prefix(prefix.count), prefix).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }),
              let newline = stored.firstIndex(of: 0x0A) else { return stored }
        return Array(stored[(newline + 1)...])
    }

    /// The address in a From:-like value: inside `<>` when there are brackets, else the value.
    public static func address(in value: String) -> String? {
        var text = value
        if let open = text.lastIndex(of: "<"), let close = text[open...].firstIndex(of: ">") {
            text = String(text[text.index(after: open)..<close])
        }
        text = text.trimmingCharacters(in: .whitespaces)
        guard text.contains("@"), !text.contains(where: { $0.isWhitespace || $0 == "," || $0 == "<" }), text.count <= 254 else {
            return nil
        }
        return text.lowercased()
    }
}
