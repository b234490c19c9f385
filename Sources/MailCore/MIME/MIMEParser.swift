/// Parses a message into a `MessageSummary`. Bounded by `MIMELimits`; never fails: malformed
/// structure is summarised as well as it can be (a multipart without a boundary becomes a
/// text/plain part, a missing closing delimiter ends the part at its parent's end).
public struct MIMEParser {
    public let limits: MIMELimits
    private var partCount = 0
    private var truncated = false

    public init(limits: MIMELimits = .init()) {
        self.limits = limits
    }

    public static func summarise(_ message: [UInt8], limits: MIMELimits = .init()) -> MessageSummary {
        message.withUnsafeBytes { summarise($0, limits: limits) }
    }

    /// The summary kept with a stored message: with its preview.
    public static func summariseForStorage(_ message: [UInt8], limits: MIMELimits = .init()) -> MessageSummary {
        message.withUnsafeBytes { summariseForStorage($0, limits: limits) }
    }

    public static func summariseForStorage(_ message: UnsafeRawBufferPointer, limits: MIMELimits = .init()) -> MessageSummary {
        var summary = summarise(message, limits: limits)
        summary.preview = MessageText.preview(summary) { range in
            let clamped = min(range.lowerBound, message.count)..<min(range.upperBound, message.count)
            return Array(message[clamped])
        }
        return summary
    }

    /// The same over bytes anywhere in memory: a mapped spool file, so a large message is read
    /// through the page cache instead of being copied whole onto the heap.
    public static func summarise(_ message: UnsafeRawBufferPointer, limits: MIMELimits = .init()) -> MessageSummary {
        var parser = MIMEParser(limits: limits)
        let header = MessageHeader.parse(message, from: 0, to: message.count, maxBytes: limits.maxHeaderBytes,
                                         maxFields: limits.maxHeaderFields)
        let body = parser.part(message, start: 0, end: message.count, header: header, depth: 0, defaultType: ("text", "plain"))
        let subject = header.first("Subject")
        var summary = MessageSummary(
            envelope: Envelope(header: header), body: body, headerSize: header.size, size: message.count,
            subjectText: subject.map(EncodedWord.decode), sentDate: header.first("Date").flatMap(MessageDate.parse),
            truncated: parser.truncated || header.truncated)
        summary.threadRoot = ["References", "In-Reply-To", "Message-ID"].lazy
            .compactMap { header.first($0).flatMap(MessageSummary.firstMessageID) }.first
        return summary
    }

    private mutating func part(_ bytes: UnsafeRawBufferPointer, start: Int, end: Int, header: MessageHeader, depth: Int,
                               defaultType: (String, String)) -> BodyPart {
        partCount += 1
        let bodyStart = min(start + header.size, end)
        let contentType = header.first("Content-Type").map(HeaderParameters.parse)
        var type = defaultType.0
        var subtype = defaultType.1
        var parameters: [[String]] = []
        if let contentType, let slash = contentType.value.firstIndex(of: "/") {
            let major = contentType.value[..<slash].trimmingWhitespace().lowercased()
            let minor = contentType.value[contentType.value.index(after: slash)...].trimmingWhitespace().lowercased()
            if !major.isEmpty && !minor.isEmpty {
                type = major
                subtype = minor
                parameters = contentType.parameters
            }
        }
        if type == "text" && !parameters.contains(where: { $0.first == "charset" }) && contentType == nil {
            parameters = [["charset", "us-ascii"]]
        }
        let disposition = header.first("Content-Disposition").map(HeaderParameters.parse)
        var result = BodyPart(
            type: type, subtype: subtype, parameters: parameters, id: header.first("Content-ID"),
            description: header.first("Content-Description"),
            encoding: header.first("Content-Transfer-Encoding")?.trimmingWhitespace().lowercased() ?? "7bit",
            md5: header.first("Content-MD5"),
            disposition: disposition.map { $0.value.trimmingWhitespace().lowercased() }.flatMap { $0.isEmpty ? nil : $0 },
            dispositionParameters: disposition?.parameters ?? [],
            language: header.first("Content-Language").map {
                $0.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            } ?? [],
            location: header.first("Content-Location"),
            headerOffset: start, bodyOffset: bodyStart, bodySize: end - bodyStart,
            lines: Self.countLines(bytes, from: bodyStart, to: end), parts: [], envelope: nil)

        let canDescend = depth < limits.maxDepth && partCount < limits.maxParts
        if type == "multipart" {
            guard let boundary = result.parameter("boundary"), !boundary.isEmpty else {
                // RFC 2046 §5.1.1 requires a boundary; without one the body is opaque text.
                result.type = "text"
                result.subtype = "plain"
                result.parameters = [["charset", "us-ascii"]]
                return result
            }
            guard canDescend else { truncated = true; return result }
            let childDefault = subtype == "digest" ? ("message", "rfc822") : ("text", "plain")
            for (partStart, partEnd) in Self.split(bytes, from: bodyStart, to: end, boundary: Array(boundary.utf8)) {
                guard partCount < limits.maxParts else { truncated = true; break }
                let childHeader = MessageHeader.parse(bytes, from: partStart, to: partEnd, maxBytes: limits.maxHeaderBytes,
                                                      maxFields: limits.maxHeaderFields)
                result.parts.append(part(bytes, start: partStart, end: partEnd, header: childHeader, depth: depth + 1,
                                         defaultType: childDefault))
            }
        } else if type == "message" && (subtype == "rfc822" || subtype == "global") {
            guard canDescend else { truncated = true; return result }
            let innerHeader = MessageHeader.parse(bytes, from: bodyStart, to: end, maxBytes: limits.maxHeaderBytes,
                                                  maxFields: limits.maxHeaderFields)
            result.envelope = Envelope(header: innerHeader)
            result.parts = [part(bytes, start: bodyStart, end: end, header: innerHeader, depth: depth + 1,
                                 defaultType: ("text", "plain"))]
        }
        return result
    }

    /// The byte ranges between `--boundary` delimiter lines (RFC 2046 §5.1.1). The line break
    /// before a delimiter belongs to the delimiter; the preamble and epilogue are skipped; with
    /// no closing delimiter the last part runs to `end`.
    static func split(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, boundary: [UInt8]) -> [(Int, Int)] {
        var ranges: [(Int, Int)] = []
        var partStart: Int?
        var lineStart = start
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end && bytes[lineEnd] != 0x0a { lineEnd += 1 }
            let next = lineEnd < end ? lineEnd + 1 : end
            if lineEnd - lineStart >= boundary.count + 2, bytes[lineStart] == 0x2d, bytes[lineStart + 1] == 0x2d,
               bytes[(lineStart + 2)..<(lineStart + 2 + boundary.count)].elementsEqual(boundary) {
                let after = lineStart + 2 + boundary.count
                let closing = after + 1 < lineEnd && bytes[after] == 0x2d && bytes[after + 1] == 0x2d
                // Only white space may follow the boundary (transport padding).
                let restStart = closing ? after + 2 : after
                if bytes[restStart..<lineEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }) {
                    if let open = partStart {
                        var partEnd = lineStart
                        if partEnd > open && bytes[partEnd - 1] == 0x0a { partEnd -= 1 }
                        if partEnd > open && bytes[partEnd - 1] == 0x0d { partEnd -= 1 }
                        ranges.append((open, max(open, partEnd)))
                    }
                    if closing { return ranges }
                    partStart = next
                }
            }
            lineStart = next
        }
        if let open = partStart, open <= end { ranges.append((open, end)) }
        return ranges
    }

    static func countLines(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int {
        guard start < end else { return 0 }
        var lines = 0
        for index in start..<end where bytes[index] == 0x0a { lines += 1 }
        if bytes[end - 1] != 0x0a { lines += 1 }
        return lines
    }
}

/// `value; name=value; name="quoted"` as in Content-Type and Content-Disposition, with RFC 2231
/// continuations (`name*0=`, `name*1=`) and charset-tagged values (`name*=utf-8''%E2%82%AC`).
enum HeaderParameters {
    static func parse(_ text: String) -> (value: String, parameters: [[String]]) {
        var pieces = splitOutsideQuotes(text)
        let value = pieces.isEmpty ? "" : pieces.removeFirst().trimmingWhitespace()
        var plain: [(String, String)] = []
        var continued: [String: [(Int, String, Bool)]] = [:]
        for piece in pieces {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let name = piece[..<equals].trimmingWhitespace().lowercased()
            var raw = piece[piece.index(after: equals)...].trimmingWhitespace()
            if raw.hasPrefix("\""), raw.count >= 2 {
                raw = String(raw.dropFirst().dropLast(raw.hasSuffix("\"") ? 1 : 0)).replacingBackslashEscapes()
            }
            guard !name.isEmpty else { continue }
            if let star = name.firstIndex(of: "*") {
                let base = String(name[..<star])
                let suffix = name[name.index(after: star)...]
                let encoded = suffix.hasSuffix("*") || suffix.isEmpty
                let number = Int(suffix.filter { $0 != "*" }) ?? 0
                continued[base, default: []].append((number, raw, encoded))
            } else {
                plain.append((name, raw))
            }
        }
        var parameters = plain.map { [$0.0, $0.1] }
        for (name, segments) in continued.sorted(by: { $0.key < $1.key }) {
            var charset = "us-ascii"
            var bytes: [UInt8] = []
            for (index, segment) in segments.sorted(by: { $0.0 < $1.0 }).enumerated() {
                var text = Substring(segment.1)
                if segment.2 {
                    if index == 0 {
                        let parts = text.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                        if parts.count == 3 { charset = String(parts[0]); text = parts[2] }
                    }
                    bytes += percentDecode(text)
                } else {
                    bytes += Array(text.utf8)
                }
            }
            let decoded = Charset.decode(bytes, charset: charset) ?? String(decoding: bytes, as: UTF8.self)
            parameters.removeAll { $0.first == name }
            parameters.append([name, decoded])
        }
        return (value, parameters)
    }

    static func splitOutsideQuotes(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            if character == "\\" && quoted { current.append(character); escaped = true; continue }
            if character == "\"" { quoted.toggle() }
            if character == ";" && !quoted {
                pieces.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        pieces.append(current)
        return pieces
    }

    static func percentDecode(_ text: Substring) -> [UInt8] {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count,
               let value = UInt8(String(decoding: utf8[(index + 1)...(index + 2)], as: UTF8.self), radix: 16) {
                bytes.append(value)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return bytes
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }

    func replacingBackslashEscapes() -> String {
        var output = ""
        var escaped = false
        for character in self {
            if escaped { output.append(character); escaped = false } else if character == "\\" { escaped = true } else {
                output.append(character)
            }
        }
        return output
    }
}
