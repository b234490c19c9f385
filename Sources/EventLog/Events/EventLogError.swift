import Foundation

/// An append whose expected version did not match the stream's (optimistic concurrency).
public struct WrongExpectedVersion: Error, Equatable, CustomStringConvertible {
    public let stream: String
    public let expected: ExpectedVersion
    /// The stream's version when the append was checked; -1 for an empty stream.
    public let actual: Int64

    public init(stream: String, expected: ExpectedVersion, actual: Int64) {
        self.stream = stream
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        "stream \(stream): expected \(expected), but the stream is at version \(actual)"
    }
}

public enum EventLogError: Error, CustomStringConvertible {
    /// An event id was already used by a different event (another stream, or a different batch).
    case eventIDConflict(stream: String)
    case emptyAppend(stream: String)
    case invalidEventType(String)
    case typeMismatch(position: Int64, stored: String, requested: String)
    case unknownCodec(position: Int64, codec: Int16)
    case unknownDictionary(Int32)
    case shuttingDown
    case unexpectedReply(String)
    /// No database connection came within the time an append may wait for one.
    case noConnection(waited: Duration)
    /// An append's statement did not return within the time a batch may run; its connection was
    /// closed. It may still have committed: retrying with the same event ids is harmless.
    case statementAbandoned(after: Duration)

    public var description: String {
        switch self {
        case .eventIDConflict(let stream): "append to \(stream): an event id is already used by another event"
        case .emptyAppend(let stream): "append to \(stream) holds no events"
        case .invalidEventType(let type): "\"\(type)\" is not a valid event type (a-z, 0-9, _ and ., starting with a letter)"
        case .typeMismatch(let position, let stored, let requested): "event \(position) is a \(stored), not a \(requested)"
        case .unknownCodec(let position, let codec): "event \(position) uses unknown codec \(codec)"
        case .unknownDictionary(let id): "zstd dictionary \(id) is not in eventlog.zstd_dicts"
        case .shuttingDown: "the event log is shutting down"
        case .unexpectedReply(let detail): "unexpected reply from PostgreSQL: \(detail)"
        case .noConnection(let waited): "no database connection within \(waited.components.seconds) s"
        case .statementAbandoned(let after): "the database did not answer an append within \(after.components.seconds) s"
        }
    }
}

/// A blob whose stored bytes do not hash to its address: someone changed `eventlog.blobs` or
/// `eventlog.blob_chunks` behind the server's back. Gateways answer with a transient error and
/// never send the bytes.
public struct BlobTampered: Error, Equatable, CustomStringConvertible {
    public let blob: BlobID

    public init(blob: BlobID) {
        self.blob = blob
    }

    public var description: String { "blob \(blob.hex) does not match its SHA-256: its stored bytes were altered" }
}

/// A sealed body no live key opens any more: every holder's key was destroyed (erasure), or the
/// store was opened without the key directory that seals them.
public struct BlobErased: Error, Equatable, CustomStringConvertible {
    public let blob: BlobID

    public init(blob: BlobID) {
        self.blob = blob
    }

    public var description: String { "blob \(blob.hex) is sealed and no key that opens it is left: it was erased" }
}
