import Foundation

/// A place in the log's read order: events are read by `(transaction, position)`, below the
/// oldest transaction still running, so no event that commits late is ever skipped.
public struct LogCursor: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The xid8 of the transaction that wrote the event.
    public let transaction: UInt64
    public let position: Int64

    public init(transaction: UInt64, position: Int64) {
        self.transaction = transaction
        self.position = position
    }

    /// Before the first event.
    public static let start = LogCursor(transaction: 0, position: 0)

    public static func < (lhs: LogCursor, rhs: LogCursor) -> Bool {
        (lhs.transaction, lhs.position) < (rhs.transaction, rhs.position)
    }

    public var description: String { "\(transaction)/\(position)" }
}

/// An event as stored, with its JSON decompressed.
public struct RecordedEvent: Sendable {
    public let position: Int64
    public let transaction: UInt64
    public let stream: String
    public let streamVersion: Int64
    public let type: String
    public let typeVersion: Int16
    public let eventID: UUID
    public let correlationID: UUID?
    public let causationID: UUID?
    public let recordedAt: Date
    public let json: [UInt8]

    public init(position: Int64, transaction: UInt64, stream: String, streamVersion: Int64, type: String,
                typeVersion: Int16, eventID: UUID, correlationID: UUID?, causationID: UUID?, recordedAt: Date,
                json: [UInt8]) {
        self.position = position
        self.transaction = transaction
        self.stream = stream
        self.streamVersion = streamVersion
        self.type = type
        self.typeVersion = typeVersion
        self.eventID = eventID
        self.correlationID = correlationID
        self.causationID = causationID
        self.recordedAt = recordedAt
        self.json = json
    }

    public var cursor: LogCursor { LogCursor(transaction: transaction, position: position) }

    /// Decodes the payload as `E`, checking the stored type string first.
    public func decode<E: Event>(as type: E.Type = E.self) throws -> E {
        guard self.type == E.eventType else {
            throw EventLogError.typeMismatch(position: position, stored: self.type, requested: E.eventType)
        }
        return try EventCoding.decode(E.self, from: json)
    }
}
