import Logging
import PostgresNIO

// MARK: Following the log

extension EventStore {
    /// Hands the followers an event as decoded from its stored payload at `position`, so the
    /// first of them to read it need not decode it again.
    public func shareDecoded(_ event: any Event, at position: Int64) {
        decodedEvents.keep(event, at: position)
    }

    /// Events after `cursor` from any of `categories`, fenced, and where to read from next: the
    /// last event's cursor after a full batch, otherwise the newest place in the whole log the
    /// read saw past. A follower of a category that is seldom written moves on with the log
    /// this way, instead of reading everything written since its last event again each time.
    public func readFollowing(after cursor: LogCursor, categories: [String], limit: Int,
                              on connection: PostgresConnection?) async throws -> (events: [RecordedEvent], next: LogCursor) {
        guard let horizon = try await horizon(via: connection.map { .connection($0) } ?? .pool(client)), horizon > cursor else {
            return ([], cursor)
        }
        if let held = try await window.events(after: cursor, through: horizon, categories: Set(categories), limit: limit,
                                              batch: Self.windowBatch, read: { after, through, batch in
            try await self.read(after: after, categories: [], until: .cursor(through), fenced: false, limit: batch, on: connection)
        }) {
            // Their fields' keys were looked up when the window read them; one may have been let go since.
            try await loadSealingKeys(of: held.events)
            return held
        }
        let events = try await read(after: cursor, categories: categories, until: .cursor(horizon), fenced: false,
                                    limit: limit, on: connection)
        if events.count == limit, let last = events.last { return (events, last.cursor) }
        return (events, horizon)
    }

    /// Whether anything of `categories` was written after `cursor`, and the place in the log to
    /// ask from next: for followers that reload their state from the tables when something
    /// changed, and so need no event's payload.
    public func changed(after cursor: LogCursor, categories: [String]) async throws -> (changed: Bool, next: LogCursor) {
        guard let horizon = try await horizon(via: .pool(client)), horizon > cursor else { return (false, cursor) }
        let rows = try await client.query("""
            SELECT EXISTS (SELECT 1 FROM \(unescaped: Self.eventsInReadOrder)
                            WHERE (e.tx_id, e.global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
                              AND (e.tx_id, e.global_position) <= (\(String(horizon.transaction))::xid8, \(horizon.position))
                              AND s.category = ANY(\(categories)::text[]))
            """, logger: logger)
        for try await changed in rows.decode(Bool.self) { return (changed, horizon) }
        return (false, horizon)
    }

    /// The newest place in read order below the fence. Every transaction before the fence has
    /// ended, so each later statement sees the same events up to it, on any connection.
    func horizon(via runner: StatementRunner) async throws -> LogCursor? {
        let rows = try await runner.query("""
            SELECT (e.tx_id::text)::bigint AS tx, e.global_position FROM eventlog.events e
             WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY e.tx_id DESC, e.global_position DESC LIMIT 1
            """, logger: logger)
        for try await (transaction, position) in rows.decode((Int64, Int64).self) {
            return LogCursor(transaction: UInt64(bitPattern: transaction), position: position)
        }
        return nil
    }

    /// As `read(after:categories:limit:on:)`, but only each event's place and content hash:
    /// no payload is read or decompressed.
    public func readContentHashes(after cursor: LogCursor, categories: [String], limit: Int,
                                  on connection: PostgresConnection) async throws -> [ConsumerBatch.Entry] {
        // Every category (the ledger's case) needs no join with the streams.
        let rows = try await connection.query(categories.isEmpty ? """
            SELECT e.global_position, (e.tx_id::text)::bigint AS tx, e.content_hash FROM eventlog.events e
            WHERE (e.tx_id, e.global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
              AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY e.tx_id, e.global_position LIMIT \(limit)
            """ : """
            SELECT e.global_position, (e.tx_id::text)::bigint, e.content_hash
            FROM \(unescaped: Self.eventsInReadOrder)
            WHERE (e.tx_id, e.global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
              AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot()) AND s.category = ANY(\(categories)::text[])
            ORDER BY e.tx_id, e.global_position LIMIT \(limit)
            """, logger: logger)
        var entries: [ConsumerBatch.Entry] = []
        for try await (position, transaction, hash) in rows.decode((Int64, Int64, ByteBuffer).self) {
            entries.append(.init(cursor: LogCursor(transaction: UInt64(bitPattern: transaction), position: position),
                                 contentHash: Array(hash.readableBytesView)))
        }
        return entries
    }

    /// Calls `catchUp` now and again whenever the log may have grown (a NOTIFY, or a second
    /// without one), until the task is cancelled or the service group shuts down. A failing
    /// `catchUp` is retried with a growing pause (100 ms to 5 s), logged once per outage.
    ///
    /// After a NOTIFY it lets `gather` pass before catching up, so that under a stream of
    /// appends a follower reads them in batches rather than one query per commit. A follower
    /// of some `categories` is woken only by appends to them (or by a NOTIFY that names none).
    public func follow(logger: Logger, what: String, categories: [String] = [], gather: Duration = .milliseconds(20),
                       _ catchUp: () async throws -> Void) async {
        var outage = OutageLog(logger: logger, what: what)
        let categories = Set(categories)
        while !stopRequested {
            let generation = notifier.generation(for: categories)
            do {
                try await catchUp()
                outage.succeeded()
                await notifier.wait(after: generation, categories: categories, timeout: .seconds(1))
                if notifier.generation(for: categories) != generation, gather > .zero { try? await Task.sleep(for: gather) }
            } catch {
                if stopRequested { return }
                outage.failed(error)
                try? await Task.sleep(for: outage.retryDelay)
            }
        }
    }

    /// Follows the log from `cursor`: every event once, in read order, woken by NOTIFY.
    public func subscribe(after cursor: LogCursor, category: String? = nil, batchSize: Int = 500) -> LogSubscription {
        LogSubscription(store: self, cursor: cursor, category: category, batchSize: batchSize)
    }

    /// Wakes readers in this process at once, as a NOTIFY would.
    public func wakeReaders() { notifier.wake() }

    /// A counter that grows whenever the log may have grown (a NOTIFY, or an append here).
    public var appendGeneration: UInt64 { notifier.generation }

    /// A counter that grows whenever streams of `categories` may have grown.
    public func appendGeneration(for categories: Set<String>) -> UInt64 { notifier.generation(for: categories) }

    /// Returns once the generation for `categories` (every category when empty) has moved past
    /// `generation`, or after `timeout`.
    public func waitForAppend(after generation: UInt64, categories: Set<String> = [], timeout: Duration) async {
        await notifier.wait(after: generation, categories: categories, timeout: timeout)
    }
}
