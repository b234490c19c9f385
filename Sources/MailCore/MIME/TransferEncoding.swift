import Foundation

/// Content-Transfer-Encoding undone (RFC 2045 §6), for the parts of a message that are read
/// rather than passed on: IMAP's BINARY fetches and the text of mail sent to the server's own
/// addresses (mail commands, the ListServer).
public enum TransferEncoding {
    /// `bytes` decoded; nil for an encoding that cannot be undone (an unknown one, or base64
    /// that does not decode).
    public static func decode(_ bytes: [UInt8], encoding: String) -> [UInt8]? {
        switch encoding.lowercased() {
        case "7bit", "8bit", "binary", "": return bytes
        case "base64": return base64(bytes)
        case "quoted-printable": return quotedPrintable(bytes)
        default: return nil
        }
    }

    /// Characters outside the alphabet (line breaks) passed over, missing padding added.
    static func base64(_ bytes: [UInt8]) -> [UInt8]? {
        var clean = bytes.filter { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="): true
            default: false
            }
        }
        while clean.count % 4 != 0 { clean.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(clean)).map { Array($0) }
    }

    /// RFC 2045 §6.7: per line, trailing white space is dropped, a final "=" is a soft line
    /// break, "=XX" is an octet; anything else stays as written.
    static func quotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            let hasBreak = lineEnd < bytes.count
            var contentEnd = lineEnd
            if contentEnd > lineStart && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            while contentEnd > lineStart && (bytes[contentEnd - 1] == 0x20 || bytes[contentEnd - 1] == 0x09) { contentEnd -= 1 }
            var soft = false
            if contentEnd > lineStart && bytes[contentEnd - 1] == UInt8(ascii: "=") {
                soft = true
                contentEnd -= 1
            }
            var index = lineStart
            while index < contentEnd {
                let byte = bytes[index]
                if byte == UInt8(ascii: "="), index + 3 <= contentEnd,
                   let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                    out.append(high << 4 | low)
                    index += 3
                } else {
                    out.append(byte)
                    index += 1
                }
            }
            if hasBreak && !soft { out += [0x0D, 0x0A] }
            lineStart = lineEnd + 1
        }
        return out
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// The text a person wrote in a message: its first `text/plain` part that is not an
/// attachment (the whole body when it has no MIME structure), transfer encoding undone and
/// read in its charset.
public enum MessageText {
    public static func plain(_ message: [UInt8], limit: Int = 64 * 1_024) -> String {
        let summary = MIMEParser.summarise(message)
        guard let part = firstPlain(summary.body), part.bodyOffset <= message.count else {
            return String(decoding: message.dropFirst(summary.headerSize).prefix(limit), as: UTF8.self)
        }
        // Encoded text is longer than what it says: read up to twice the limit before decoding.
        let end = min(message.count, part.bodyOffset + part.bodySize, part.bodyOffset + 2 * limit)
        let raw = Array(message[part.bodyOffset..<end])
        let decoded = TransferEncoding.decode(raw, encoding: part.encoding) ?? raw
        return string(Array(decoded.prefix(limit)), charset: part.parameter("charset"))
    }

    static func firstPlain(_ part: BodyPart) -> BodyPart? { firstText(part, subtype: "plain") }

    static func firstText(_ part: BodyPart, subtype: String) -> BodyPart? {
        if part.isMultipart {
            for child in part.parts {
                if let found = firstText(child, subtype: subtype) { return found }
            }
            return nil
        }
        guard part.type == "text", part.subtype == subtype, part.disposition?.lowercased() != "attachment" else { return nil }
        return part
    }

    /// RFC 8970's preview: the start of what the message says, from its first plain-text part
    /// (else its first HTML part without the markup), quoted lines and the signature left out,
    /// white space run together; at most `length` characters, empty when there is no text.
    /// `bytes` gives the stored message's bytes in a range of the summary's offsets.
    public static func preview(_ summary: MessageSummary, length: Int = 200, bytes: (Range<Int>) -> [UInt8]) -> String {
        guard let part = firstText(summary.body, subtype: "plain") ?? firstText(summary.body, subtype: "html"),
              part.bodySize > 0 else { return "" }
        let raw = bytes(part.bodyOffset..<(part.bodyOffset + min(part.bodySize, 16 * 1_024)))
        var text = string(TransferEncoding.decode(raw, encoding: part.encoding) ?? raw, charset: part.parameter("charset"))
        if part.subtype == "html" { text = withoutMarkup(text) }
        var words: [Substring] = []
        var characters = 0
        // Line by line, and only until the preview is long enough: a long message, or a long
        // line, costs no more than its first words.
        let all = text.unicodeScalars
        var next = all.startIndex
        lines: while next < all.endIndex {
            let end = all[next...].firstIndex(where: { $0 == "\n" || $0 == "\u{2028}" || $0 == "\u{2029}" }) ?? all.endIndex
            var scalars = all[next..<end]
            next = end < all.endIndex ? all.index(after: end) : end
            // The CR of a CRLF line end is white space at the end of the line: it changes nothing.
            if scalars.last == "\r" { scalars = scalars.dropLast() }
            // Control characters (a NUL, a CR among them) are white space here: the preview is text.
            let line = scalars.contains(where: isControl) ? String(String.UnicodeScalarView(scalars.map { isControl($0) ? " " : $0 }))
                                                          : String(scalars)
            let view = line.unicodeScalars
            guard let first = view.firstIndex(where: { !isBlank($0) }), let last = view.lastIndex(where: { !isBlank($0) }) else { continue }
            if view[first...last].elementsEqual("--".unicodeScalars) { break } // the signature
            if line[first...].hasPrefix(">") { continue }
            // Words, white space between them; the word that makes the preview long enough is
            // taken only as far as it is needed.
            var start: String.Index?
            var count = 0
            var index = line.startIndex
            while index < line.endIndex {
                let next = line.index(after: index)
                let character = line[index]
                if character.isWhitespace || character.isNewline {
                    if let begun = start {
                        words.append(line[begun..<index])
                        characters += count + 1
                        start = nil
                        if characters > length { break lines }
                    }
                } else {
                    if start == nil {
                        start = index
                        count = 0
                    }
                    count += 1
                    if characters + count + 1 > length, let begun = start {
                        words.append(line[begun..<next])
                        characters += count + 1
                        break lines
                    }
                }
                index = next
            }
            if let begun = start {
                words.append(line[begun...])
                characters += count + 1
                if characters > length { break lines }
            }
        }
        let joined = words.joined(separator: " ")
        return joined.count > length ? String(joined.prefix(length)) : joined
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// White space as Foundation's `CharacterSet.whitespaces` has it: tab and the space separators.
    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value == 0x09 || scalar.properties.generalCategory == .spaceSeparator
    }

    /// HTML as text: tags, comments, scripts and styles dropped, common entities read.
    static func withoutMarkup(_ html: String) -> String {
        var out = ""
        var rest = Substring(html)
        while let open = rest.firstIndex(of: "<") {
            out += rest[..<open]
            let tail = rest[open...]
            let lower = tail.prefix(8).lowercased()
            var closer = ">"
            if lower.hasPrefix("<!--") { closer = "-->" } else if lower.hasPrefix("<script") { closer = "</script>" } else if lower.hasPrefix("<style") { closer = "</style>" }
            guard let end = tail.range(of: closer, options: .caseInsensitive) else { rest = ""; break }
            let tag = tail[..<end.lowerBound].lowercased()
            if tag.hasPrefix("<br") || tag.hasPrefix("<p") || tag.hasPrefix("<div") || tag.hasPrefix("</p") || tag.hasPrefix("</div") {
                out += "\n"
            } else {
                out += " "
            }
            rest = tail[end.upperBound...]
        }
        out += rest
        for (entity, character) in [("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&")] {
            out = out.replacingOccurrences(of: entity, with: character)
        }
        return out
    }

    static func string(_ bytes: [UInt8], charset: String?) -> String {
        switch charset?.lowercased() {
        case "iso-8859-1", "latin1", "iso_8859-1":
            return String(data: Data(bytes), encoding: .isoLatin1) ?? String(decoding: bytes, as: UTF8.self)
        case "windows-1252", "cp1252":
            return String(data: Data(bytes), encoding: .windowsCP1252) ?? String(decoding: bytes, as: UTF8.self)
        default:
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
