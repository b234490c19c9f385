/// Every event after a cursor, once each, in read order; waits for more when caught up.
///
/// Reads re-run from the subscription's own cursor whenever a NOTIFY arrives, so a missed
/// notification costs latency, not events. When a read comes back short because a transaction
/// older than newer events is still open, the fence holds those events back; the subscription
/// then looks again after a short pause instead of waiting for a notification that may not come
/// (the open transaction might write nothing).
public struct LogSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent

    let store: EventStore
    let cursor: LogCursor
    let category: String?
    let batchSize: Int

    /// Longest wait for a notification before reading again anyway.
    static let idleRecheck = Duration.seconds(5)

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, cursor: cursor, category: category, batchSize: batchSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let store: EventStore
        var cursor: LogCursor
        let category: String?
        let batchSize: Int
        var buffer: [RecordedEvent] = []
        var bufferIndex = 0
        var fencePause = Duration.milliseconds(5)

        init(store: EventStore, cursor: LogCursor, category: String?, batchSize: Int) {
            self.store = store
            self.cursor = cursor
            self.category = category
            self.batchSize = batchSize
        }

        public mutating func next() async throws -> RecordedEvent? {
            while bufferIndex >= buffer.count {
                if Task.isCancelled { return nil }
                let generation = store.notifier.generation(for: Set(category.map { [$0] } ?? []))
                buffer = try await store.read(after: cursor, category: category, limit: batchSize)
                bufferIndex = 0
                if !buffer.isEmpty {
                    fencePause = .milliseconds(5)
                    break
                }
                if try await store.hasEventsBehindFence(after: cursor) {
                    try await Task.sleep(for: fencePause)
                    fencePause = Swift.min(fencePause * 2, .milliseconds(500))
                } else {
                    await store.notifier.wait(after: generation, categories: Set(category.map { [$0] } ?? []),
                                              timeout: LogSubscription.idleRecheck)
                }
            }
            let event = buffer[bufferIndex]
            bufferIndex += 1
            cursor = event.cursor
            return event
        }
    }
}

extension EventStore {
    /// True when committed events after `cursor` are held back by the fence.
    func hasEventsBehindFence(after cursor: LogCursor) async throws -> Bool {
        let rows = try await client.query("""
            SELECT EXISTS (SELECT 1 FROM eventlog.events e
                            WHERE (e.tx_id, e.global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
                              AND e.tx_id >= pg_snapshot_xmin(pg_current_snapshot()))
            """, logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }
}
