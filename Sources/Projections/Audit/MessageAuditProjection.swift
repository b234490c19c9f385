import EventLog
import Facts
import Foundation
import MailCore

/// VPOP3's message audit (`msgaudit.msgaudit`): one row per store-level operation on a
/// message or folder, whoever made it — IMAP, POP3, local delivery, an administrator — with
/// VPOP3's component and command codes:
///
/// `A` append (delivery or APPEND), `C` copy, `M` move, `D` delete (marked \Deleted), `U`
/// undelete, `P` purge (expunged), `K` create folder, `R` rename folder, `X` delete folder.
///
/// The view joins the rows kept in `entries` with what the projection learnt earlier from the
/// same log: folder names (`folders`, the current name), which message a UID is (`messages`)
/// and each message's subject, sender and date (`summaries`), so expunges, which carry only
/// UIDs, still name their message.
public struct MessageAuditProjection: Projection {
    public let name = "msgaudit"
    public let schema = "msgaudit"
    public let mode = ProjectionMode.async
    public let version = 1
    public let categories = [MailboxStream.category, SettingsStream.category]

    public init() {}

    public static let entries = ProjectionTable("entries", columns: [
        .init("id", .bigint), .init("datetime", .timestamptz), .init("component", .text), .init("owner", .text),
        .init("actionuser", .text), .init("cmd", .text), .init("ipaddr", .text), .init("sourcemailbox", .bigint),
        .init("targetmailbox", .bigint), .init("uid", .bigint), .init("sourcefolder", .text), .init("targetfolder", .text),
        .init("blob", .bytea),
    ], primaryKey: 1, indexes: [["owner", "datetime"], ["datetime"]])

    public static let folders = ProjectionTable("folders", columns: [
        .init("owner", .text), .init("mailboxid", .bigint), .init("name", .text),
    ], primaryKey: 2)

    public static let messages = ProjectionTable("messages", columns: [
        .init("owner", .text), .init("mailboxid", .bigint), .init("uid", .bigint), .init("blob", .bytea),
        .init("datetime", .timestamptz),
    ], primaryKey: 3, indexes: [["datetime"]])

    public static let summaries = ProjectionTable("summaries", columns: [
        .init("blob", .bytea), .init("subject", .text), .init("sender", .text), .init("msgdate", .timestamptz),
        .init("datetime", .timestamptz),
    ], primaryKey: 1, indexes: [["datetime"]])

    public var tables: [ProjectionTable] { [Self.entries, Self.folders, Self.messages, Self.summaries, AuditRetention.window] }

    public var views: [ProjectionView] {
        [ProjectionView("msgaudit") { target in
            """
            SELECT e.id, e.datetime, e.component, e.owner, e.actionuser, e.cmd, e.ipaddr,
                   coalesce(e.sourcefolder, sf.name) AS sourcefolder, coalesce(e.targetfolder, tf.name) AS targetfolder,
                   s.subject, s.sender, s.msgdate, e.uid
            FROM \(target.qualified("entries")) e
            LEFT JOIN \(target.qualified("folders")) sf ON sf.owner = e.owner AND sf.mailboxid = e.sourcemailbox
            LEFT JOIN \(target.qualified("folders")) tf ON tf.owner = e.owner AND tf.mailboxid = e.targetmailbox
            LEFT JOIN \(target.qualified("messages")) m
                   ON e.blob IS NULL AND m.owner = e.owner AND m.mailboxid = e.sourcemailbox AND m.uid = e.uid
            LEFT JOIN \(target.qualified("summaries")) s ON s.blob = coalesce(e.blob, m.blob)
            """
        }]
    }

    public var eventTypes: [any Event.Type] {
        [MailAccountOpened.self, MailAccountClosed.self, MailboxCreated.self, MailboxRenamed.self, MailboxDeleted.self,
         MailboxSubscriptionChanged.self, DeliveredForAudit.self, AppendedForAudit.self, MessageFlagsChanged.self, MessagesExpunged.self,
         MessagesCopied.self, MessagesMoved.self, SettingChanged.self]
    }

    let retention = AuditRetention(tables: [(entries, "datetime"), (messages, "datetime"), (summaries, "datetime")])

    /// Rows one event may add; more are counted out (an expunge of a huge folder).
    static let rowsPerEvent: Int64 = 100_000

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        if let event = event as? SettingChanged {
            _ = retention.settingChanged(event, context, rows)
            return
        }
        guard let owner = context.stream.id else { return }
        retention.retain(context, rows)
        let now = ProjectionValue.timestamp(context.recordedAt)
        var number: Int64 = 0
        func entry(_ origin: ChangeOrigin?, _ defaultComponent: String, _ command: String, source: Int64? = nil,
                   target: Int64? = nil, uid: UInt32? = nil, sourceName: String? = nil, targetName: String? = nil,
                   blob: BlobID? = nil) {
            guard number < Self.rowsPerEvent else { return }
            rows.insert(into: Self.entries, [
                .int(context.position * Self.rowsPerEvent + number), now, .text(origin?.component ?? defaultComponent),
                .text(owner), .optional(origin?.actor), .text(command), .optional(origin?.clientIP),
                source.map { .int($0) } ?? .null, target.map { .int($0) } ?? .null, uid.map { .int($0) } ?? .null,
                .optional(sourceName), .optional(targetName), blob.map { .bytes($0.bytes) } ?? .null,
            ])
            number += 1
        }
        func remember(_ message: StoredMessage) {
            rows.insert(into: Self.messages, [.text(owner), .int(message.mailboxID), .int(message.uid), .bytes(message.blob.bytes), now])
            rows.tally(Self.summaries, key: [.bytes(message.blob.bytes)], ["datetime": .latest(now)])
        }
        func remember(_ message: StoredMessage, _ summary: Personal<StoredSummary>) {
            guard let summary = summary.value else { return remember(message) }
            rows.insert(into: Self.messages, [.text(owner), .int(message.mailboxID), .int(message.uid), .bytes(message.blob.bytes), now])
            let from = summary.envelope.from.first.map { address in
                [address.mailbox, address.host].compactMap { $0 }.joined(separator: "@")
            }
            rows.insert(into: Self.summaries, [
                .bytes(message.blob.bytes), .optional(summary.subjectText), .optional(from),
                summary.sentDate.map { .timestamp(Date(timeIntervalSince1970: TimeInterval($0))) } ?? .null, now,
            ])
        }
        switch event {
        case let event as MailAccountOpened:
            for mailbox in event.mailboxes {
                rows.insert(into: Self.folders, [.text(owner), .int(mailbox.mailboxID), .text(mailbox.name)])
            }
        case let event as MailboxCreated:
            rows.insert(into: Self.folders, [.text(owner), .int(event.mailbox.mailboxID), .text(event.mailbox.name)])
            entry(event.origin, "", "K", target: event.mailbox.mailboxID, targetName: event.mailbox.name)
        case let event as MailboxRenamed:
            for rename in event.renames {
                rows.insert(into: Self.folders, [.text(owner), .int(rename.mailboxID), .text(rename.to)])
                entry(event.origin, "", "R", source: rename.mailboxID, sourceName: rename.from, targetName: rename.to)
            }
        case let event as MailboxDeleted:
            entry(event.origin, "", "X", source: event.mailboxID, sourceName: event.name)
        case let event as DeliveredForAudit:
            remember(event.message, event.summary)
            entry(event.origin, "DIST", "A", target: event.message.mailboxID, uid: event.message.uid, blob: event.message.blob)
        case let event as AppendedForAudit:
            remember(event.message, event.summary)
            entry(event.origin, "I", "A", target: event.message.mailboxID, uid: event.message.uid, blob: event.message.blob)
        case let event as MessageFlagsChanged:
            for uid in event.deletedMarked ?? [] { entry(event.origin, "", "D", source: event.mailboxID, uid: uid) }
            for uid in event.deletedCleared ?? [] { entry(event.origin, "", "U", source: event.mailboxID, uid: uid) }
        case let event as MessagesExpunged:
            for uid in event.uids { entry(event.origin, "", "P", source: event.mailboxID, uid: uid) }
        case let event as MessagesCopied:
            for copy in event.copies {
                remember(copy.message)
                entry(event.origin, "", "C", source: event.sourceMailboxID, target: copy.message.mailboxID, uid: copy.sourceUID,
                      blob: copy.message.blob)
            }
        case let event as MessagesMoved:
            for copy in event.copies {
                remember(copy.message)
                entry(event.origin, "", "M", source: event.sourceMailboxID, target: copy.message.mailboxID, uid: copy.sourceUID,
                      blob: copy.message.blob)
            }
        default:
            break
        }
    }
}

// What the audit reads of a delivery or an APPEND: the message and its summary's header fields.
// Decoding the whole summary (the body structure) for every delivered message costs more than
// everything else the audit does with it.

/// The parts of `MessageSummary` the audit shows.
struct StoredSummary: Codable, Sendable {
    struct Envelope: Codable, Sendable {
        var from: [MessageAddress]
    }
    var envelope: Envelope
    var subjectText: String?
    var sentDate: Int64?
}

/// `message_delivered` as the audit reads it.
struct DeliveredForAudit: Event {
    static let eventType = MessageDelivered.eventType
    var message: StoredMessage
    var summary: Personal<StoredSummary>
    var origin: ChangeOrigin?
}

/// `message_appended` as the audit reads it.
struct AppendedForAudit: Event {
    static let eventType = MessageAppended.eventType
    var message: StoredMessage
    var summary: Personal<StoredSummary>
    var origin: ChangeOrigin?
}
