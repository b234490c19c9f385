import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Extends the hash chain in `eventlog.ledger` over every event, in read order, as the events
/// become readable, and signs the chain's head now and then (`eventlog.ledger_checkpoints`).
/// One sealer works at a time across all processes (a transaction-scoped advisory lock); the
/// others find nothing to do.
///
/// The chain alone shows edits only to someone who cannot recompute it; whoever holds the
/// database can. A signed head can be made only with the key in the key directory, so an event
/// rewritten before the newest signed head fails `pillarbox log verify` however the ledger was
/// re-chained after it.
public struct LedgerSealer: Service {
    /// The key that signs heads, and how often a new head is signed while events keep coming.
    public struct Signing: Sendable {
        public let key: Curve25519.Signing.PrivateKey
        public let interval: Duration

        public init(key: Curve25519.Signing.PrivateKey, interval: Duration = .seconds(10)) {
            self.key = key
            self.interval = interval
        }
    }

    let store: EventStore
    let batchSize: Int
    let signing: Signing?
    let logger: Logger

    public init(store: EventStore, batchSize: Int = 2_000, signing: Signing? = nil, logger: Logger) {
        self.store = store
        self.batchSize = batchSize
        self.signing = signing
        var logger = logger
        logger[metadataKey: "component"] = "ledger"
        self.logger = logger
    }

    public func run() async throws {
        var outage = OutageLog(logger: logger, what: "sealing the ledger")
        while !stopRequested {
            let generation = store.notifier.generation
            do {
                try await sealPending()
                outage.succeeded()
            } catch {
                if stopRequested { break }
                outage.failed(error)
            }
            await store.notifier.wait(after: generation, timeout: outage.isFailing ? outage.retryDelay : .seconds(1))
            // Let a burst of appends gather, so one transaction seals them together.
            if store.notifier.generation != generation { try? await Task.sleep(for: .milliseconds(20)) }
        }
        // The last head this run sealed is signed before it stops.
        if signing != nil {
            do {
                try await sealPending()
                try await signHead()
            } catch {
                logger.warning("signing the ledger head at shutdown failed", metadata: ["error": "\(String(reflecting: error))"])
            }
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

            var (sequence, previous, cursor) = try await lastLink(on: connection)
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
                cursor = LogCursor(transaction: UInt64(bitPattern: transaction), position: position)
            }
            guard !sequences.isEmpty else { return 0 }
            try await connection.query("""
                INSERT INTO eventlog.ledger (seq, global_position, tx_id, chain_hash)
                SELECT s, p, t::xid8, h FROM unnest(\(sequences), \(positions), \(transactions), \(hashes)) AS u(s, p, t, h)
                """, logger: logger)
            if let signing {
                let newest = try await Self.latestHead(on: connection, logger: logger)?.signedAt ?? .distantPast
                if Date().timeIntervalSince(newest) >= Double(signing.interval.components.seconds) {
                    try await insertHead(seq: sequence, position: cursor.position, chainHash: previous, signing: signing,
                                         on: connection)
                }
            }
            return sequences.count
        }
    }

    /// The ledger's last row: its seq, chain hash and the cursor of the event it seals.
    private func lastLink(on connection: PostgresConnection) async throws -> (Int64, [UInt8], LogCursor) {
        let rows = try await connection.query("""
            SELECT seq, (tx_id::text)::bigint, global_position, chain_hash FROM eventlog.ledger ORDER BY seq DESC LIMIT 1
            """, logger: logger)
        for try await (seq, transaction, position, hash) in rows.decode((Int64, Int64, Int64, ByteBuffer).self) {
            return (seq, Array(hash.readableBytesView), LogCursor(transaction: UInt64(bitPattern: transaction), position: position))
        }
        return (0, LedgerChain.genesis, .start)
    }

    private func insertHead(seq: Int64, position: Int64, chainHash: [UInt8], signing: Signing,
                            on connection: PostgresConnection) async throws {
        let head = try LedgerHead.sign(seq: seq, position: position, chainHash: chainHash, at: Date(), key: signing.key)
        try await connection.query("""
            INSERT INTO eventlog.ledger_checkpoints (seq, global_position, chain_hash, signed_micros, public_key, signature)
            VALUES (\(head.seq), \(head.position), \(ByteBuffer(bytes: head.chainHash)), \(head.signedMicros),
                    \(ByteBuffer(bytes: head.publicKey)), \(ByteBuffer(bytes: head.signature)))
            ON CONFLICT (seq) DO NOTHING
            """, logger: logger)
    }

    /// Signs the ledger's last row now unless it is signed already; returns the newest signed
    /// head (nil when the ledger is empty). Waits for a sealer working in another process.
    @discardableResult
    public func signHead() async throws -> LedgerHead? {
        guard let signing else { return try await Self.latestHead(client: store.client, logger: logger) }
        return try await store.client.transaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('pillarbox ledger sealer', 0))", logger: logger)
            let (sequence, chainHash, cursor) = try await lastLink(on: connection)
            guard sequence > 0 else { return nil }
            if let latest = try await Self.latestHead(on: connection, logger: logger), latest.seq == sequence { return latest }
            try await insertHead(seq: sequence, position: cursor.position, chainHash: chainHash, signing: signing, on: connection)
            return try await Self.latestHead(on: connection, logger: logger)
        }
    }

    /// The newest signed head, nil when none was signed yet.
    public static func latestHead(client: PostgresClient, logger: Logger) async throws -> LedgerHead? {
        try await client.withConnection { try await latestHead(on: $0, logger: logger) }
    }

    static func latestHead(on connection: PostgresConnection, logger: Logger) async throws -> LedgerHead? {
        let rows = try await connection.query("""
            SELECT seq, global_position, chain_hash, signed_micros, public_key, signature
            FROM eventlog.ledger_checkpoints ORDER BY seq DESC LIMIT 1
            """, logger: logger)
        for try await (seq, position, hash, micros, key, signature) in rows.decode((Int64, Int64, ByteBuffer, Int64, ByteBuffer, ByteBuffer).self) {
            return LedgerHead(seq: seq, position: position, chainHash: Array(hash.readableBytesView), signedMicros: micros,
                              publicKey: Array(key.readableBytesView), signature: Array(signature.readableBytesView))
        }
        return nil
    }
}
