import EventLog
import Facts
import Foundation
import PostgresNIO
import Projections

/// Erasure: a user's mail made unreadable for good by destroying the key their message bodies
/// are wrapped under (EventLog's KeyStore.swift), in the transaction that removes the user.
extension Directory {
    /// What erasing a user takes away, or took away.
    public struct Erasure: Sendable, Codable, Equatable {
        public var user: String
        /// The user was still in the directory (and is removed with the erasure).
        public var existed: Bool
        /// The messages in their folders.
        public var messages: Int64
        public var bytes: Int64
        /// Bodies only their key opens: unreadable once it is destroyed.
        public var erasedBodies: Int
        /// Bodies other holders (other users, mail still on its way out) keep reading.
        public var sharedBodies: Int
        /// The key destroyed; nil for a dry run or a user who never had one.
        public var keyID: UUID?
    }

    /// Erases `name`: removes the user (their aliases, memberships and mail, as `removeUser`)
    /// when they still exist, destroys their key and records `user_key_destroyed`, all in one
    /// transaction. With `dryRun`, only says what would go. A user removed earlier can be
    /// erased later: their key outlives removal until erased.
    public func eraseUser(_ name: String, reason: String?, dryRun: Bool) async throws -> Erasure {
        let id = name.lowercased()
        guard let keyStore = engine.store.keyStore else {
            throw DirectoryError.invalid("key directory", "the store was opened without the key directory")
        }
        // Each body about to become unreadable is opened once more first: the erasure records
        // whether it was intact, since no one can check that afterwards.
        let altered = dryRun ? [] : try await engine.store.alteredBodies(
            try await KeyStore.bodiesHeldOnly(by: .user(id), among: nil, client: engine.store.client, logger: logger))
        return try await change { transaction, directory in
            let connection = transaction.connection
            var erasure = Erasure(user: id, existed: directory.users[id] != nil, messages: 0, bytes: 0,
                                  erasedBodies: 0, sharedBodies: 0, keyID: nil)
            let mail = try await connection.query("""
                SELECT count(*)::bigint, coalesce(sum(size), 0)::bigint FROM mail.messages WHERE user_id = \(id)
                """, logger: logger)
            for try await (count, bytes) in mail.decode((Int64, Int64).self) { (erasure.messages, erasure.bytes) = (count, bytes) }
            let bodies = try await connection.query("""
                SELECT count(*) FILTER (WHERE NOT shared)::bigint, count(*) FILTER (WHERE shared)::bigint
                  FROM (SELECT EXISTS (SELECT 1 FROM keystore.blob_keys o WHERE o.sha256 = w.sha256 AND o.key_id <> w.key_id) AS shared
                          FROM keystore.blob_keys w JOIN keystore.holder_keys k ON k.key_id = w.key_id
                         WHERE k.holder = \(BlobHolder.user(id).description)) AS b
                """, logger: logger)
            for try await (erased, shared) in bodies.decode((Int64, Int64).self) {
                (erasure.erasedBodies, erasure.sharedBodies) = (Int(erased), Int(shared))
            }
            guard !dryRun else { return ([], erasure) }
            var events: [any Event] = []
            if erasure.existed {
                let (removal, _) = try await removal(of: id, in: transaction, directory: directory)
                events += removal
            }
            let unreadable = try await KeyStore.erasedBodies(held: .user(id), among: nil, altered: altered, on: connection,
                                                             logger: logger)
            let keyID = try await keyStore.destroy(.user(id), on: connection)
            erasure.keyID = keyID
            if let keyID {
                events.append(UserKeyDestroyed(userID: id, keyID: keyID, reason: reason,
                                               erasedBodies: erasure.erasedBodies, sharedBodies: erasure.sharedBodies,
                                               bodies: unreadable))
            } else if !erasure.existed {
                throw DirectoryError.notFound("user or key of", name)
            }
            return (events, erasure)
        }
    }
}
