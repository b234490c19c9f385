import Foundation

/// Strict base64 (RFC 4648 §4) for SASL exchanges: no whitespace, correct padding.
public enum Base64 {
    public static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func isAlphabet(_ byte: UInt8) -> Bool {
        isDecodable(byte) != nil
    }

    public static func isDecodable(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    /// `=` alone is the empty response (RFC 4954 §4).
    public static func decode(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes == [UInt8(ascii: "=")] { return [] }
        guard bytes.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 4 * 3)
        var index = 0
        while index < bytes.count {
            let quad = bytes[index..<(index + 4)]
            let last = index + 4 == bytes.count
            let padding = quad.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard padding <= 2, padding == 0 || last else { return nil }
            var value: UInt32 = 0
            for (offset, byte) in quad.enumerated() {
                if offset >= 4 - padding { value <<= 6; continue }
                guard let digit = isDecodable(byte) else { return nil }
                value = value << 6 | UInt32(digit)
            }
            output.append(UInt8(value >> 16 & 0xff))
            if padding < 2 { output.append(UInt8(value >> 8 & 0xff)) }
            if padding < 1 { output.append(UInt8(value & 0xff)) }
            index += 4
        }
        return output
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let count = min(3, bytes.count - index)
            var value: UInt32 = 0
            for offset in 0..<3 { value = value << 8 | UInt32(offset < count ? bytes[index + offset] : 0) }
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(count > 1 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            output.append(count > 2 ? alphabet[Int(value & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
