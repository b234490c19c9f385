import Foundation

/// RFC 2047 encoded words (`=?charset?B|Q?text?=`) in header text.
public enum EncodedWord {
    /// `text` with every encoded word it can read decoded. White space between two adjacent
    /// encoded words is dropped (§6.2); words in unknown charsets or broken encodings are left as written.
    public static func decode(_ text: String) -> String {
        guard text.contains("=?") else { return text }
        var output = ""
        var pendingSpace = ""
        var lastWasEncoded = false
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.hasPrefix("=?"), let (decoded, after) = decodeWord(rest) {
                if !lastWasEncoded { output += pendingSpace }
                pendingSpace = ""
                output += decoded
                lastWasEncoded = true
                rest = after
                continue
            }
            let character = rest.removeFirst()
            if character == " " || character == "\t" || character == "\r" || character == "\n" {
                pendingSpace.append(character)
            } else {
                output += pendingSpace
                pendingSpace = ""
                output.append(character)
                lastWasEncoded = false
            }
        }
        return output + pendingSpace
    }

    private static func decodeWord(_ text: Substring) -> (String, Substring)? {
        let body = text.dropFirst(2)
        guard let charsetEnd = body.firstIndex(of: "?") else { return nil }
        var charset = body[..<charsetEnd].lowercased()
        if let star = charset.firstIndex(of: "*") { charset = String(charset[..<star]) }  // RFC 2231 language
        let afterCharset = body[body.index(after: charsetEnd)...]
        guard let encoding = afterCharset.first, afterCharset.dropFirst().first == "?" else { return nil }
        let payloadStart = afterCharset.dropFirst(2)
        guard let close = payloadStart.range(of: "?=") else { return nil }
        let payload = payloadStart[..<close.lowerBound]
        guard !payload.contains(" ") else { return nil }
        let bytes: [UInt8]?
        switch encoding {
        case "B", "b": bytes = Data(base64Encoded: padded(String(payload))).map(Array.init)
        case "Q", "q": bytes = decodeQ(payload)
        default: bytes = nil
        }
        guard let bytes, let decoded = Charset.decode(bytes, charset: charset) else { return nil }
        return (decoded, payloadStart[close.upperBound...])
    }

    private static func padded(_ base64: String) -> String {
        let remainder = base64.utf8.count % 4
        return remainder == 0 ? base64 : base64 + String(repeating: "=", count: 4 - remainder)
    }

    private static func decodeQ(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "_"): bytes.append(0x20)
            case UInt8(ascii: "="):
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            default: bytes.append(byte)
            }
        }
        return bytes
    }
}

/// Byte-to-text decoding for the charsets mail uses.
public enum Charset {
    public static func decode(_ bytes: [UInt8], charset: String) -> String? {
        switch charset.lowercased() {
        case "utf-8", "utf8", "us-ascii", "ascii":
            return String(validating: bytes, as: UTF8.self) ?? String(decoding: bytes, as: UTF8.self)
        case "iso-8859-1", "latin1", "iso8859-1":
            return String(bytes.map { Character(Unicode.Scalar($0)) })
        case "windows-1252", "cp1252":
            return String(data: Data(bytes), encoding: .windowsCP1252)
        case "utf-16": return String(data: Data(bytes), encoding: .utf16)
        case "iso-2022-jp": return String(data: Data(bytes), encoding: .iso2022JP)
        case "shift_jis", "shift-jis": return String(data: Data(bytes), encoding: .shiftJIS)
        case "euc-jp": return String(data: Data(bytes), encoding: .japaneseEUC)
        case "iso-8859-2": return String(data: Data(bytes), encoding: .isoLatin2)
        case "windows-1251": return String(data: Data(bytes), encoding: .windowsCP1251)
        case "windows-1250": return String(data: Data(bytes), encoding: .windowsCP1250)
        default: return nil
        }
    }
}
