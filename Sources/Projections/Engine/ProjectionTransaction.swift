import EventLog
import Foundation
import Logging
import PostgresNIO

/// An event to append together with its typed value, so inline projections can apply it.
public struct PendingEvent: Sendable {
    public let event: any Event
    public let eventID: UUID
    public let blobs: [BlobData]

    public init(_ event: any Event, eventID: UUID = UUID(), blobs: [BlobData] = []) {
        self.event = event
        self.eventID = eventID
        self.blobs = blobs
    }
}

/// One stream's part of an inline append.
public struct PendingAppend: Sendable {
    public let stream: StreamName
    public let expectedVersion: ExpectedVersion
    public let events: [PendingEvent]
    /// Bodies stored earlier that these events file for another holder (a user's folder).
    public let grants: [BlobGrant]

    public init(stream: StreamName, expectedVersion: ExpectedVersion, events: [PendingEvent], grants: [BlobGrant] = []) {
        self.stream = stream
        self.expectedVersion = expectedVersion
        self.events = events
        self.grants = grants
    }
}

/// A transaction in which events are appended and inline projections applied, committing
/// together: when it returns, the writer's change is in the log and in the live tables.
public final class ProjectionTransaction {
    public let connection: PostgresConnection
    public let engine: ProjectionEngine
    var transactionStart: Date?

    init(connection: PostgresConnection, engine: ProjectionEngine) {
        self.connection = connection
        self.engine = engine
    }

    var logger: Logger { engine.logger }

    /// Appends, all or nothing, and applies the events to every inline projection reading
    /// their categories. Throws `WrongExpectedVersion` when a stream moved on.
    @discardableResult
    public func append(_ appends: [PendingAppend]) async throws -> [AppendResult] {
        let categories = Set(appends.map(\.stream.category))
        let inline = engine.projections.filter { projection in
            projection.mode == .inline && !categories.isDisjoint(with: projection.categories)
        }
        let data = try appends.map { append in
            StreamAppend(stream: append.stream, expectedVersion: append.expectedVersion, events: try append.events.map {
                try EventData($0.event, eventID: $0.eventID, blobs: $0.blobs)
            }, grants: append.grants)
        }
        // Projections apply each event as it reads back from its stored JSON, exactly as a
        // rebuild will, so nothing the encoding rounds off can make the two differ.
        func roundTrip<E: Event>(_ event: E, _ json: [UInt8]) throws -> any Event {
            try EventCoding.decode(E.self, from: json)
        }
        let results = try await engine.store.append(data, on: connection)
        guard !inline.isEmpty else { return results }
        let recordedAt = transactionStart ?? Date()
        // Each event read back once, for every inline projection, and handed to the followers.
        var readBack: [Int64: any Event] = [:]
        func readBackEvent<E: Event>(_ event: E, _ json: [UInt8], at position: Int64) throws -> any Event {
            if let known = readBack[position] { return known }
            let decoded = try roundTrip(event, json)
            readBack[position] = decoded
            engine.store.shareDecoded(decoded, at: position)
            return decoded
        }
        for projection in inline {
            let writer = RowWriter()
            for ((append, stored), result) in zip(zip(appends, data), results)
            where !result.wasAlreadyAppended && projection.categories.contains(append.stream.category) {
                let firstVersion = result.streamVersion - Int64(append.events.count) + 1
                for (index, pending) in append.events.enumerated() {
                    let context = EventContext(position: result.positions[index], stream: append.stream,
                                               streamVersion: firstVersion + Int64(index), eventID: pending.eventID,
                                               recordedAt: recordedAt)
                    try projection.apply(try readBackEvent(pending.event, stored.events[index].json, at: result.positions[index]),
                                         context: context, to: writer)
                }
            }
            try await writer.flush(to: try projection.liveTarget(), on: connection, logger: logger, guardPlanner: false)
        }
        return results
    }

    /// Takes every inline projection's lock shared, before anything is read: a rebuild's swap
    /// takes them exclusively, and must find no writer holding a table it is about to drop.
    func begin() async throws {
        let names = engine.projections.filter { $0.mode == .inline }.map(\.lockName)
        for try await (now, _) in try await connection.execute(InlineLocksStatement(names: names), logger: logger) {
            transactionStart = now
        }
    }

    /// What to expect of `stream` for an append that must follow everything read so far in
    /// this transaction. Call it before reading the projection rows the append depends on: it
    /// locks the stream's row, so writers to one stream queue instead of failing their
    /// version check; a stream that does not exist yet is still checked optimistically.
    public func expectedVersion(of stream: StreamName) async throws -> ExpectedVersion {
        for try await version in try await connection.execute(StreamLockStatement(key: stream.key), logger: logger)
        where version >= 0 {
            return .exactly(version)
        }
        return .noStream
    }

    /// Stores a body from a file piece by piece, to be referred to by an event appended in this
    /// transaction.
    public func storeBlob(_ id: BlobID, size: Int64, fromFile path: String, holders: [BlobHolder]) async throws {
        try await engine.store.storeBlob(id, size: size, fromFile: path, holders: holders, on: connection)
    }

    /// Appends to one stream.
    @discardableResult
    public func append(_ events: [PendingEvent], to stream: StreamName, expectedVersion: ExpectedVersion) async throws -> AppendResult {
        try await append([PendingAppend(stream: stream, expectedVersion: expectedVersion, events: events)])[0]
    }
}

extension ProjectionEngine {
    /// A projection transaction inside a transaction already open on `connection` (a log
    /// consumer's batch), so appends made in it apply the inline projections and commit with
    /// the consumer's checkpoint. The caller retries on `WrongExpectedVersion`.
    public func transaction(joining connection: PostgresConnection) async throws -> ProjectionTransaction {
        let transaction = ProjectionTransaction(connection: connection, engine: self)
        try await transaction.begin()
        return transaction
    }

    /// Runs `body` in one transaction, retrying it from the start (up to `attempts` times) when
    /// an append meets a stream that moved on: optimistic concurrency.
    public func transaction<T: Sendable>(attempts: Int = 10,
                                         _ body: (ProjectionTransaction) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await client.transaction(logger: logger) { connection in
                    let transaction = ProjectionTransaction(connection: connection, engine: self)
                    try await transaction.begin()
                    return try await body(transaction)
                }
            } catch let error as WrongExpectedVersion where attempt < attempts {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
                logger.debug("stream moved on; retrying", metadata: ["stream": "\(error.stream)", "attempt": "\(attempt)"])
            }
        }
    }
}

/// The two statements every change through a `ProjectionTransaction` starts with, prepared once
/// per connection (`MailReaderStatements` says why).
struct InlineLocksStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT now(), count(pg_advisory_xact_lock_shared(hashtextextended(name, 0))) FROM unnest($1::text[]) AS name
        """
    typealias Row = (Date, Int64)
    let names: [String]

    func makeBindings() throws -> PostgresBindings { .parameters(names) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

struct StreamLockStatement: PostgresPreparedStatement {
    static let sql = "SELECT version FROM eventlog.streams WHERE stream_key = $1 FOR UPDATE"
    typealias Row = Int64
    let key: String

    func makeBindings() throws -> PostgresBindings { .parameters(key) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
}
