import EventLog
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps an async projection up to date: follows the log, and commits each batch's rows with
/// the checkpoint in the projection's own state table, so a crash mid-batch rolls both back and
/// the next run resumes exactly where the last commit left off.
public struct ProjectionRunner: Service {
    public let engine: ProjectionEngine
    public let projection: any Projection
    let batchSize: Int
    let logger: Logger

    public init(engine: ProjectionEngine, projection: any Projection, batchSize: Int = 500) {
        precondition(projection.mode == .async, "\(projection.name) is applied inline")
        self.engine = engine
        self.projection = projection
        self.batchSize = batchSize
        var logger = engine.logger
        logger[metadataKey: "projection"] = "\(projection.name)"
        self.logger = logger
    }

    public func run() async throws {
        await engine.store.follow(logger: logger, what: "projection batch") { try await catchUp() }
    }

    /// Applies every event visible now; returns how many were read.
    @discardableResult
    public func catchUp() async throws -> Int {
        var total = 0
        while let count = try await processBatch() {
            total += count
            if count < batchSize { break }
        }
        return total
    }

    /// One batch in one transaction; nil when another process is running this projection.
    private func processBatch() async throws -> Int? {
        let target = try projection.liveTarget()
        return try await engine.client.transaction(logger: logger) { connection in
            let lockRows = try await connection.query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(\(projection.lockName), 0))", logger: logger)
            var locked = false
            for try await value in lockRows.decode(Bool.self) { locked = value }
            guard locked else { return nil }
            let cursor = try await engine.loadState(projection, target: target, on: connection)?.cursor ?? .start
            let events = try await engine.store.read(after: cursor, categories: projection.categories, fenced: true,
                                                     limit: batchSize, on: connection)
            guard let last = events.last else { return 0 }
            let writer = RowWriter()
            for recorded in events {
                do {
                    try engine.apply(recorded, to: projection, writer: writer)
                } catch let error as DecodingError {
                    // Never a crash: a payload that no longer decodes is reported and passed over.
                    logger.error("skipping an event that does not decode", metadata: [
                        "position": "\(recorded.position)", "type": "\(recorded.type)", "error": "\(error)",
                    ])
                }
            }
            try await writer.flush(to: target, on: connection, logger: logger)
            try await engine.saveState(projection, target: target, cursor: last.cursor, on: connection)
            return events.count
        }
    }
}
