import Crypto
import Foundation

/// An event on its way into the log: its type, its JSON and the blobs it references.
public struct EventData: Sendable {
    public var eventID: UUID
    public var type: String
    public var typeVersion: Int16
    /// The event's JSON, as it will read back.
    public var json: [UInt8]
    public var correlationID: UUID?
    public var causationID: UUID?
    /// Large values (message bodies) the event refers to by SHA-256, written with it.
    public var blobs: [BlobData]

    public init<E: Event>(_ event: E, eventID: UUID = UUID(), correlationID: UUID? = nil,
                          causationID: UUID? = nil, blobs: [BlobData] = []) throws {
        // The event's sealed fields (`Personal`) seal with the keys of the bodies it stores.
        for blob in blobs { DataKeys.shared.learn(blob.bytes, id: blob.id) }
        self.init(
            type: E.eventType, typeVersion: E.schemaVersion,
            json: try EventCoding.encode(event),
            eventID: eventID, correlationID: correlationID, causationID: causationID, blobs: blobs
        )
    }

    /// An event from its parts, for tools that copy events without knowing their types.
    public init(type: String, typeVersion: Int16, json: [UInt8], eventID: UUID = UUID(),
                correlationID: UUID? = nil, causationID: UUID? = nil, blobs: [BlobData] = []) {
        self.eventID = eventID
        self.type = type
        self.typeVersion = typeVersion
        self.json = json
        self.correlationID = correlationID
        self.causationID = causationID
        self.blobs = blobs
    }
}

/// The SHA-256 of a blob's uncompressed bytes: its address in `eventlog.blobs`.
/// Encoded in events as 64 lower-case hex digits.
public struct BlobID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(digest bytes: [UInt8]) {
        precondition(bytes.count == 32, "a blob id is a SHA-256 digest")
        self.bytes = bytes
    }

    public init?(hex: String) {
        guard hex.utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = Self.nibble(high), let l = Self.nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        self.bytes = bytes
    }

    public static func of(_ contents: some DataProtocol) -> BlobID {
        BlobID(digest: Array(SHA256.hash(data: contents)))
    }

    public var hex: String { bytes.hexString }
    public var description: String { hex }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = BlobID(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a SHA-256 hex digest")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A blob to store with an event. Stored once, however many events reference it.
public struct BlobData: Sendable {
    public let id: BlobID
    public let bytes: [UInt8]
    /// Who can read it once stored sealed (KeyStore.swift): the users whose folders it goes to,
    /// and the transit holder while the server itself still has work to do with it.
    public let holders: [BlobHolder]

    public init(_ bytes: [UInt8], holders: [BlobHolder] = [.transit]) {
        self.id = BlobID.of(bytes)
        self.bytes = bytes
        self.holders = holders
    }
}

extension Sequence where Element == UInt8 {
    /// The bytes as lower-case hex.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
