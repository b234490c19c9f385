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
            if let date = try? timestampStyle.parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp: \(text)")
        }
        return decoder
    }

    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

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
