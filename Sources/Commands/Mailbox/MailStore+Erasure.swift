import EventLog
import Facts
import Foundation
import PostgresNIO
import Projections

/// Erasing messages: retention rules and `pillarbox erase messages`. Per user, in one
/// transaction, the messages are expunged (ordinary `messages_expunged` facts, with the origin
/// saying why), the user's wraps of the bodies none of their messages uses any more are
/// deleted, so a body nobody else holds can no longer be opened (EventLog's KeyStore.swift),
/// and `body_keys_destroyed` records which bodies that left unreadable.
extension MailStore {
    /// What an erasure of messages takes away, or would.
    public struct MessageErasure: Sendable, Codable, Equatable {
        public var users = 0
        public var messages = 0
        public var bytes: Int64 = 0
        /// Bodies whose owner's wrap went (or would go): unreadable unless someone else holds them.
        public var bodies = 0
    }

    /// Erases every message that came into its folder (its SAVEDATE) before the cutoff
    /// `cutoff(user, folder)` gives (nil keeps the folder's mail), for `users` (nil: everyone).
    /// With `dryRun`, only counts.
    public func eraseMessages(users: [String]?, dryRun: Bool,
                              cutoff: @Sendable (_ user: String, _ folder: String) -> Date?) async throws -> MessageErasure {
        let connectionRows = try await engine.store.client.query("""
            SELECT m.user_id, m.mailbox_id, b.name, m.uid, m.size, m.blob, m.saved_at
              FROM mail.messages m JOIN mail.mailboxes b ON b.user_id = m.user_id AND b.mailbox_id = m.mailbox_id
             WHERE \(users == nil) OR m.user_id = ANY(\(users?.map { $0.lowercased() } ?? []))
            """, logger: engine.logger)
        struct Row { let mailbox: Int64, uid: UInt32, size: Int64, blob: BlobID, chosen: Bool }
        var byUser: [String: [Row]] = [:]
        for try await (user, mailbox, folder, uid, size, blob, savedAt) in connectionRows.decode(
            (String, Int64, String, Int64, Int64, ByteBuffer, Date).self) {
            let chosen = cutoff(user, folder).map { savedAt < $0 } ?? false
            byUser[user, default: []].append(Row(mailbox: mailbox, uid: UInt32(uid), size: size,
                                                 blob: BlobID(digest: Array(buffer: blob)), chosen: chosen))
        }
        var erasure = MessageErasure()
        for (user, rows) in byUser.sorted(by: { $0.key < $1.key }) {
            let chosen = rows.filter(\.chosen)
            guard !chosen.isEmpty else { continue }
            let kept = Set(rows.filter { !$0.chosen }.map(\.blob))
            let freed = Set(chosen.map(\.blob)).subtracting(kept)
            erasure.users += 1
            erasure.messages += chosen.count
            erasure.bytes += chosen.reduce(0) { $0 + $1.size }
            erasure.bodies += freed.count
            guard !dryRun else { continue }
            // Each body about to become unreadable is opened once more first: the erasure
            // records whether it was intact, since no one can check that afterwards.
            let holder = BlobHolder.user(user)
            let altered = try await engine.store.alteredBodies(
                try await KeyStore.bodiesHeldOnly(by: holder, among: Array(freed), client: engine.store.client, logger: engine.logger))
            try await engine.transaction { transaction in
                for (mailbox, messages) in Dictionary(grouping: chosen, by: \.mailbox).sorted(by: { $0.key < $1.key }) {
                    _ = try await expunge(user: user, mailboxID: mailbox, uids: messages.map(\.uid), onlyDeleted: false,
                                          in: transaction)
                }
                // Only bodies no message of theirs uses now (one filed again meanwhile keeps its wrap).
                let connection = transaction.connection
                let used = try await connection.query("""
                    SELECT DISTINCT blob FROM mail.messages
                     WHERE user_id = \(user) AND blob = ANY(\(freed.map { ByteBuffer(bytes: $0.bytes) }))
                    """, logger: engine.logger)
                var going = freed
                for try await blob in used.decode(ByteBuffer.self) { going.remove(BlobID(digest: Array(buffer: blob))) }
                guard !going.isEmpty else { return }
                let bodies = try await KeyStore.erasedBodies(held: holder, among: Array(going), altered: altered,
                                                             on: connection, logger: engine.logger)
                let wraps = try await KeyStore.deleteWraps(of: holder, among: Array(going), on: connection, logger: engine.logger)
                guard wraps > 0 else { return }
                let stream = try MailboxStream.name(for: user)
                let expected = try await transaction.expectedVersion(of: stream)
                try await transaction.append([PendingEvent(BodyKeysDestroyed(sharedBodies: wraps - bodies.count,
                                                                             bodies: bodies).stamped())],
                                             to: stream, expectedVersion: expected)
            }
        }
        if !dryRun && erasure.messages > 0 { engine.store.keyStore?.forgetDataKeys() }
        return erasure
    }
}
