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
                SELECT m.user_id, m.mailbox_id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq, m.special_use, m.selectable,
                       m.messages, m.bytes, string_agg(r.rights, '')
                FROM mail.rights r JOIN mail.mailboxes m ON m.user_id = r.user_id AND m.mailbox_id = r.mailbox_id
                WHERE (r.identifier = \(user) OR r.identifier = 'anyone') AND r.user_id <> \(user)
                GROUP BY m.user_id, m.mailbox_id
                ORDER BY m.user_id, m.name
                """, logger: logger)
            var shared: [SharedMailbox] = []
            for try await (owner, id, name, validity, next, modSeq, specialUse, selectable, messages, bytes, rights) in rows.decode(
                (String, Int64, String, Int64, Int64, Int64, String?, Bool, Int64, Int64, String).self
            ) {
                guard let rights = MailboxRights.normalised(rights), rights.contains("l") else { continue }
                let mailbox = MailboxInfo(id: id, name: name, uidValidity: UInt32(clamping: validity), uidNext: UInt32(clamping: next),
                                          highestModSeq: modSeq, specialUse: specialUse, selectable: selectable, messages: messages,
                                          bytes: bytes)
                shared.append(SharedMailbox(owner: owner, mailbox: mailbox, rights: rights))
            }
            return shared
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

    /// RFC 4467: the nonces `user`'s URLAUTH key for a folder is drawn from, the account's
    /// (every folder's) and the folder's own; empty where no RESETKEY was ever given.
    public func urlauthNonces(_ user: String, mailboxID: Int64) async throws -> (account: String, mailbox: String) {
        let user = user.lowercased()
        return try await engine.client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT mailbox_id, nonce FROM mail.urlauth_keys WHERE user_id = \(user) AND mailbox_id IN (-1, \(mailboxID))
                """, logger: logger)
            var result = (account: "", mailbox: "")
            for try await (id, nonce) in rows.decode((Int64, String).self) {
                if id == -1 { result.account = nonce } else { result.mailbox = nonce }
            }
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
