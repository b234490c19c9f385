import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Extends the hash chain in `eventlog.ledger` over every event, in read order, as the events
/// become readable, and signs the chain's head now and then (`eventlog.ledger_checkpoints`).
/// It is a `LogConsumer` reading content hashes only: one sealer works at a time across all
/// processes (the consumer's advisory lock); the others find nothing to do.
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
    static let lockName = "pillarbox ledger sealer"

    public init(store: EventStore, batchSize: Int = 2_000, signing: Signing? = nil, logger: Logger) {
        self.store = store
        self.batchSize = batchSize
        self.signing = signing
        var logger = logger
        logger[metadataKey: "component"] = "ledger"
        self.logger = logger
    }

    /// The sealer as a log consumer of content hashes: its place is the ledger's last row, so
    /// the rows it adds are its checkpoint, and they commit with the batch that read them.
    var consumer: LogConsumer {
        let logger = logger
        let checkpoint = LogConsumer.Checkpoint(load: { try await Self.lastLink(on: $0, logger: logger).cursor },
                                                save: { _, _ in })
        return LogConsumer(name: "ledger sealer", store: store, reading: .contentHashes, checkpoint: checkpoint,
                           lockName: Self.lockName, batchSize: batchSize, logger: logger) { batch, connection in
            try await seal(batch.entries, on: connection)
        }
    }

    public func run() async throws {
        // Nobody waits on the ledger: under load it seals a few large batches, not one per commit.
        await store.follow(logger: logger, what: "sealing the ledger", gather: LogConsumer.unhurried) { try await sealPending() }
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
        try await consumer.catchUp()
    }

    /// Chains `entries` onto the ledger and signs the new head when the last one is old enough.
    private func seal(_ entries: [ConsumerBatch.Entry], on connection: PostgresConnection) async throws {
        var (sequence, previous, cursor) = try await Self.lastLink(on: connection, logger: logger)
        var sequences: [Int64] = []
        var positions: [Int64] = []
        var transactions: [String] = []
        var hashes: [ByteBuffer] = []
        for entry in entries {
            sequence += 1
            previous = LedgerChain.link(previous: previous, sequence: sequence, position: entry.cursor.position,
                                        contentHash: entry.contentHash)
            sequences.append(sequence)
            positions.append(entry.cursor.position)
            transactions.append(String(entry.cursor.transaction))
            hashes.append(ByteBuffer(bytes: previous))
            cursor = entry.cursor
        }
        guard !sequences.isEmpty else { return }
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
    }

    /// The ledger's last row: its seq, chain hash and the cursor of the event it seals.
    static func lastLink(on connection: PostgresConnection,
                         logger: Logger) async throws -> (sequence: Int64, hash: [UInt8], cursor: LogCursor) {
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
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(Self.lockName), 0))", logger: logger)
            let (sequence, chainHash, cursor) = try await Self.lastLink(on: connection, logger: logger)
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
