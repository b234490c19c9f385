import Logging
import PostgresNIO
import ServiceLifecycle

/// Events handed to a consumer in one transaction; unknown types already filtered out.
public struct ConsumerBatch: Sendable {
    public struct Item: Sendable {
        public let recorded: RecordedEvent
        public let event: any Event
    }

    /// An event's place in the log and its content hash, without its payload.
    public struct Entry: Sendable {
        public let cursor: LogCursor
        public let contentHash: [UInt8]
    }

    /// The decoded events (a consumer reading events).
    public let items: [Item]
    /// Every event's place and content hash (a consumer reading content hashes).
    public let entries: [Entry]
    /// The cursor that will be saved with the batch: its last event's, or past it when the batch
    /// ends before the log does (`EventStore.readFollowing`).
    public let cursor: LogCursor
}

/// Follows the log with a checkpoint: each batch's handler runs in one transaction together
/// with the checkpoint update, so its effects and its progress commit or roll back together.
/// Every follower of the log that keeps a place in it is one of these: the async projections,
/// local delivery, the IDS log writer, and the coming queue runner, collectors and list agent.
///
/// Two processes running the same consumer do not both work: each batch first takes a
/// transaction-scoped advisory lock named after the consumer. A batch whose appends meet a
/// stream that moved on (`WrongExpectedVersion`) is tried again from its start.
public struct LogConsumer: Service {
    public typealias Handler = @Sendable (ConsumerBatch, PostgresConnection) async throws -> Void

    /// Where a consumer keeps its place: by default a row of `eventlog.consumer_checkpoints`
    /// under its name; a consumer whose own tables say where it is (a projection's state row)
    /// keeps it there. Both run inside the batch's transaction.
    public struct Checkpoint: Sendable {
        let load: @Sendable (PostgresConnection) async throws -> LogCursor
        let save: @Sendable (LogCursor, PostgresConnection) async throws -> Void

        public init(load: @escaping @Sendable (PostgresConnection) async throws -> LogCursor,
                    save: @escaping @Sendable (LogCursor, PostgresConnection) async throws -> Void) {
            self.load = load
            self.save = save
        }

        public static func row(_ consumer: String, logger: Logger) -> Checkpoint {
            Checkpoint(load: { try await ConsumerCheckpoints.load(consumer, on: $0, logger: logger) },
                       save: { try await ConsumerCheckpoints.save(consumer, cursor: $0, on: $1, logger: logger) })
        }
    }

    /// What a batch carries.
    public enum Reading: Sendable {
        /// The events of the registry's types, decoded.
        case events(EventTypeRegistry)
        /// Every event's place and content hash; no payload is read or decompressed.
        case contentHashes
    }

    public let name: String
    public let categories: [String]
    let store: EventStore
    let reading: Reading
    let checkpoint: Checkpoint
    let lockName: String
    let batchSize: Int
    /// How far the log may move past an idle consumer's place before the place is saved there.
    static let idleCheckpointDistance: Int64 = 1_000
    let handler: Handler
    let logger: Logger
    /// How long a wake-up is left to gather more appends before the next batch is read. Short
    /// for a consumer others wait on (local delivery); longer for one nobody waits on (the
    /// audit tables, the ledger, the agents that answer mail), so under load it reads a few
    /// large batches instead of one small batch per commit, and finds the events it reads
    /// already decoded by the quicker followers.
    public var gather: Duration = .milliseconds(20)
    /// The gather of consumers nobody waits on.
    public static let unhurried: Duration = .milliseconds(100)

    /// `categories` empty reads every category. `lockName` defaults to `pillarbox consumer NAME`.
    public init(name: String, categories: [String] = [], store: EventStore, registry: EventTypeRegistry,
                checkpoint: Checkpoint? = nil, lockName: String? = nil, batchSize: Int = 500,
                gather: Duration = .milliseconds(20), logger: Logger, handler: @escaping Handler) {
        self.init(name: name, categories: categories, store: store, reading: .events(registry), checkpoint: checkpoint,
                  lockName: lockName, batchSize: batchSize, logger: logger, handler: handler)
        self.gather = gather
    }

    /// A consumer of content hashes (`.contentHashes`) or of events, reading every category
    /// when `categories` is empty.
    public init(name: String, categories: [String] = [], store: EventStore, reading: Reading, checkpoint: Checkpoint? = nil,
                lockName: String? = nil, batchSize: Int = 500, logger: Logger, handler: @escaping Handler) {
        self.name = name
        self.categories = categories
        self.store = store
        self.reading = reading
        self.batchSize = batchSize
        self.handler = handler
        var logger = logger
        logger[metadataKey: "consumer"] = "\(name)"
        self.logger = logger
        self.checkpoint = checkpoint ?? .row(name, logger: logger)
        self.lockName = lockName ?? "pillarbox consumer " + name
    }

    public init(name: String, category: String?, store: EventStore, registry: EventTypeRegistry,
                batchSize: Int = 500, logger: Logger, handler: @escaping Handler) {
        self.init(name: name, categories: category.map { [$0] } ?? [], store: store, registry: registry,
                  batchSize: batchSize, logger: logger, handler: handler)
    }

    public func run() async throws {
        await store.follow(logger: logger, what: "consumer batch", categories: categories, gather: gather) {
            try await catchUp()
        }
    }

    /// Handles every event visible now; returns how many were read (known or not).
    @discardableResult
    public func catchUp() async throws -> Int {
        var total = 0
        while true {
            let count = try await processBatchRetrying()
            guard let count else { return total }
            total += count
            if count < batchSize { return total }
        }
    }

    private func processBatchRetrying(attempts: Int = 10) async throws -> Int? {
        var attempt = 1
        while true {
            do {
                return try await processBatch()
            } catch let error as WrongExpectedVersion where attempt < attempts {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
                logger.debug("stream moved on; retrying the batch", metadata: ["stream": "\(error.stream)", "attempt": "\(attempt)"])
            }
        }
    }

    /// One batch in one transaction; nil when another process holds this consumer.
    private func processBatch() async throws -> Int? {
        try await store.client.transaction(logger: logger) { connection in
            let lockRows = try await connection.query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(\(lockName), 0))", logger: logger)
            var locked = false
            for try await value in lockRows.decode(Bool.self) { locked = value }
            guard locked else { return nil }

            let cursor = try await checkpoint.load(connection)
            let batch: ConsumerBatch
            let count: Int
            switch reading {
            case .events(let registry):
                let (events, next) = try await store.readFollowing(after: cursor, categories: categories, limit: batchSize,
                                                                   on: connection)
                guard !events.isEmpty else {
                    // Nothing of ours: the place moves on with the log now and then, so the next
                    // read does not go over what others wrote meanwhile again.
                    if next.position - cursor.position >= Self.idleCheckpointDistance { try await checkpoint.save(next, connection) }
                    return 0
                }
                batch = ConsumerBatch(items: decode(events, registry), entries: [], cursor: next)
                count = events.count
            case .contentHashes:
                let entries = try await store.readContentHashes(after: cursor, categories: categories, limit: batchSize,
                                                                on: connection)
                guard let last = entries.last else { return 0 }
                batch = ConsumerBatch(items: [], entries: entries, cursor: last.cursor)
                count = entries.count
            }
            try await handler(batch, connection)
            try await checkpoint.save(batch.cursor, connection)
            return count
        }
    }

    private func decode(_ events: [RecordedEvent], _ registry: EventTypeRegistry) -> [ConsumerBatch.Item] {
        var items: [ConsumerBatch.Item] = []
        for recorded in events {
            do {
                if let event = try registry.decode(recorded, shared: store.decodedEvents, logger: logger) {
                    items.append(.init(recorded: recorded, event: event))
                }
            } catch {
                // Never a crash: a payload that no longer decodes is reported and passed over.
                logger.error("skipping an event that does not decode", metadata: [
                    "position": "\(recorded.position)", "type": "\(recorded.type)", "error": "\(error)",
                ])
            }
        }
        return items
    }
}
