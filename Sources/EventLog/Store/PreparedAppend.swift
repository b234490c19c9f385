import Foundation
import NIOCore

/// One stream's part of an append, encoded and compressed by the caller's task so the group
/// committer only moves bytes.
struct PreparedAppend: Sendable {
    struct Event: Sendable {
        let eventID: UUID
        let type: String
        let typeVersion: Int16
        let payload: EncodedBytes
        let correlationID: UUID?
        let causationID: UUID?
    }

    struct Blob: Sendable {
        let id: BlobID
        let size: Int64
        let contents: EncodedBytes
    }

    let stream: StreamName
    let expected: ExpectedVersion
    let events: [Event]
    let blobs: [Blob]
    /// Data keys of sealed bodies wrapped for their holders, stored with the append.
    let wraps: [BlobWrap]

    var byteCount: Int {
        events.reduce(0) { $0 + $1.payload.bytes.readableBytes } + blobs.reduce(0) { $0 + $1.contents.bytes.readableBytes }
    }
}

/// Appends that commit or fail together (one transaction across several streams).
struct PreparedGroup: Sendable {
    let appends: [PreparedAppend]
    var eventCount: Int { appends.reduce(0) { $0 + $1.events.count } }
    var byteCount: Int { appends.reduce(0) { $0 + $1.byteCount } }
}

/// What an append did.
public struct AppendResult: Sendable, Equatable {
    public let stream: String
    /// The global positions of the appended events, in order.
    public let positions: [Int64]
    /// The stream's version after the append (the version of its last event).
    public let streamVersion: Int64
    /// True when every event id was already in the log: nothing was written and `positions` are
    /// those of the original append. Retrying an append whose outcome is unknown is safe.
    public let wasAlreadyAppended: Bool
}

/// One stream's part of an atomic multi-stream append.
public struct StreamAppend: Sendable {
    public var stream: StreamName
    public var expectedVersion: ExpectedVersion
    public var events: [EventData]
    /// Bodies stored earlier that this append files for more holders.
    public var grants: [BlobGrant]

    public init(stream: StreamName, expectedVersion: ExpectedVersion = .any, events: [EventData], grants: [BlobGrant] = []) {
        self.stream = stream
        self.expectedVersion = expectedVersion
        self.events = events
        self.grants = grants
    }
}
