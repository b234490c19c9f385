import Foundation
import IMAPWire
import MailCore
import WireCore

/// FETCH data built from a stored message and its parsed summary (RFC 9051 §7.5.2).
enum IMAPRender {
    static func nilOr(_ text: String?) -> [UInt8] { IMAPText.string(text) }

    static func addresses(_ list: [MessageAddress]) -> [UInt8] {
        guard !list.isEmpty else { return Array("NIL".utf8) }
        var out: [UInt8] = [UInt8(ascii: "(")]
        for address in list {
            out += Array("(".utf8) + nilOr(address.name) + [0x20] + nilOr(address.route) + [0x20] + nilOr(address.mailbox)
                + [0x20] + nilOr(address.host) + Array(")".utf8)
        }
        return out + [UInt8(ascii: ")")]
    }

    static func envelope(_ envelope: Envelope) -> [UInt8] {
        // RFC 9051 §7.5.2: Sender and Reply-To default to From.
        let sender = envelope.sender.isEmpty ? envelope.from : envelope.sender
        let replyTo = envelope.replyTo.isEmpty ? envelope.from : envelope.replyTo
        let fields: [[UInt8]] = [
            nilOr(envelope.date), nilOr(envelope.subject), addresses(envelope.from), addresses(sender), addresses(replyTo),
            addresses(envelope.to), addresses(envelope.cc), addresses(envelope.bcc), nilOr(envelope.inReplyTo),
            nilOr(envelope.messageID),
        ]
        return [UInt8(ascii: "(")] + Array(fields.joined(separator: [0x20])) + [UInt8(ascii: ")")]
    }

    static func parameters(_ pairs: [[String]]) -> [UInt8] {
        guard !pairs.isEmpty else { return Array("NIL".utf8) }
        let items = pairs.flatMap { pair in [IMAPText.string(pair.first?.uppercased()), IMAPText.string(pair.last)] }
        return [UInt8(ascii: "(")] + Array(items.joined(separator: [0x20])) + [UInt8(ascii: ")")]
    }

    /// BODYSTRUCTURE (`extended`) or BODY.
    static func bodyStructure(_ part: BodyPart, extended: Bool) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "(")]
        if part.isMultipart {
            for child in part.parts { out += bodyStructure(child, extended: extended) }
            out += [0x20] + IMAPText.string(part.subtype.uppercased())
            if extended {
                out += [0x20] + parameters(part.parameters) + [0x20] + disposition(part) + [0x20] + language(part)
                    + [0x20] + nilOr(part.location)
            }
            return out + [UInt8(ascii: ")")]
        }
        let basic: [[UInt8]] = [
            IMAPText.string(part.type.uppercased()), IMAPText.string(part.subtype.uppercased()), parameters(part.parameters),
            nilOr(part.id), nilOr(part.description), IMAPText.string(part.encoding.uppercased()), Array(String(part.bodySize).utf8),
        ]
        out += Array(basic.joined(separator: [0x20]))
        if part.isMessage, let envelope = part.envelope, let inner = part.parts.first {
            out += [0x20] + self.envelope(envelope) + [0x20] + bodyStructure(inner, extended: extended) + [0x20]
                + Array(String(part.lines).utf8)
        } else if part.type == "text" {
            out += [0x20] + Array(String(part.lines).utf8)
        }
        if extended {
            out += [0x20] + nilOr(part.md5) + [0x20] + disposition(part) + [0x20] + language(part) + [0x20] + nilOr(part.location)
        }
        return out + [UInt8(ascii: ")")]
    }

    static func disposition(_ part: BodyPart) -> [UInt8] {
        guard let disposition = part.disposition else { return Array("NIL".utf8) }
        return Array("(".utf8) + IMAPText.string(disposition.uppercased()) + [0x20] + parameters(part.dispositionParameters)
            + Array(")".utf8)
    }

    static func language(_ part: BodyPart) -> [UInt8] {
        switch part.language.count {
        case 0: Array("NIL".utf8)
        case 1: IMAPText.string(part.language[0])
        default: [UInt8(ascii: "(")] + Array(part.language.map { IMAPText.string($0) }.joined(separator: [0x20])) + [UInt8(ascii: ")")]
        }
    }

    /// The part a section's numbers point at; nil when there is none (RFC 9051 §6.4.5).
    /// RFC 9051 §6.4.5 part numbers: the first names a child of a multipart message, or 1 for
    /// the body of any other; below a message/rfc822 part the numbers go on in the message it
    /// holds; a part that is neither multipart nor a message has no parts below it.
    static func part(_ path: [Int], in root: BodyPart) -> BodyPart? {
        var current = root
        for (depth, number) in path.enumerated() {
            if depth > 0 {
                if current.isMessage, let inner = current.parts.first {
                    current = inner
                } else if !current.isMultipart {
                    return nil
                }
            }
            if current.isMultipart {
                guard number >= 1, number <= current.parts.count else { return nil }
                current = current.parts[number - 1]
            } else {
                guard number == 1 else { return nil }
            }
        }
        return current
    }

    /// The bytes of `section` of `message`, before any partial range; nil when it does not exist.
    static func section(_ section: IMAPSection, of message: [UInt8], summary: MessageSummary) -> [UInt8]? {
        func slice(_ from: Int, _ to: Int) -> [UInt8] {
            let start = max(0, min(from, message.count)), end = max(start, min(to, message.count))
            return Array(message[start..<end])
        }
        let top = summary.body
        var target = top
        var headerStart = 0, headerEnd = summary.headerSize
        var bodyStart = summary.headerSize, bodyEnd = message.count
        if !section.part.isEmpty {
            guard let found = part(section.part, in: top) else { return nil }
            target = found
            bodyStart = found.bodyOffset
            bodyEnd = found.bodyOffset + found.bodySize
            headerStart = found.headerOffset
            headerEnd = found.bodyOffset
            if case .header = section.text, found.isMessage, let inner = found.parts.first {
                headerStart = inner.headerOffset
                headerEnd = inner.bodyOffset
            } else if case .headerFields = section.text, found.isMessage, let inner = found.parts.first {
                headerStart = inner.headerOffset
                headerEnd = inner.bodyOffset
            } else if case .text = section.text, found.isMessage, let inner = found.parts.first {
                bodyStart = inner.bodyOffset
                bodyEnd = inner.bodyOffset + inner.bodySize
            }
        }
        _ = target
        switch section.text {
        case .all: return section.part.isEmpty ? message : slice(bodyStart, bodyEnd)
        case .text: return slice(bodyStart, bodyEnd)
        case .header, .mime: return slice(headerStart, headerEnd)
        case .headerFields(let names, let not):
            return MessageHeader.fields(slice(headerStart, headerEnd), names: Set(names.map { $0.lowercased() }), not: not)
        }
    }

    /// Content-Transfer-Encoding removed (RFC 3516 BINARY); nil for an encoding it cannot undo.
    static func decoded(_ bytes: [UInt8], encoding: String) -> [UInt8]? {
        TransferEncoding.decode(bytes, encoding: encoding)
    }
}
