import EventLog
import Facts
import Foundation
import PostgresNIO

/// A folder of another user that a user may see (RFC 4314 `l`), with what they may do in it.
public struct SharedMailbox: Sendable, Equatable {
    public let owner: String
    public let mailbox: MailboxInfo
    public let rights: String
}

extension MailReader {
    /// The RFC 4314 entries on a folder other than its owner's: identifier → rights.
    public func rights(_ owner: String, mailboxID: Int64) async throws -> [String: String] {
        try await engine.client.withConnection { try await rights(owner.lowercased(), mailboxID: mailboxID, on: $0) }
    }

    package func rights(_ owner: String, mailboxID: Int64, on connection: PostgresConnection) async throws -> [String: String] {
        let rows = try await connection.query("""
            SELECT identifier, rights FROM mail.rights WHERE user_id = \(owner) AND mailbox_id = \(mailboxID)
            """, logger: logger)
        var result: [String: String] = [:]
        for try await (identifier, rights) in rows.decode((String, String).self) { result[identifier] = rights }
        return result
    }

    /// What `user` may do in `owner`'s folder: everything when it is theirs, else the rights
    /// granted to them and to `anyone` together.
    public func myRights(_ user: String, owner: String, mailboxID: Int64) async throws -> String {
        let user = user.lowercased(), owner = owner.lowercased()
        guard user != owner else { return MailboxRights.owner }
        let entries = try await rights(owner, mailboxID: mailboxID)
        return MailboxRights.normalised((entries[user] ?? "") + (entries["anyone"] ?? "")) ?? ""
    }

    /// The UIDs `reader` has seen in `owner`'s folder shared with them.
    public func seenBy(_ reader: String, owner: String, mailboxID: Int64) async throws -> Set<UInt32> {
        try await engine.client.withConnection { try await seenBy(reader.lowercased(), owner: owner.lowercased(), mailboxID: mailboxID, on: $0) }
    }

    package func seenBy(_ reader: String, owner: String, mailboxID: Int64, on connection: PostgresConnection) async throws -> Set<UInt32> {
        let rows = try await connection.query("""
            SELECT uid FROM mail.seen_by WHERE reader = \(reader) AND user_id = \(owner) AND mailbox_id = \(mailboxID)
            """, logger: logger)
        var seen = Set<UInt32>()
        for try await uid in rows.decode(Int64.self) { seen.insert(UInt32(clamping: uid)) }
        return seen
    }

    /// Other users' folders `user` may look up (`l`, granted to them or to `anyone`), by owner
    /// and name.
    public func sharedWith(_ user: String) async throws -> [SharedMailbox] {
        let user = user.lowercased()
        return try await engine.client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT r.user_id, r.mailbox_id, string_agg(r.rights, '') FROM mail.rights r
                WHERE (r.identifier = \(user) OR r.identifier = 'anyone') AND r.user_id <> \(user)
                GROUP BY r.user_id, r.mailbox_id
                """, logger: logger)
            var granted: [(String, Int64, String)] = []
            for try await (owner, mailboxID, rights) in rows.decode((String, Int64, String).self) {
                if let rights = MailboxRights.normalised(rights), rights.contains("l") { granted.append((owner, mailboxID, rights)) }
            }
            var shared: [SharedMailbox] = []
            for (owner, mailboxID, rights) in granted {
                guard let mailbox = try? await mailbox(owner, id: mailboxID, on: connection) else { continue }
                shared.append(SharedMailbox(owner: owner, mailbox: mailbox, rights: rights))
            }
            return shared.sorted { ($0.owner, $0.mailbox.name) < ($1.owner, $1.mailbox.name) }
        }
    }
}

extension MailReader {
    /// RFC 5464 entries `user` can read on `owner`'s folder (`mailboxID` nil: the server's):
    /// the shared ones and their own private ones, by entry name.
    public func metadata(_ user: String, owner: String, mailboxID: Int64?) async throws -> [String: String] {
        try await engine.client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT entry, value FROM mail.metadata
                WHERE user_id = \(owner.lowercased()) AND mailbox_id = \(mailboxID ?? -1)
                  AND (reader = '' OR reader = \(user.lowercased()))
                """, logger: logger)
            var result: [String: String] = [:]
            for try await (entry, value) in rows.decode((String, String).self) { result[entry] = value }
            return result
        }
    }

    /// How many entries `user` has set (private ones anywhere, shared ones on their folders).
    package func metadataCount(_ user: String, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query("""
            SELECT count(*) FROM mail.metadata WHERE reader = \(user) OR (reader = '' AND user_id = \(user))
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }
}
