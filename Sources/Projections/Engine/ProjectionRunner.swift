import EventLog
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps an async projection up to date: a `LogConsumer` whose place is the projection's own
/// state row, so each batch's rows and the checkpoint commit together, a crash mid-batch rolls
/// both back, and the next run resumes exactly where the last commit left off. It takes the
/// projection's lock, which a rebuild's swap takes too.
public struct ProjectionRunner: Service {
    public let engine: ProjectionEngine
    public let projection: any Projection
    let consumer: LogConsumer
    /// Batches this large flush with the planner guarded (see `RowWriter.flush`).
    static let plannerGuardBatch = 100

    public init(engine: ProjectionEngine, projection: any Projection, batchSize: Int = 500) {
        precondition(projection.mode == .async, "\(projection.name) is applied inline")
        self.engine = engine
        self.projection = projection
        var projectionLogger = engine.logger
        projectionLogger[metadataKey: "projection"] = "\(projection.name)"
        let logger = projectionLogger
        let checkpoint = LogConsumer.Checkpoint(
            load: { connection in
                try await engine.loadState(projection, target: try projection.liveTarget(), on: connection)?.cursor ?? .start
            },
            save: { cursor, connection in
                try await engine.saveState(projection, target: try projection.liveTarget(), cursor: cursor, on: connection)
            })
        var consumer = LogConsumer(
            name: "projection " + projection.name, categories: projection.categories, store: engine.store,
            registry: engine.registries[projection.name] ?? EventTypeRegistry(projection.eventTypes),
            checkpoint: checkpoint, lockName: projection.lockName, batchSize: batchSize, logger: logger
        ) { batch, connection in
            let writer = RowWriter()
            for item in batch.items {
                try engine.apply(item.event, recorded: item.recorded, to: projection, writer: writer)
            }
            // A few events at a time (keeping up) cannot outgrow the tables' statistics; a
            // backlog read in full batches can.
            try await writer.flush(to: try projection.liveTarget(), on: connection, logger: logger,
                                   guardPlanner: batch.items.count >= Self.plannerGuardBatch)
        }
        // Async projections are read by people and reports, never waited on by a client.
        consumer.gather = LogConsumer.unhurried
        self.consumer = consumer
    }

    public func run() async throws {
        try await consumer.run()
    }

    /// Applies every event visible now; returns how many were read.
    @discardableResult
    public func catchUp() async throws -> Int {
        try await consumer.catchUp()
    }
}
