import EventLog
import Facts
import Foundation
import MailCore

/// The `mail.*` tables: accounts (with quota use), folders, subscriptions, messages, the
/// parsed summary of each stored body, and expunged UIDs (for RFC 7162 QRESYNC). Inline: a
/// client sees its own change as soon as the append commits.
public struct MailboxProjection: Projection {
    public let name = "mailbox"
    public let schema = "mail"
    public let mode = ProjectionMode.inline
    public let version = 7
    public let categories = [MailboxStream.category]

    public init() {}

    public static let accounts = ProjectionTable("accounts", columns: [
        .init("user_id", .text), .init("active", .boolean), .init("next_mailbox_id", .bigint),
        .init("last_uidvalidity", .bigint), .init("messages", .bigint), .init("bytes", .bigint),
    ], primaryKey: 1)

    public static let mailboxes = ProjectionTable("mailboxes", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("name", .text), .init("uidvalidity", .bigint),
        .init("uidnext", .bigint), .init("highestmodseq", .bigint), .init("special_use", .text),
        .init("selectable", .boolean), .init("messages", .bigint), .init("bytes", .bigint),
    ], primaryKey: 2, indexes: [["user_id", "name"]])

    public static let subscriptions = ProjectionTable("subscriptions", columns: [
        .init("user_id", .text), .init("name", .text),
    ], primaryKey: 2)

    public static let messages = ProjectionTable("messages", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("uid", .bigint), .init("modseq", .bigint),
        .init("flags", .textArray), .init("internal_date", .timestamptz), .init("size", .bigint), .init("blob", .bytea),
        .init("saved_at", .timestamptz),
    ], primaryKey: 3, indexes: [["user_id", "mailbox_id", "modseq"]])

    public static let messageData = ProjectionTable("message_data", columns: [
        .init("blob", .bytea), .init("size", .bigint), .init("header_size", .bigint), .init("subject", .text),
        .init("sent_at", .timestamptz), .init("envelope", .jsonb), .init("body_structure", .jsonb),
        .init("truncated", .boolean), .init("preview", .text), .init("thread_root", .text),
    ], primaryKey: 1)

    /// RFC 4314 rights granted on a folder to others (the owner's own are implied).
    public static let rights = ProjectionTable("rights", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("identifier", .text), .init("rights", .text),
    ], primaryKey: 3, indexes: [["identifier"]])

    /// Readers' own \Seen in folders shared with them: (owner, folder, UID, reader).
    public static let seenBy = ProjectionTable("seen_by", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("uid", .bigint), .init("reader", .text),
    ], primaryKey: 4, indexes: [["reader", "user_id", "mailbox_id"]])

    /// RFC 5464 entries: on `user_id`'s folder `mailbox_id` (-1 and "" for the server's), with
    /// `reader` the user a `/private/` entry belongs to ("" for `/shared/`).
    public static let metadata = ProjectionTable("metadata", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("entry", .text), .init("reader", .text), .init("value", .text),
    ], primaryKey: 4, indexes: [["reader"]])

    /// RFC 4467 key resets: the latest nonce for a user's folder (`mailbox_id` -1: all of them).
    public static let urlauthKeys = ProjectionTable("urlauth_keys", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("nonce", .text),
    ], primaryKey: 2)

    public static let expunged = ProjectionTable("expunged", columns: [
        .init("user_id", .text), .init("mailbox_id", .bigint), .init("uid", .bigint), .init("modseq", .bigint),
    ], primaryKey: 3)

    public var tables: [ProjectionTable] {
        [Self.accounts, Self.mailboxes, Self.subscriptions, Self.messages, Self.messageData, Self.expunged, Self.rights,
         Self.seenBy, Self.metadata, Self.urlauthKeys]
    }

    public var eventTypes: [any Event.Type] {
        [MailAccountOpened.self, MailAccountClosed.self, MailboxCreated.self, MailboxRenamed.self, MailboxDeleted.self,
         MailboxSubscriptionChanged.self, MessageDelivered.self, MessageAppended.self, MessageFlagsChanged.self,
         MessagesExpunged.self, MessagesCopied.self, MessagesMoved.self, MailboxRightsChanged.self,
         SharedSeenChanged.self, MetadataChanged.self, URLAuthKeyReset.self]
    }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        let user = ProjectionValue.text(context.stream.id ?? "")
        switch event {
        case let event as MailAccountOpened:
            rows.insert(into: Self.accounts, [
                user, .bool(true), .int((event.mailboxes.map(\.mailboxID).max() ?? 0) + 1),
                .int(event.mailboxes.map(\.uidValidity).max() ?? 0), .int(0), .int(0),
            ])
            for mailbox in event.mailboxes {
                insertMailbox(mailbox, user: user, rows: rows)
                rows.insert(into: Self.subscriptions, [user, .text(mailbox.name)])
            }
        case is MailAccountClosed:
            for table in [Self.messages, Self.mailboxes, Self.subscriptions, Self.expunged] {
                rows.deleteAll(from: table, where: [user])
            }
            rows.update(Self.accounts, key: [user], ["active": .set(.bool(false)), "messages": .set(.int(0)),
                                                     "bytes": .set(.int(0))])
        case let event as MailboxCreated:
            insertMailbox(event.mailbox, user: user, rows: rows)
            rows.update(Self.accounts, key: [user], [
                "next_mailbox_id": .atLeast(event.mailbox.mailboxID + 1),
                "last_uidvalidity": .atLeast(Int64(event.mailbox.uidValidity)),
            ])
        case let event as MailboxRenamed:
            for rename in event.renames {
                rows.update(Self.mailboxes, key: [user, .int(rename.mailboxID)], ["name": .set(.text(rename.to))])
            }
        case let event as MailboxDeleted:
            let key: [ProjectionValue] = [user, .int(event.mailboxID)]
            rows.deleteAll(from: Self.messages, where: key)
            rows.deleteAll(from: Self.expunged, where: key)
            rows.deleteAll(from: Self.rights, where: key)
            rows.deleteAll(from: Self.seenBy, where: key)
            rows.deleteAll(from: Self.metadata, where: key)
            if event.keptAsNoSelect {
                rows.update(Self.mailboxes, key: key, ["selectable": .set(.bool(false)), "messages": .set(.int(0)),
                                                       "bytes": .set(.int(0))])
            } else {
                rows.delete(from: Self.mailboxes, key: key)
            }
            rows.update(Self.accounts, key: [user], ["messages": .add(-event.messages), "bytes": .add(-event.bytes)])
        case let event as MailboxRightsChanged:
            let key: [ProjectionValue] = [user, .int(event.mailboxID), .text(event.identifier)]
            rows.delete(from: Self.rights, key: key)
            if !event.rights.isEmpty { rows.insert(into: Self.rights, key + [.text(event.rights)]) }
        case let event as SharedSeenChanged:
            // `user` is the reader here: the event is on their stream.
            let folder: [ProjectionValue] = [.text(event.owner), .int(event.mailboxID)]
            for uid in event.seen + event.unseen { rows.delete(from: Self.seenBy, key: folder + [.int(uid), user]) }
            for uid in event.seen { rows.insert(into: Self.seenBy, folder + [.int(uid), user]) }
        case let event as MetadataChanged:
            let key: [ProjectionValue] = [.text(event.owner), .int(event.mailboxID ?? -1), .text(event.entry),
                                          event.isPrivate ? user : .text("")]
            rows.delete(from: Self.metadata, key: key)
            if let value = event.value { rows.insert(into: Self.metadata, key + [.text(value)]) }
        case let event as URLAuthKeyReset:
            let key: [ProjectionValue] = [user, .int(event.mailboxID ?? -1)]
            rows.delete(from: Self.urlauthKeys, key: key)
            rows.insert(into: Self.urlauthKeys, key + [.text(event.nonce)])
        case let event as MailboxSubscriptionChanged:
            if event.subscribed {
                rows.insert(into: Self.subscriptions, [user, .text(event.name)])
            } else {
                rows.delete(from: Self.subscriptions, key: [user, .text(event.name)])
            }
        case let event as MessageDelivered:
            try store(event.message, summary: event.summary, user: user, savedAt: context.recordedAt, rows: rows)
        case let event as MessageAppended:
            try store(event.message, summary: event.summary, user: user, savedAt: context.recordedAt, rows: rows)
        case let event as MessageFlagsChanged:
            for change in event.changes {
                rows.update(Self.messages, key: [user, .int(event.mailboxID), .int(change.uid)], [
                    "flags": .set(.texts(change.flags)), "modseq": .set(.int(event.modSeq)),
                ])
            }
            rows.update(Self.mailboxes, key: [user, .int(event.mailboxID)], ["highestmodseq": .atLeast(event.modSeq)])
        case let event as MessagesExpunged:
            expunge(event.uids, from: event.mailboxID, modSeq: event.modSeq, bytes: event.bytes, user: user, rows: rows)
        case let event as MessagesCopied:
            for copy in event.copies { insertMessage(copy.message, user: user, savedAt: context.recordedAt, rows: rows) }
        case let event as MessagesMoved:
            for copy in event.copies { insertMessage(copy.message, user: user, savedAt: context.recordedAt, rows: rows) }
            expunge(event.copies.map(\.sourceUID), from: event.sourceMailboxID, modSeq: event.sourceModSeq,
                    bytes: event.bytes, user: user, rows: rows)
        default:
            break
        }
    }

    private func insertMailbox(_ mailbox: MailboxSpec, user: ProjectionValue, rows: RowWriter) {
        rows.insert(into: Self.mailboxes, [
            user, .int(mailbox.mailboxID), .text(mailbox.name), .int(Int64(mailbox.uidValidity)), .int(1), .int(1),
            .optional(mailbox.specialUse), .bool(true), .int(0), .int(0),
        ])
    }

    /// A message and, when its summary opens, the summary of its body (an erased body's stays
    /// sealed: its message goes with its owner, and no one else has the body).
    private func store(_ message: StoredMessage, summary: Personal<MessageSummary>, user: ProjectionValue, savedAt: Date,
                       rows: RowWriter) throws {
        insertMessage(message, user: user, savedAt: savedAt, rows: rows)
        guard let summary = summary.value else { return }
        let envelope = String(decoding: try EventCoding.encode(summary.envelope), as: UTF8.self)
        let body = String(decoding: try EventCoding.encode(summary.body), as: UTF8.self)
        rows.insert(into: Self.messageData, [
            .bytes(message.blob.bytes), .int(Int64(summary.size)), .int(Int64(summary.headerSize)),
            .optional(summary.subjectText), summary.sentDate.map { .timestamp($0 * 1_000_000) } ?? .null,
            .json(envelope), .json(body), .bool(summary.truncated), .optional(summary.preview), .optional(summary.threadRoot),
        ])
    }

    /// `savedAt`: when the message came into this folder (RFC 8514 SAVEDATE), the time of its event.
    private func insertMessage(_ message: StoredMessage, user: ProjectionValue, savedAt: Date, rows: RowWriter) {
        rows.insert(into: Self.messages, [
            user, .int(message.mailboxID), .int(message.uid), .int(message.modSeq), .texts(message.flags),
            .timestamp(message.internalDate), .int(message.size), .bytes(message.blob.bytes), .timestamp(savedAt),
        ])
        rows.update(Self.mailboxes, key: [user, .int(message.mailboxID)], [
            "uidnext": .atLeast(Int64(message.uid) + 1), "highestmodseq": .atLeast(message.modSeq),
            "messages": .add(1), "bytes": .add(message.size),
        ])
        rows.update(Self.accounts, key: [user], ["messages": .add(1), "bytes": .add(message.size)])
    }

    private func expunge(_ uids: [UInt32], from mailboxID: Int64, modSeq: Int64, bytes: Int64, user: ProjectionValue,
                         rows: RowWriter) {
        for uid in uids {
            rows.delete(from: Self.messages, key: [user, .int(mailboxID), .int(uid)])
            rows.deleteAll(from: Self.seenBy, where: [user, .int(mailboxID), .int(uid)])
            rows.insert(into: Self.expunged, [user, .int(mailboxID), .int(uid), .int(modSeq)])
        }
        let count = Int64(uids.count)
        rows.update(Self.mailboxes, key: [user, .int(mailboxID)], [
            "highestmodseq": .atLeast(modSeq), "messages": .add(-count), "bytes": .add(-bytes),
        ])
        rows.update(Self.accounts, key: [user], ["messages": .add(-count), "bytes": .add(-bytes)])
    }
}
