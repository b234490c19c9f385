import Foundation

/// A fact recorded in the log.
///
/// Each type names itself with an explicit, stable string: renaming the Swift type never changes
/// what is stored. `schemaVersion` is stored with every event; a consumer meeting a version newer
/// than the one it knows treats the event as unknown and skips it with a warning.
///
/// Types document, in their doc comment, which component is the single writer of their stream
/// category (ARCHITECTURE.md rule 3).
public protocol Event: Codable, Sendable {
    /// Stored in `eventlog.events.type`; lower-case words joined by underscores.
    static var eventType: String { get }
    /// Stored in `eventlog.events.type_version`.
    static var schemaVersion: Int16 { get }
}

extension Event {
    public static var schemaVersion: Int16 { 1 }
}

/// The JSON coding used for every event payload: sorted keys (so equal events store equal
/// bytes) and ISO 8601 dates with fractional seconds.
public enum EventCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(timestampStyle))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = parseTimestamp(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp: \(text)")
        }
        return decoder
    }

    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// A timestamp as events store it: `2026-12-07T23:26:38.123Z`.
    static func formatTimestamp(_ date: Date) -> String { date.formatted(timestampStyle) }

    /// A stored timestamp, with or without its fraction of a second.
    static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? timestampStyle.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// A value's JSON, byte for byte what `encoder()` writes, written by `EventJSONEncoder`
    /// (Foundation's coder for the few shapes it leaves).
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try EventJSONEncoder.encode(value)
        } catch is EventJSONEncoder.Unsupported {
            return Array(try encoder().encode(value))
        }
        #if DEBUG
        let reference = Array(try encoder().encode(value))
        precondition(withoutSeals(bytes) == withoutSeals(reference), "EventJSONEncoder wrote \(String(decoding: bytes, as: UTF8.self)) for \(T.self), "
                     + "Foundation \(String(decoding: reference, as: UTF8.self))")
        #endif
        return bytes
    }

    #if DEBUG
    /// The JSON with the contents of its sealed fields blanked: sealing draws a fresh nonce.
    private static func withoutSeals(_ json: [UInt8]) -> [UInt8] {
        let marker = DataKeys.sealedMarker
        var out: [UInt8] = []
        var index = 0
        while index < json.count {
            if json[index] == marker[0], index + marker.count <= json.count, Array(json[index..<index + marker.count]) == marker {
                out.append(contentsOf: marker)
                index += marker.count
                while index < json.count, json[index] != UInt8(ascii: "\"") { index += 1 }
                continue
            }
            out.append(json[index])
            index += 1
        }
        return out
    }
    #endif

    /// A value from its JSON, read by `EventJSONDecoder`; a document it does not read goes to
    /// Foundation's decoder, whose result or error is then the answer.
    public static func decode<T: Decodable>(_ type: T.Type, from json: [UInt8]) throws -> T {
        do {
            return try EventJSONDecoder.decode(type, from: json)
        } catch {
            return try decoder().decode(type, from: Data(json))
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from json: Data) throws -> T {
        try decode(type, from: Array(json))
    }

    /// Checks an event type string: 1–64 characters of `[a-z0-9_.]`, starting with a letter.
    public static func isValidType(_ type: String) -> Bool {
        guard let first = type.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              type.utf8.count <= 64 else { return false }
        return type.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }
}
