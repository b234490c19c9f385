import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A message body an erasure left without any wrap, as the erasure's event records it: the
/// ledger covers the event, so the body's stored bytes stay checkable with no key
/// (migrations/0008_erased_bodies.sql), and once `log compact-erased` has deleted them their
/// absence is explained.
public struct ErasedBody: Codable, Sendable, Hashable {
    public var blob: BlobID
    /// `eventlog.stored_digest` of the body when its last wrap went, in hex.
    public var stored: String
    /// The body opened and matched its address just before; false when it had been altered
    /// already (the erasure goes ahead, and `log verify` reports it).
    public var intact: Bool

    public init(blob: BlobID, stored: String, intact: Bool) {
        self.blob = blob
        self.stored = stored
        self.intact = intact
    }
}

/// What `log verify` and `log compact-erased` read of an event that erases bodies: any event
/// type they are given whose JSON carries `bodies`.
public struct ErasureRecord: Decodable, Sendable {
    public var bodies: [ErasedBody]?
}

extension KeyStore {
    /// The bodies `holder` holds a wrap of and nobody else does, among `blobs` (all of the
    /// holder's when nil): what deleting the holder's wraps leaves no one able to open.
    public static func bodiesHeldOnly(by holder: BlobHolder, among blobs: [BlobID]?, client: PostgresClient,
                                      logger: Logger) async throws -> [BlobID] {
        try await bodiesHeldOnly(by: holder, among: blobs, via: .pool(client), logger: logger)
    }

    static func bodiesHeldOnly(by holder: BlobHolder, among blobs: [BlobID]?, via runner: StatementRunner,
                               logger: Logger) async throws -> [BlobID] {
        let rows = try await runner.query("""
            SELECT w.sha256 FROM keystore.blob_keys w JOIN keystore.holder_keys k ON k.key_id = w.key_id
             WHERE k.holder = \(holder.description)
               AND (\(blobs == nil) OR w.sha256 = ANY(\((blobs ?? []).map { ByteBuffer(bytes: $0.bytes) })))
               AND NOT EXISTS (SELECT 1 FROM keystore.blob_keys o WHERE o.sha256 = w.sha256 AND o.key_id <> w.key_id)
             ORDER BY w.sha256
            """, logger: logger)
        var found: [BlobID] = []
        for try await key in rows.decode(ByteBuffer.self) { found.append(BlobID(digest: Array(buffer: key))) }
        return found
    }

    /// The record of the bodies only `holder` holds (among `blobs`), taken on the erasure's
    /// transaction just before the holder's wraps are deleted; `altered` are those found not to
    /// open beforehand (`EventStore.alteredBodies`).
    public static func erasedBodies(held holder: BlobHolder, among blobs: [BlobID]?, altered: Set<BlobID>,
                                    on connection: PostgresConnection, logger: Logger) async throws -> [ErasedBody] {
        let ids = try await bodiesHeldOnly(by: holder, among: blobs, via: .connection(connection), logger: logger)
        guard !ids.isEmpty else { return [] }
        let rows = try await connection.query("""
            SELECT sha256, eventlog.stored_digest(sha256) FROM eventlog.blobs
             WHERE sha256 = ANY(\(ids.map { ByteBuffer(bytes: $0.bytes) }))
            """, logger: logger)
        var digests: [BlobID: String] = [:]
        for try await (key, digest) in rows.decode((ByteBuffer, ByteBuffer).self) {
            digests[BlobID(digest: Array(buffer: key))] = Array(buffer: digest).hexString
        }
        return ids.compactMap { id in
            digests[id].map { ErasedBody(blob: id, stored: $0, intact: !altered.contains(id)) }
        }
    }
}

extension KeyStore {
    /// Deletes `holder`'s wraps of `blobs`, inside the caller's transaction on `connection`
    /// (an erasure's); returns how many there were.
    public static func deleteWraps(of holder: BlobHolder, among blobs: [BlobID], on connection: PostgresConnection,
                                   logger: Logger) async throws -> Int {
        let deleted = try await connection.query("""
            DELETE FROM keystore.blob_keys w USING keystore.holder_keys k
             WHERE w.key_id = k.key_id AND k.holder = \(holder.description)
               AND w.sha256 = ANY(\(blobs.map { ByteBuffer(bytes: $0.bytes) }))
            RETURNING w.sha256
            """, logger: logger)
        var wraps = 0
        for try await _ in deleted.decode(ByteBuffer.self) { wraps += 1 }
        return wraps
    }
}

extension EventStore {
    /// Of `ids`, the bodies that do not open or do not match their address: checked before an
    /// erasure, which records each body as intact or not.
    public func alteredBodies(_ ids: [BlobID]) async throws -> Set<BlobID> {
        var altered = Set<BlobID>()
        for id in ids {
            do {
                _ = try await forEachPiece(of: id) { _ in }
            } catch is BlobTampered {
                altered.insert(id)
            } catch is KeyStore.Failure {
                altered.insert(id)
            } catch is BlobErased {
                continue
            }
        }
        if !altered.isEmpty {
            logger.critical("message bodies about to be erased were altered beforehand; the erasure records them so",
                            metadata: ["bodies": "\(altered.map(\.hex).sorted())"])
        }
        return altered
    }
}

extension EventStore {
    /// Every erased body the events of `types` record, by address, with the event: the latest
    /// record wins (a body stored again after an erasure, then erased again).
    public func erasureRecords(types: [String]) async throws -> [BlobID: (body: ErasedBody, event: RecordedEvent)] {
        guard !types.isEmpty else { return [:] }
        let rows = try await client.query("""
            SELECT global_position FROM eventlog.events WHERE type = ANY(\(types)) ORDER BY global_position
            """, logger: logger)
        var positions: [Int64] = []
        for try await position in rows.decode(Int64.self) { positions.append(position) }
        var recorded: [BlobID: (body: ErasedBody, event: RecordedEvent)] = [:]
        let decoder = JSONDecoder()
        for position in positions {
            for event in try await read(positions: position...position, limit: 1) {
                for body in try decoder.decode(ErasureRecord.self, from: Data(event.json)).bodies ?? [] {
                    recorded[body.blob] = (body, event)
                }
            }
        }
        return recorded
    }

    /// What `compactErased` removed, or would.
    public struct Compaction: Sendable, Codable {
        public var removed: [BlobID] = []
        public var bytes: Int64 = 0
        /// Unreadable bodies no erasure recorded (erased before erasures recorded digests): kept.
        public var unrecorded = 0
        /// Unreadable bodies whose stored bytes no longer match their record, or that were
        /// altered before their erasure: kept, for `log verify` to name.
        public var altered: [BlobID] = []
    }

    /// Deletes the stored bytes of every body that no wrap opens any more and that an erasure
    /// recorded with the digest they still have, and appends what `removal` makes of the list,
    /// in one transaction on `connection` (which must be allowed to delete from
    /// `eventlog.blobs`: the database's owner). The bodies are hashed first, outside it; the
    /// transaction then locks out new bodies and wraps while it checks again that no wrap
    /// appeared, so a body stored again meanwhile is never deleted under a message using it.
    public func compactErased(records: [BlobID: (body: ErasedBody, event: RecordedEvent)], dryRun: Bool,
                              on connection: PostgresConnection,
                              removal: @Sendable ([BlobID], Int64) throws -> StreamAppend) async throws -> Compaction {
        let rows = try await connection.query("""
            SELECT b.sha256, eventlog.stored_digest(b.sha256),
                   octet_length(b.data)::bigint
                     + coalesce((SELECT sum(octet_length(c.data)) FROM eventlog.blob_chunks c WHERE c.sha256 = b.sha256), 0)::bigint
              FROM eventlog.blobs b
             WHERE b.codec >= 256 AND NOT EXISTS (SELECT 1 FROM keystore.blob_keys w WHERE w.sha256 = b.sha256)
             ORDER BY b.sha256
            """, logger: logger)
        var result = Compaction()
        var sizes: [BlobID: Int64] = [:]
        for try await (key, digest, size) in rows.decode((ByteBuffer, ByteBuffer, Int64).self) {
            let id = BlobID(digest: Array(buffer: key))
            guard let record = records[id]?.body else {
                result.unrecorded += 1
                continue
            }
            guard record.intact, record.stored == Array(buffer: digest).hexString else {
                result.altered.append(id)
                continue
            }
            sizes[id] = size
        }
        guard !dryRun, !sizes.isEmpty else {
            result.removed = sizes.keys.sorted { $0.hex < $1.hex }
            result.bytes = sizes.values.reduce(0, +)
            return result
        }
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("LOCK TABLE eventlog.blobs, keystore.blob_keys IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            let still = try await connection.query("""
                SELECT k FROM unnest(\(sizes.keys.map { ByteBuffer(bytes: $0.bytes) })::bytea[]) AS k
                 WHERE NOT EXISTS (SELECT 1 FROM keystore.blob_keys w WHERE w.sha256 = k)
                """, logger: logger)
            for try await key in still.decode(ByteBuffer.self) { result.removed.append(BlobID(digest: Array(buffer: key))) }
            result.removed.sort { $0.hex < $1.hex }
            result.bytes = result.removed.reduce(0) { $0 + (sizes[$1] ?? 0) }
            if !result.removed.isEmpty {
                let keys = result.removed.map { ByteBuffer(bytes: $0.bytes) }
                try await connection.query("DELETE FROM eventlog.blob_chunks WHERE sha256 = ANY(\(keys))", logger: logger)
                try await connection.query("DELETE FROM eventlog.blobs WHERE sha256 = ANY(\(keys))", logger: logger)
                _ = try await append([try removal(result.removed, result.bytes)], on: connection)
            }
            try await connection.query("COMMIT", logger: logger)
            DataKeys.shared.forgetAll()
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}
