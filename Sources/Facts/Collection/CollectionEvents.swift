import EventLog
import Foundation

// The collection facts. Their one writer is the collector service in `serve`
// (`Delivery/Collection`), except `collection_requested` and `collector_uidls_forgotten`, which
// the administrative surfaces (CLI, admin) write. A collected message's own facts are a
// `message_accepted` on its message stream, appended in the same transaction as its
// `message_collected`; that is what makes collection exactly once.

/// Message `uidl` of the mailbox of collector `collector` was downloaded and accepted as
/// `messageID`. Stream `collector-<name>`, appended with the expected version the collector
/// last read, so two processes never record one message twice.
public struct MessageCollected: Event {
    public static let eventType = "message_collected"
    public static let category = "collector"

    public var collector: String
    public var uidl: String
    public var size: Int64
    /// The ISP's server and account, as they were when it was collected.
    public var server: String
    public var account: String
    public var messageID: String
    /// The local recipients (or list) it was routed to, and how.
    public var recipients: [String]
    public var routing: String

    public init(collector: String, uidl: String, size: Int64, server: String, account: String, messageID: String,
                recipients: [String], routing: String) {
        self.collector = collector
        self.uidl = uidl
        self.size = size
        self.server = server
        self.account = account
        self.messageID = messageID
        self.recipients = recipients
        self.routing = routing
    }

    public static func stream(collector: String) throws -> StreamName {
        try StreamName(category: category, id: collector.lowercased())
    }

    enum CodingKeys: String, CodingKey {
        case collector, uidl, size, server, account, recipients, routing
        case messageID = "message_id"
    }
}

/// A message left on the server: too large, refused by a download rule, or a mail loop.
/// Recorded once per UIDL, so the notice to its recipients goes once. A message left for its
/// size carries the notice's `token`: a reply to the notice (to `collector-fetch+TOKEN@…`)
/// asks for it to be fetched after all.
public struct MessageLeftOnServer: Event {
    public static let eventType = "message_left_on_server"
    public static let category = MessageCollected.category

    public var collector: String
    public var uidl: String
    public var size: Int64
    public var reason: String
    public var token: String?
    /// The notice's message id and the local users it went to.
    public var noticeID: String?
    public var notified: [String]?

    public init(collector: String, uidl: String, size: Int64, reason: String, token: String? = nil, noticeID: String? = nil,
                notified: [String]? = nil) {
        self.collector = collector
        self.uidl = uidl
        self.size = size
        self.reason = reason
        self.token = token
        self.noticeID = noticeID
        self.notified = notified
    }

    enum CodingKeys: String, CodingKey {
        case collector, uidl, size, reason, token, notified
        case noticeID = "notice_id"
    }
}

/// A reply to the notice of a message left for its size: the next run downloads it, when it
/// was first left at most `MessageLeftOnServer.fetchWindow` ago. Written by the collector
/// service when it sees the reply accepted (message `messageID`, from `sender`).
public struct CollectedMessageFetchRequested: Event {
    public static let eventType = "collected_message_fetch_requested"
    public static let category = MessageCollected.category

    public var collector: String
    public var uidl: String
    public var messageID: String
    public var sender: String

    public init(collector: String, uidl: String, messageID: String, sender: String) {
        self.collector = collector
        self.uidl = uidl
        self.messageID = messageID
        self.sender = sender
    }

    enum CodingKeys: String, CodingKey {
        case collector, uidl, sender
        case messageID = "message_id"
    }
}

extension MessageLeftOnServer {
    /// VPOP3's: a reply fetches the message when it was first seen at most 14 days ago.
    public static let fetchWindow: TimeInterval = 14 * 86_400
    /// The local part a notice's replies go to, `collector-fetch+TOKEN`.
    public static let replyPrefix = "collector-fetch+"
}

/// The collected messages the collector deleted from the server after their copies committed
/// (leave-on-server days passed, or 0); or, with `rule`, messages a download rule deleted
/// without downloading them.
public struct CollectedMessagesDeleted: Event {
    public static let eventType = "collected_messages_deleted"
    public static let category = MessageCollected.category

    public var collector: String
    public var uidls: [String]
    public var rule: String?

    public init(collector: String, uidls: [String], rule: String? = nil) {
        self.collector = collector
        self.uidls = uidls
        self.rule = rule
    }
}

/// UIDLs the server no longer lists, forgotten after `hold_obsolete_uidl_days`; or, from an
/// administrator (`pillarbox collect redownload`), UIDLs to fetch again.
public struct CollectorUIDLsForgotten: Event {
    public static let eventType = "collector_uidls_forgotten"
    public static let category = MessageCollected.category

    public var collector: String
    /// The UIDLs forgotten; nil: every one the collector remembers.
    public var uidls: [String]?
    /// For an administrator's request: the date it named (the UIDLs are those collected since).
    public var since: Date?
    public var actor: String

    public init(collector: String, uidls: [String]? = nil, since: Date? = nil, actor: String) {
        self.collector = collector
        self.uidls = uidls
        self.since = since
        self.actor = actor
    }
}

/// One run of a collector: when, what came of it (`ok`, or the failure as the server or the
/// network gave it), and how many messages it collected and deleted.
public struct CollectorRunEnded: Event {
    enum CodingKeys: String, CodingKey {
        case collector, started, trigger, result, collected, deleted, failed
        case sessionID = "session_id"
    }

    public static let eventType = "collector_run_ended"
    public static let category = MessageCollected.category

    public var collector: String
    public var started: Date
    public var trigger: String
    public var result: String
    public var collected: Int
    public var deleted: Int
    public var failed: Bool
    /// The run's `session_ended` (type P), when it reached the server.
    public var sessionID: String?

    public init(collector: String, started: Date, trigger: String, result: String, collected: Int, deleted: Int, failed: Bool,
                sessionID: String? = nil) {
        self.sessionID = sessionID
        self.collector = collector
        self.started = started
        self.trigger = trigger
        self.result = result
        self.collected = collected
        self.deleted = deleted
        self.failed = failed
    }
}

/// An administrator asked for a collection now (`pillarbox collect now [NAME]`); nil: all.
/// Stream `collection-main`.
public struct CollectionRequested: Event {
    public static let eventType = "collection_requested"
    public static let category = "collection"

    public var collector: String?
    public var actor: String

    public init(collector: String?, actor: String) {
        self.collector = collector
        self.actor = actor
    }

    public static var stream: StreamName {
        get throws { try StreamName(category: category, id: "main") }
    }
}
