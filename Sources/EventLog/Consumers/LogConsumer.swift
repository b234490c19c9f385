import Logging
import PostgresNIO
import ServiceLifecycle

/// Events handed to a consumer in one transaction; unknown types already filtered out.
public struct ConsumerBatch: Sendable {
    public struct Item: Sendable {
        public let recorded: RecordedEvent
        public let event: any Event
    }

    public let items: [Item]
    /// The cursor that will be saved with the batch (its last event, known or not).
    public let cursor: LogCursor
}

/// Follows the log with a checkpoint: each batch's handler runs in one transaction together
/// with the checkpoint update, so its effects and its progress commit or roll back together.
///
/// Two processes running the same consumer do not both work: each batch first takes a
/// transaction-scoped advisory lock named after the consumer.
public struct LogConsumer: Service {
    public typealias Handler = @Sendable (ConsumerBatch, PostgresConnection) async throws -> Void

    public let name: String
    public let category: String?
    let store: EventStore
    let registry: EventTypeRegistry
    let batchSize: Int
    let handler: Handler
    let logger: Logger

    public init(name: String, category: String? = nil, store: EventStore, registry: EventTypeRegistry,
                batchSize: Int = 500, logger: Logger, handler: @escaping Handler) {
        self.name = name
        self.category = category
        self.store = store
        self.registry = registry
        self.batchSize = batchSize
        self.handler = handler
        var logger = logger
        logger[metadataKey: "consumer"] = "\(name)"
        self.logger = logger
    }

    public func run() async throws {
        await store.follow(logger: logger, what: "consumer batch") { try await catchUp() }
    }

    /// Handles every event visible now; returns how many were read (known or not).
    @discardableResult
    public func catchUp() async throws -> Int {
        var total = 0
        while true {
            let count = try await processBatch()
            guard let count else { return total }
            total += count
            if count < batchSize { return total }
        }
    }

    /// One batch in one transaction; nil when another process holds this consumer.
    private func processBatch() async throws -> Int? {
        try await store.client.transaction(logger: logger) { connection in
            let lockRows = try await connection.query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended('pillarbox consumer ' || \(name), 0))", logger: logger)
            var locked = false
            for try await value in lockRows.decode(Bool.self) { locked = value }
            guard locked else { return nil }

            let cursor = try await ConsumerCheckpoints.load(name, on: connection, logger: logger)
            let events = try await store.read(after: cursor, category: category, limit: batchSize, on: connection)
            guard let last = events.last else { return 0 }
            var items: [ConsumerBatch.Item] = []
            for recorded in events {
                do {
                    if let event = try registry.decode(recorded, logger: logger) {
                        items.append(.init(recorded: recorded, event: event))
                    }
                } catch {
                    // Never a crash: a payload that no longer decodes is reported and passed over.
                    logger.error("skipping an event that does not decode", metadata: [
                        "position": "\(recorded.position)", "type": "\(recorded.type)", "error": "\(error)",
                    ])
                }
            }
            try await handler(ConsumerBatch(items: items, cursor: last.cursor), connection)
            try await ConsumerCheckpoints.save(name, cursor: last.cursor, on: connection, logger: logger)
            return events.count
        }
    }
}
