import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Extends the hash chain in `eventlog.ledger` over every event, in read order, as the events
/// become readable. One sealer works at a time across all processes (a transaction-scoped
/// advisory lock); the others find nothing to do.
public struct LedgerSealer: Service {
    let store: EventStore
    let batchSize: Int
    let logger: Logger

    public init(store: EventStore, batchSize: Int = 2_000, logger: Logger) {
        self.store = store
        self.batchSize = batchSize
        var logger = logger
        logger[metadataKey: "component"] = "ledger"
        self.logger = logger
    }

    public func run() async throws {
        while !stopRequested {
            let generation = store.notifier.generation
            do {
                try await sealPending()
            } catch {
                if stopRequested { return }
                logger.error("sealing the ledger failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            await store.notifier.wait(after: generation, timeout: .seconds(1))
            // Let a burst of appends gather, so one transaction seals them together.
            if store.notifier.generation != generation { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Seals every event readable now; returns how many were sealed.
    @discardableResult
    public func sealPending() async throws -> Int {
        var total = 0
        while true {
            guard let sealed = try await sealBatch() else { return total }
            total += sealed
            if sealed < batchSize { return total }
        }
    }

    private func sealBatch() async throws -> Int? {
        try await store.client.transaction(logger: logger) { connection in
            let lockRows = try await connection.query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended('pillarbox ledger sealer', 0))", logger: logger)
            var locked = false
            for try await value in lockRows.decode(Bool.self) { locked = value }
            guard locked else { return nil }

            var sequence: Int64 = 0
            var previous = LedgerChain.genesis
            var cursor = LogCursor.start
            let lastRows = try await connection.query("""
                SELECT seq, (tx_id::text)::bigint, global_position, chain_hash FROM eventlog.ledger ORDER BY seq DESC LIMIT 1
                """, logger: logger)
            for try await (seq, transaction, position, hash) in lastRows.decode((Int64, Int64, Int64, ByteBuffer).self) {
                sequence = seq
                previous = Array(hash.readableBytesView)
                cursor = LogCursor(transaction: UInt64(bitPattern: transaction), position: position)
            }

            let eventRows = try await connection.query("""
                SELECT global_position, (tx_id::text)::bigint, content_hash FROM eventlog.events
                WHERE (tx_id, global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
                  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY tx_id, global_position LIMIT \(batchSize)
                """, logger: logger)
            var sequences: [Int64] = []
            var positions: [Int64] = []
            var transactions: [String] = []
            var hashes: [ByteBuffer] = []
            for try await (position, transaction, contentHash) in eventRows.decode((Int64, Int64, ByteBuffer).self) {
                sequence += 1
                previous = LedgerChain.link(previous: previous, sequence: sequence, position: position,
                                            contentHash: Array(contentHash.readableBytesView))
                sequences.append(sequence)
                positions.append(position)
                transactions.append(String(UInt64(bitPattern: transaction)))
                hashes.append(ByteBuffer(bytes: previous))
            }
            guard !sequences.isEmpty else { return 0 }
            try await connection.query("""
                INSERT INTO eventlog.ledger (seq, global_position, tx_id, chain_hash)
                SELECT s, p, t::xid8, h FROM unnest(\(sequences), \(positions), \(transactions), \(hashes)) AS u(s, p, t, h)
                """, logger: logger)
            return sequences.count
        }
    }
}
