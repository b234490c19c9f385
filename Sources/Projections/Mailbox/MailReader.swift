import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO

/// Rows of the live `mail.*` projection.
public struct MailAccountInfo: Sendable, Equatable {
    public let user: String
    public let active: Bool
    public let nextMailboxID: Int64
    public let lastUIDValidity: UInt32
    public let messages: Int64
    /// Storage used: the quota figure.
    public let bytes: Int64
}

public struct MailboxInfo: Sendable, Equatable {
    public let id: Int64
    public let name: String
    public let uidValidity: UInt32
    public let uidNext: UInt32
    public let highestModSeq: Int64
    public let specialUse: String?
    public let selectable: Bool
    public let messages: Int64
    public let bytes: Int64
}

public struct MessageInfo: Sendable, Equatable {
    public let uid: UInt32
    public let modSeq: Int64
    public let flags: [String]
    public let internalDate: Date
    public let size: Int64
    public let blob: BlobID
    /// When it came into its folder (RFC 8514 SAVEDATE).
    public var savedAt: Date?

    /// The same message as a reader sees it, with these flags (their own \Seen in a shared folder).
    public func with(flags: [String]) -> MessageInfo {
        MessageInfo(uid: uid, modSeq: modSeq, flags: flags, internalDate: internalDate, size: size, blob: blob, savedAt: savedAt)
    }
}

/// Reads the live `mail.*` projection for the gateways and the mail commands. The `on:` forms
/// read inside a caller's transaction, so a command decides from the state it appends against.
public struct MailReader: Sendable {
    public let engine: ProjectionEngine

    public init(engine: ProjectionEngine) {
        self.engine = engine
    }

    var logger: Logger { engine.logger }

    public func account(_ user: String) async throws -> MailAccountInfo? {
        try await engine.client.withConnection { try await account(user.lowercased(), on: $0) }
    }

    public func mailboxes(_ user: String) async throws -> [MailboxInfo] {
        try await engine.client.withConnection { try await mailboxes(user.lowercased(), on: $0) }
    }

    public func mailbox(_ user: String, named name: String) async throws -> MailboxInfo? {
        try await engine.client.withConnection { try await mailbox(user.lowercased(), named: name, on: $0) }
    }

    /// Messages of a folder in UID order, all or those with the given UIDs.
    public func messages(_ user: String, mailboxID: Int64, uids: [UInt32]? = nil) async throws -> [MessageInfo] {
        try await engine.client.withConnection { try await messages(user.lowercased(), mailboxID: mailboxID, uids: uids, on: $0) }
    }

    public func subscriptions(_ user: String) async throws -> [String] {
        try await engine.client.withConnection { connection in
            let rows = try await connection.query(
                "SELECT name FROM mail.subscriptions WHERE user_id = \(user.lowercased()) ORDER BY name", logger: logger)
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        }
    }

    package func account(_ user: String, on connection: PostgresConnection) async throws -> MailAccountInfo? {
        let rows = try await connection.query("""
            SELECT user_id, active, next_mailbox_id, last_uidvalidity, messages, bytes FROM mail.accounts
            WHERE user_id = \(user)
            """, logger: logger)
        for try await (user, active, next, last, messages, bytes) in rows.decode((String, Bool, Int64, Int64, Int64, Int64).self) {
            return MailAccountInfo(user: user, active: active, nextMailboxID: next, lastUIDValidity: UInt32(clamping: last),
                                   messages: messages, bytes: bytes)
        }
        return nil
    }

    package func mailboxes(_ user: String, on connection: PostgresConnection) async throws -> [MailboxInfo] {
        try await decodeMailboxes(connection.query("""
            SELECT \(unescaped: MailReaderStatements.mailboxColumns) FROM mail.mailboxes WHERE user_id = \(user) ORDER BY name
            """, logger: logger))
    }

    /// The folder called `name` (INBOX in any case), selectable or not.
    package func mailbox(_ user: String, named name: String, on connection: PostgresConnection) async throws -> MailboxInfo? {
        let statement = MailReaderStatements.MailboxByName(user: user, name: MailboxNames.canonical(name))
        for try await row in try await connection.execute(statement, logger: logger) { return Self.mailbox(row) }
        return nil
    }

    package func selectableMailbox(_ user: String, named name: String, on connection: PostgresConnection) async throws -> MailboxInfo {
        guard let mailbox = try await mailbox(user, named: name, on: connection) else { throw MailStoreError.noSuchMailbox(name) }
        guard mailbox.selectable else { throw MailStoreError.notSelectable(name) }
        return mailbox
    }

    package func mailbox(_ user: String, id: Int64, on connection: PostgresConnection) async throws -> MailboxInfo {
        for try await row in try await connection.execute(MailReaderStatements.MailboxByID(user: user, id: id), logger: logger) {
            return Self.mailbox(row)
        }
        throw MailStoreError.noSuchMailbox("#\(id)")
    }

    private static func mailbox(_ row: MailReaderStatements.MailboxRow) -> MailboxInfo {
        let (id, name, validity, next, modSeq, specialUse, selectable, messages, bytes) = row
        return MailboxInfo(id: id, name: name, uidValidity: UInt32(clamping: validity), uidNext: UInt32(clamping: next),
                           highestModSeq: modSeq, specialUse: specialUse, selectable: selectable, messages: messages, bytes: bytes)
    }

    private func decodeMailboxes(_ rows: PostgresRowSequence) async throws -> [MailboxInfo] {
        var result: [MailboxInfo] = []
        for try await (id, name, validity, next, modSeq, specialUse, selectable, messages, bytes) in rows.decode(
            (Int64, String, Int64, Int64, Int64, String?, Bool, Int64, Int64).self
        ) {
            result.append(MailboxInfo(id: id, name: name, uidValidity: UInt32(clamping: validity),
                                      uidNext: UInt32(clamping: next), highestModSeq: modSeq, specialUse: specialUse,
                                      selectable: selectable, messages: messages, bytes: bytes))
        }
        return result
    }

    package func messages(_ user: String, mailboxID: Int64, uids: [UInt32]?, on connection: PostgresConnection) async throws -> [MessageInfo] {
        var result: [MessageInfo] = []
        func add(_ row: MailReaderStatements.MessageRow) {
            let (uid, modSeq, flags, date, size, blob, saved) = row
            result.append(MessageInfo(uid: UInt32(clamping: uid), modSeq: modSeq, flags: flags, internalDate: date, size: size,
                                      blob: BlobID(digest: Array(buffer: blob)), savedAt: saved))
        }
        if let uids {
            let statement = MailReaderStatements.MessagesByUID(user: user, mailbox: mailboxID, uids: uids.map(Int64.init))
            for try await row in try await connection.execute(statement, logger: logger) { add(row) }
        } else {
            for try await row in try await connection.execute(MailReaderStatements.AllMessages(user: user, mailbox: mailboxID),
                                                              logger: logger) { add(row) }
        }
        return result
    }
}
