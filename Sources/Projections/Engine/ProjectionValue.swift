import Foundation

/// One column value of a projection row.
public enum ProjectionValue: Hashable, Sendable {
    case null
    case int(Int64)
    case text(String)
    case bool(Bool)
    case bytes([UInt8])
    /// A `text[]` column.
    case texts([String])
    /// A `jsonb` column, as JSON text.
    case json(String)
    /// A `timestamptz` column, in microseconds since 1970 (UTC).
    case timestamp(Int64)
    /// A `double precision` column (durations in seconds).
    case double(Double)

    public static func int(_ value: Int) -> ProjectionValue { .int(Int64(value)) }
    public static func int(_ value: UInt32) -> ProjectionValue { .int(Int64(value)) }

    public static func timestamp(_ date: Date) -> ProjectionValue {
        .timestamp(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }

    public static func optional(_ text: String?) -> ProjectionValue {
        text.map(ProjectionValue.text) ?? .null
    }

    /// Appends the value as a JSON value that `jsonb_to_recordset` reads back as the column type.
    func writeJSON(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .int(let value):
            out.append(contentsOf: String(value).utf8)
        case .text(let text):
            JSONText.writeString(text, to: &out)
        case .bool(let value):
            out.append(contentsOf: (value ? "true" : "false").utf8)
        case .bytes(let bytes):
            // bytea's hex input form: \x followed by hex digits; the backslash escaped for JSON.
            out.append(contentsOf: "\"\\\\x".utf8)
            let digits = Array("0123456789abcdef".utf8)
            for byte in bytes {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
            out.append(UInt8(ascii: "\""))
        case .texts(let texts):
            out.append(UInt8(ascii: "["))
            for (index, text) in texts.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.writeString(text, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .json(let json):
            out.append(contentsOf: json.utf8)
        case .timestamp(let micros):
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: JSONText.timestamp(micros).utf8)
            out.append(UInt8(ascii: "\""))
        case .double(let value):
            out.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
        }
    }
}

/// Small JSON writing helpers for the bulk statements.
enum JSONText {
    static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0a: out.append(contentsOf: "\\n".utf8)
            case 0x0d: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for microseconds since 1970.
    static func timestamp(_ micros: Int64) -> String {
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 6))Z"
    }
}
