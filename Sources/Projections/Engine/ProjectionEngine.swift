import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO

/// Runs projections: applies inline ones in the appending transaction, creates and rebuilds
/// live tables, verifies them against a fresh rebuild and materialises past states.
public final class ProjectionEngine: Sendable {
    public let store: EventStore
    public let projections: [any Projection]
    let registries: [String: EventTypeRegistry]
    public let logger: Logger
    /// Events read per query while rebuilding.
    let readBatch: Int
    /// Buffered row writes that trigger a flush while rebuilding.
    let flushThreshold: Int

    public init(store: EventStore, projections: [any Projection], logger: Logger,
                readBatch: Int = 2_000, flushThreshold: Int = 20_000) {
        self.store = store
        self.projections = projections
        self.logger = logger
        self.readBatch = readBatch
        self.flushThreshold = flushThreshold
        var registries: [String: EventTypeRegistry] = [:]
        for projection in projections {
            precondition(registries[projection.name] == nil, "two projections named \(projection.name)")
            registries[projection.name] = EventTypeRegistry(projection.eventTypes, passingOver: EventCatalogue.all)
        }
        self.registries = registries
    }

    var client: PostgresClient { store.client }

    public func projection(named name: String) throws -> any Projection {
        guard let projection = projections.first(where: { $0.name == name }) else {
            throw ProjectionError.unknownProjection(name)
        }
        return projection
    }

    /// The named projections, or all of them when `names` is empty.
    public func projections(named names: [String]) throws -> [any Projection] {
        names.isEmpty ? projections : try names.map(projection(named:))
    }

    // MARK: Start-up

    /// Creates live tables that are missing and rebuilds those whose definition changed. One
    /// process prepares at a time: another one (a command run while the server starts) waits
    /// for it, after `onWait` says so, and then finds the tables ready.
    public func prepare(onWait: @Sendable () -> Void = {}) async throws {
        try await client.withConnection { connection in
            let lock = "SELECT pg_try_advisory_lock(hashtextextended('pillarbox projections prepare', 0))"
            var locked = false
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: lock), logger: logger).decode(Bool.self) {
                locked = value
            }
            if !locked {
                onWait()
                _ = try await connection.query("SELECT pg_advisory_lock(hashtextextended('pillarbox projections prepare', 0))",
                                               logger: logger)
            }
            do {
                try await prepareUnlocked()
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox projections prepare', 0))",
                                                logger: logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox projections prepare', 0))",
                                           logger: logger)
        }
    }

    private func prepareUnlocked() async throws {
        for projection in projections {
            let state = try await client.transaction(logger: logger) { connection in
                try await self.loadState(projection, target: projection.liveTarget(), on: connection)
            }
            if state?.definition != projection.definition {
                logger.notice("building projection from the log", metadata: [
                    "projection": "\(projection.name)", "reason": "\(state == nil ? "missing" : "definition changed")",
                ])
                try await rebuild(projection)
            }
        }
    }

    // MARK: Applying

    func apply(_ recorded: RecordedEvent, to projection: any Projection, writer: RowWriter) throws {
        guard let registry = registries[projection.name],
              let event = try registry.decode(recorded, logger: logger) else { return }
        try apply(event, recorded: recorded, to: projection, writer: writer)
    }

    /// Applies an event already decoded from `recorded`.
    func apply(_ event: any Event, recorded: RecordedEvent, to projection: any Projection, writer: RowWriter) throws {
        let context = EventContext(position: recorded.position, stream: try StreamName(key: recorded.stream),
                                   streamVersion: recorded.streamVersion, eventID: recorded.eventID,
                                   recordedAt: recorded.recordedAt)
        try projection.apply(event, context: context, to: writer)
    }

    // MARK: State rows

    struct State {
        let definition: String
        let cursor: LogCursor
    }

    func loadState(_ projection: any Projection, target: ProjectionTarget, on connection: PostgresConnection) async throws -> State? {
        let exists = try await connection.query(
            "SELECT to_regclass(\(target.stateTable)) IS NOT NULL", logger: logger)
        var found = false
        for try await value in exists.decode(Bool.self) { found = value }
        guard found else { return nil }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT definition, (tx_id::text)::bigint, position FROM \(target.stateTable) WHERE projection = $1
            """, binds: try binds(projection.name)), logger: logger)
        for try await (definition, transaction, position) in rows.decode((String, Int64, Int64).self) {
            return State(definition: definition,
                         cursor: LogCursor(transaction: UInt64(bitPattern: transaction), position: position))
        }
        return nil
    }

    func saveState(_ projection: any Projection, target: ProjectionTarget, cursor: LogCursor,
                   on connection: PostgresConnection) async throws {
        _ = try await connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO \(target.stateTable) (projection, definition, tx_id, position) VALUES ($1, $2, $3::xid8, $4)
            ON CONFLICT (projection) DO UPDATE SET definition = EXCLUDED.definition, tx_id = EXCLUDED.tx_id,
                position = EXCLUDED.position
            """, binds: try binds(projection.name, projection.definition, String(cursor.transaction), cursor.position)),
            logger: logger)
    }

    /// Creates (or empties) the projection's tables in `target`, with a state row at the log's start.
    /// `withIndexes` false leaves out the tables' non-unique indexes, for `createIndexes` to add.
    func createTables(_ projection: any Projection, in target: ProjectionTarget, withIndexes: Bool = true,
                      on connection: PostgresConnection) async throws {
        var statements = [
            "CREATE SCHEMA IF NOT EXISTS \(target.schema)",
            """
            CREATE TABLE IF NOT EXISTS \(target.stateTable) (projection text PRIMARY KEY, definition text NOT NULL,
                tx_id xid8 NOT NULL, position bigint NOT NULL)
            """,
        ]
        for view in projection.views {
            statements.append("DROP VIEW IF EXISTS \(target.qualified(view.name))")
        }
        for table in projection.tables {
            statements.append("DROP TABLE IF EXISTS \(target.qualified(table.name))")
            statements += table.createStatements(qualifiedName: target.qualified(table.name), indexPrefix: target.prefix,
                                                 withIndexes: withIndexes)
        }
        for view in projection.views {
            statements.append("CREATE OR REPLACE VIEW \(target.qualified(view.name)) AS \(view.select(target))")
        }
        for statement in statements {
            _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await saveState(projection, target: target, cursor: .start, on: connection)
    }

    func createIndexes(_ projection: any Projection, in target: ProjectionTarget, on connection: PostgresConnection) async throws {
        for table in projection.tables {
            for statement in table.indexStatements(qualifiedName: target.qualified(table.name), indexPrefix: target.prefix) {
                _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    private func binds(_ values: any PostgresEncodable...) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { try bindings.append(value, context: .default) }
        return bindings
    }

    // MARK: Building from the log

    /// Builds `projection` into `target` from the start of the log up to the read fence (or
    /// `until`), flushing and checkpointing as it goes; returns where it stopped.
    /// `stop`: no event after this cursor is applied (verify builds an async projection no
    /// further than its live tables have gone).
    func build(_ projection: any Projection, into target: ProjectionTarget,
               until limit: EventStore.ReadLimit = .none, stop: LogCursor? = nil, progress: Progress? = nil) async throws -> LogCursor {
        // The tables start with their keys only, and their other indexes are built once the
        // rows are in, as a bulk load does: cheaper than keeping them up to date row by row, and
        // the planner, which knows nothing yet of tables filling this fast, cannot take one of
        // them for a keyed write (an index on the key's first columns, scanned to its end for
        // each row, made a rebuild quadratic in the size of a folder).
        try await client.transaction(logger: logger) { connection in
            try await self.createTables(projection, in: target, withIndexes: false, on: connection)
        }
        var cursor = LogCursor.start
        let writer = RowWriter()
        var reachedStop = false
        // Four stages: while this task applies a batch in log order, a child task decodes the
        // next one, another reads the one after it, and another writes the rows of the batches
        // before (one write at a time, in order, each with its checkpoint).
        /// Whether a batch read may have another after it: a shorter one is the log's end, and
        /// one past `stop` needs no follower.
        func continues(_ batch: [RecordedEvent]) -> Bool {
            batch.count == readBatch && !(stop.map { batch[batch.count - 1].cursor > $0 } ?? false)
        }
        try await withThrowingTaskGroup(of: Void.self) { writing in
            let first = try await rawBatch(projection, after: .start, until: limit)
            var current = try decoded(first, for: projection)
            var hasNext = continues(first)
            var next = hasNext ? try await rawBatch(projection, after: first[first.count - 1].cursor, until: limit) : []
            while true {
                let upcoming = next
                let hasAfterNext = hasNext && continues(upcoming)
                async let afterNext = hasAfterNext ? rawBatch(projection, after: upcoming[upcoming.count - 1].cursor, until: limit) : []
                async let nextDecoded = decoded(upcoming, for: projection)
                for (recorded, event) in current {
                    if let stop, recorded.cursor > stop {
                        reachedStop = true
                        break
                    }
                    if let event { try apply(event, recorded: recorded, to: projection, writer: writer) }
                    cursor = recorded.cursor
                }
                progress?(cursor.position)
                if writer.pendingCount >= flushThreshold || !hasNext || reachedStop {
                    let writes = writer.takeWrites()
                    let checkpoint = cursor
                    try await writing.next()
                    writing.addTask {
                        try await self.client.transaction(logger: self.logger) { connection in
                            try await RowWriter.write(writes, to: target, on: connection, logger: self.logger)
                            try await self.saveState(projection, target: target, cursor: checkpoint, on: connection)
                        }
                    }
                }
                let following = try await nextDecoded
                let read = try await afterNext
                guard hasNext, !reachedStop else { break }
                current = following
                next = read
                hasNext = hasAfterNext
            }
            try await writing.waitForAll()
        }
        try await client.transaction(logger: logger) { connection in
            try await self.createIndexes(projection, in: target, on: connection)
        }
        return cursor
    }

    /// The next batch of a projection's events after `cursor`.
    private func rawBatch(_ projection: any Projection, after cursor: LogCursor,
                          until limit: EventStore.ReadLimit) async throws -> [RecordedEvent] {
        try await store.read(after: cursor, categories: projection.categories, until: limit, fenced: true, limit: readBatch,
                             on: nil)
    }

    /// Each event of a batch decoded (nil for a type the projection passes over).
    private func decoded(_ events: [RecordedEvent], for projection: any Projection) throws
        -> [(recorded: RecordedEvent, event: (any Event)?)] {
        guard let registry = registries[projection.name] else { return events.map { ($0, nil) } }
        return try events.map { ($0, try registry.decode($0, logger: logger)) }
    }

    /// Applies events after `cursor` on `connection` (inside the caller's transaction), up to
    /// `stop` when given; returns the new cursor.
    func catchUp(_ projection: any Projection, target: ProjectionTarget, from cursor: LogCursor, fenced: Bool,
                 stop: LogCursor? = nil, on connection: PostgresConnection) async throws -> LogCursor {
        var cursor = cursor
        let writer = RowWriter()
        while true {
            // A follower moves on with the whole log (`readFollowing`), not only with its own
            // categories, so that a projection of seldom written ones does not read everything
            // since its last event again at each step.
            let events: [RecordedEvent]
            var next: LogCursor?
            if fenced && stop == nil {
                (events, next) = try await store.readFollowing(after: cursor, categories: projection.categories,
                                                               limit: readBatch, on: connection)
            } else {
                events = try await store.read(after: cursor, categories: projection.categories, fenced: fenced,
                                              limit: readBatch, on: connection)
            }
            var reachedStop = false
            for recorded in events {
                if let stop, recorded.cursor > stop { reachedStop = true; break }
                try apply(recorded, to: projection, writer: writer)
                cursor = recorded.cursor
            }
            if let next { cursor = max(cursor, next) }
            try await writer.flush(to: target, on: connection, logger: logger)
            if reachedStop || events.count < readBatch { break }
        }
        try await saveState(projection, target: target, cursor: cursor, on: connection)
        return cursor
    }

    func lockExclusively(_ projection: any Projection, on connection: PostgresConnection) async throws {
        _ = try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtextextended(\(projection.lockName), 0))", logger: logger)
    }

    /// Where a projection's live tables stand in the log; nil before they exist.
    public func position(of projection: any Projection) async throws -> LogCursor? {
        try await client.withConnection { connection in
            try await self.loadState(projection, target: projection.liveTarget(), on: connection)?.cursor
        }
    }

    // MARK: Rebuild

    /// Rebuilds a projection into a scratch schema while the live tables keep serving, then
    /// swaps the scratch schema in atomically.
    /// Told, while a projection is built from the log, the position the build has reached.
    public typealias Progress = @Sendable (Int64) -> Void

    @discardableResult
    public func rebuild(_ projection: any Projection, progress: Progress? = nil) async throws -> LogCursor {
        let live = try projection.liveTarget()
        let scratch = try ProjectionTarget(schema: projection.schema + "_rebuild")
        let old = projection.schema + "_old"
        _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(scratch.schema) CASCADE"), logger: logger)
        let built = try await build(projection, into: scratch, progress: progress)
        // Fresh statistics, so the swapped-in tables are planned like tables that grew slowly
        // (inline writes rely on it: they do not guard the planner).
        for table in projection.tables {
            _ = try await client.query(PostgresQuery(unsafeSQL: "ANALYZE \(scratch.qualified(table.name))"), logger: logger)
        }
        return try await client.transaction(logger: logger) { connection in
            try await self.lockExclusively(projection, on: connection)
            let cursor = try await self.catchUp(projection, target: scratch, from: built,
                                                fenced: projection.mode == .async, on: connection)
            let rows = try await connection.query(
                "SELECT count(*) FROM pg_namespace WHERE nspname = \(live.schema)", logger: self.logger)
            var liveExists = false
            for try await count in rows.decode(Int.self) { liveExists = count > 0 }
            var statements = ["ALTER SCHEMA \(scratch.schema) RENAME TO \(live.schema)"]
            if liveExists {
                statements = ["DROP SCHEMA IF EXISTS \(old) CASCADE", "ALTER SCHEMA \(live.schema) RENAME TO \(old)"]
                    + statements + ["DROP SCHEMA \(old) CASCADE"]
            }
            for statement in statements {
                _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
            }
            return cursor
        }
    }

    // MARK: Digests and verification

    public struct TableDigest: Sendable, Equatable, CustomStringConvertible {
        public let table: String
        public let rows: Int64
        public let hash: String
        public var description: String { "\(table): \(rows) rows, \(hash)" }
    }

    /// A digest per table: the row count and the sum of a 64-bit hash of each row's text.
    func digests(_ projection: any Projection, target: ProjectionTarget,
                 on connection: PostgresConnection) async throws -> [TableDigest] {
        _ = try await connection.query("SET LOCAL TimeZone = 'UTC'", logger: logger)
        var digests: [TableDigest] = []
        for table in projection.tables {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text
                FROM \(target.qualified(table.name)) t
                """), logger: logger)
            for try await (count, hash) in rows.decode((Int64, String).self) {
                digests.append(TableDigest(table: table.name, rows: count, hash: hash))
            }
        }
        return digests
    }

    /// The live tables' digests.
    public func digests(_ projection: any Projection) async throws -> [TableDigest] {
        try await client.transaction(logger: logger) { connection in
            try await self.digests(projection, target: projection.liveTarget(), on: connection)
        }
    }

    public struct Verification: Sendable {
        public let projection: String
        public let live: [TableDigest]
        public let rebuilt: [TableDigest]
        /// Up to 20 rows found on one side only: `- table row` live only, `+ table row` rebuilt only.
        public let differences: [String]
        public var matches: Bool { live == rebuilt }
    }

    /// Rebuilds into a scratch schema and compares it with the live tables at one point in the log.
    public func verify(_ projection: any Projection, progress: Progress? = nil) async throws -> Verification {
        let live = try projection.liveTarget()
        let scratch = try ProjectionTarget(schema: projection.schema + "_verify")
        _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(scratch.schema) CASCADE"), logger: logger)
        let dropScratch = PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(scratch.schema) CASCADE")
        do {
            // An async projection's live tables may lag the log: the rebuild goes no further than
            // they have, and catches up with them under the lock.
            let liveStop = projection.mode == .async ? try await position(of: projection) : nil
            let built = try await build(projection, into: scratch, stop: liveStop, progress: progress)
            let verification = try await compare(projection, live: live, scratch: scratch, built: built)
            _ = try await client.query(dropScratch, logger: logger)
            return verification
        } catch {
            _ = try? await client.query(dropScratch, logger: logger)
            throw error
        }
    }

    private func compare(_ projection: any Projection, live: ProjectionTarget, scratch: ProjectionTarget,
                         built: LogCursor) async throws -> Verification {
        return try await client.transaction(logger: logger) { connection in
            try await self.lockExclusively(projection, on: connection)
            switch projection.mode {
            case .inline:
                _ = try await self.catchUp(projection, target: scratch, from: built, fenced: false, on: connection)
            case .async:
                let liveCursor = try await self.loadState(projection, target: live, on: connection)?.cursor ?? .start
                _ = try await self.catchUp(projection, target: scratch, from: built, fenced: true, stop: liveCursor,
                                           on: connection)
            }
            let liveDigests = try await self.digests(projection, target: live, on: connection)
            let rebuiltDigests = try await self.digests(projection, target: scratch, on: connection)
            var differences: [String] = []
            for table in projection.tables where differences.count < 20 {
                for (sign, from, to) in [("-", live, scratch), ("+", scratch, live)] where differences.count < 20 {
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                        SELECT d::text FROM (SELECT * FROM \(from.qualified(table.name)) EXCEPT ALL
                        SELECT * FROM \(to.qualified(table.name))) d LIMIT \(20 - differences.count)
                        """), logger: self.logger)
                    for try await row in rows.decode(String.self) { differences.append("\(sign) \(table.name) \(row)") }
                }
            }
            return Verification(projection: projection.name, live: liveDigests, rebuilt: rebuiltDigests,
                                differences: differences)
        }
    }

    // MARK: Point-in-time replay

    /// Materialises every projection as it stood at `until` into schema `schema`, each table
    /// named `<projection>_<table>`. The schema must not exist yet.
    public func replay(until limit: EventStore.ReadLimit, into schema: String) async throws -> [String: LogCursor] {
        let reserved = projections.flatMap { [$0.schema, $0.schema + "_rebuild", $0.schema + "_verify", $0.schema + "_old"] }
            + ["eventlog", "public", "pg_catalog", "information_schema"]
        guard !reserved.contains(schema) else { throw ProjectionError.schemaInUse(schema) }
        _ = try ProjectionTarget(schema: schema)
        _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger)
        var cursors: [String: LogCursor] = [:]
        for projection in projections {
            let target = try ProjectionTarget(schema: schema, prefix: projection.name + "_")
            cursors[projection.name] = try await build(projection, into: target, until: limit)
        }
        return cursors
    }

    /// Digests of a replayed projection, for comparing with a state captured earlier.
    public func digests(_ projection: any Projection, replayedInto schema: String) async throws -> [TableDigest] {
        let target = try ProjectionTarget(schema: schema, prefix: projection.name + "_")
        return try await client.transaction(logger: logger) { connection in
            try await self.digests(projection, target: target, on: connection)
        }
    }
}
