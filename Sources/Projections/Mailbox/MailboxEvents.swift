import EventLog
import Foundation
import MailCore

// Mailbox events live on one stream per user, `mailbox-<user id, lower-case>`. Their single
// writer is `MailStore` (used by the gateways and by the directory when a user is created or
// removed). Every value a projection needs — UIDs, MODSEQs, UIDVALIDITY, sizes — is decided by
// the writer and carried in the event.

/// A folder as created: its id within the user's account never changes, rename or not.
public struct MailboxSpec: Codable, Sendable, Hashable {
    public var mailboxID: Int64
    public var name: String
    public var uidValidity: UInt32
    /// RFC 6154 attribute without the backslash: `Sent`, `Drafts`, `Trash`, `Junk`, `Archive`.
    public var specialUse: String?
}

/// A user's mail account was opened, with INBOX and the special-use folders.
public struct MailAccountOpened: Event {
    public static let eventType = "mail_account_opened"
    public var user: String
    public var mailboxes: [MailboxSpec]
}

/// A user's mail account was closed: every folder and message gone.
public struct MailAccountClosed: Event {
    public static let eventType = "mail_account_closed"
    public var user: String
}

public struct MailboxCreated: Event {
    public static let eventType = "mailbox_created"
    public var mailbox: MailboxSpec
}

/// Folders renamed together (a folder and its children), each to its new full name.
public struct MailboxRenamed: Event {
    public static let eventType = "mailbox_renamed"
    public struct Rename: Codable, Sendable, Hashable {
        public var mailboxID: Int64
        public var from: String
        public var to: String
    }
    public var renames: [Rename]
}

/// A folder deleted with its messages. When it still has children it stays as a
/// \Noselect name (RFC 3501 §6.3.4) instead of vanishing.
public struct MailboxDeleted: Event {
    public static let eventType = "mailbox_deleted"
    public var mailboxID: Int64
    public var name: String
    public var keptAsNoSelect: Bool
    public var messages: Int64
    public var bytes: Int64
}

public struct MailboxSubscriptionChanged: Event {
    public static let eventType = "mailbox_subscription_changed"
    public var name: String
    public var subscribed: Bool
}

/// A message as stored in a folder.
public struct StoredMessage: Codable, Sendable, Hashable {
    public var mailboxID: Int64
    public var uid: UInt32
    public var modSeq: Int64
    /// System flags (`\Seen`) and keywords, sorted.
    public var flags: [String]
    public var internalDate: Date
    public var size: Int64
    public var blob: BlobID
}

/// A message delivered to a user's folder by local delivery; carries its parsed summary.
public struct MessageDelivered: Event {
    public static let eventType = "message_delivered"
    public var message: StoredMessage
    public var summary: MessageSummary
}

/// A message a client stored with IMAP APPEND.
public struct MessageAppended: Event {
    public static let eventType = "message_appended"
    public var message: StoredMessage
    public var summary: MessageSummary
}

/// Flags changed on messages of one folder; each listed message now has exactly `flags` and
/// the event's MODSEQ.
public struct MessageFlagsChanged: Event {
    public static let eventType = "message_flags_changed"
    public struct Change: Codable, Sendable, Hashable {
        public var uid: UInt32
        public var flags: [String]
    }
    public var mailboxID: Int64
    public var modSeq: Int64
    public var changes: [Change]
}

/// Messages removed from a folder, freeing `bytes`.
public struct MessagesExpunged: Event {
    public static let eventType = "messages_expunged"
    public var mailboxID: Int64
    public var modSeq: Int64
    public var uids: [UInt32]
    public var bytes: Int64
}

/// Messages copied into a folder under new UIDs (RFC 4315 COPYUID).
public struct MessagesCopied: Event {
    public static let eventType = "messages_copied"
    public struct Copy: Codable, Sendable, Hashable {
        public var sourceUID: UInt32
        public var message: StoredMessage
    }
    public var sourceMailboxID: Int64
    public var copies: [Copy]
}

/// Messages moved (RFC 6851): copied into the target, expunged from the source, atomically.
public struct MessagesMoved: Event {
    public static let eventType = "messages_moved"
    public var sourceMailboxID: Int64
    public var sourceModSeq: Int64
    public var copies: [MessagesCopied.Copy]
    public var bytes: Int64
}
