import Foundation
import IMAPWire
import MailCore
import WireCore

/// Messages holding NUL octets: APPENDed (as RFC 3516 literal8s or not) or received over SMTP.
/// Their bytes are kept exactly, except that a leaf part holding NUL octets is re-encoded as
/// base64: such a part cannot be sent in a BODY[] response (RFC 3501 literals carry no NUL),
/// while BINARY[] still returns the original octets by decoding it.
enum BinaryContent {
    static func storable(_ message: [UInt8]) -> [UInt8] {
        guard message.contains(0) else { return message }
        let summary = MIMEParser.summarise(message)
        var leaves: [BodyPart] = []
        collectLeaves(summary.body, into: &leaves)
        let rewritten = leaves.filter { part in
            part.bodyOffset + part.bodySize <= message.count && message[part.bodyOffset..<(part.bodyOffset + part.bodySize)].contains(0)
        }
        guard !rewritten.isEmpty else { return message }
        var output: [UInt8] = []
        output.reserveCapacity(message.count * 4 / 3 + 256)
        var position = 0
        for part in rewritten.sorted(by: { $0.headerOffset < $1.headerOffset }) where part.headerOffset >= position {
            output += message[position..<part.headerOffset]
            output += header(Array(message[part.headerOffset..<part.bodyOffset]))
            output += base64Lines(Array(message[part.bodyOffset..<(part.bodyOffset + part.bodySize)]))
            position = part.bodyOffset + part.bodySize
        }
        output += message[position...]
        return output
    }

    static func collectLeaves(_ part: BodyPart, into leaves: inout [BodyPart]) {
        if part.isMultipart || part.isMessage {
            for child in part.parts { collectLeaves(child, into: &leaves) }
        } else {
            leaves.append(part)
        }
    }

    /// The part's header without its Content-Transfer-Encoding fields, with one saying base64
    /// before the empty line that ends it.
    static func header(_ bytes: [UInt8]) -> [UInt8] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            lines.append(bytes[start...index])
            start = index + 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        var kept: [UInt8] = []
        var skipping = false
        var ending: [UInt8] = [0x0D, 0x0A]
        for line in lines {
            let isBlank = line.allSatisfy { $0 == 0x0D || $0 == 0x0A }
            if isBlank {
                ending = Array(line)
                break
            }
            let continues = line.first == 0x20 || line.first == 0x09
            if !continues {
                let name = String(decoding: line.prefix { $0 != UInt8(ascii: ":") }, as: UTF8.self)
                skipping = name.trimmingCharacters(in: .whitespaces).lowercased() == "content-transfer-encoding"
            }
            if !skipping { kept += line }
        }
        return kept + Array("Content-Transfer-Encoding: base64\r\n".utf8) + ending
    }

    static func base64Lines(_ bytes: [UInt8]) -> [UInt8] {
        let encoded = Array(Base64.encode(bytes).utf8)
        var output: [UInt8] = []
        output.reserveCapacity(encoded.count + encoded.count / 38 + 2)
        var index = 0
        while index < encoded.count {
            output += encoded[index..<min(index + 76, encoded.count)]
            output += [0x0D, 0x0A]
            index += 76
        }
        return output
    }
}
