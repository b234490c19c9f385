import EventLog
import Foundation
import MailCore

// Mailbox events live on one stream per user, `mailbox-<user id, lower-case>`. Their single
// writer is `MailStore` (used by the gateways and by the directory when a user is created or
// removed). Every value a projection needs — UIDs, MODSEQs, UIDVALIDITY, sizes — is decided by
// the writer and carried in the event.

/// The mailbox streams: one per user, `mailbox-<user id, lower-case>`.
public enum MailboxStream {
    public static let category = "mailbox"

    public static func name(for user: String) throws -> StreamName {
        try StreamName(category: category, id: user.lowercased())
    }
}

/// Who changed a mailbox, for the message audit (`msgaudit`): VPOP3's component code (`I`
/// IMAP, `P` POP3, `W` web, `DIST` local delivery, `LUA`, `IMP` import, `REST` restore), the
/// user or administrator acting, and the client address. A gateway sets `current` around the
/// commands it runs; `MailStore` stamps it on the events it writes.
public struct ChangeOrigin: Codable, Sendable, Hashable {
    public var component: String
    public var actor: String?
    public var clientIP: String?

    public init(component: String, actor: String? = nil, clientIP: String? = nil) {
        self.component = component
        self.actor = actor
        self.clientIP = clientIP
    }

    @TaskLocal public static var current: ChangeOrigin?
}

/// A mailbox event that says who made it.
public protocol OriginStamped: Event {
    var origin: ChangeOrigin? { get set }
}

extension OriginStamped {
    /// This event with the task's `ChangeOrigin.current`.
    public func stamped() -> Self {
        var event = self
        event.origin = ChangeOrigin.current
        return event
    }
}

/// A folder as created: its id within the user's account never changes, rename or not.
public struct MailboxSpec: Codable, Sendable, Hashable {
    public var mailboxID: Int64
    public var name: String
    public var uidValidity: UInt32
    /// RFC 6154 attribute without the backslash: `Sent`, `Drafts`, `Trash`, `Junk`, `Archive`.
    public var specialUse: String?

    public init(mailboxID: Int64, name: String, uidValidity: UInt32, specialUse: String?) {
        self.mailboxID = mailboxID
        self.name = name
        self.uidValidity = uidValidity
        self.specialUse = specialUse
    }
}

/// A user's mail account was opened, with INBOX and the special-use folders.
///
/// Owner: `MailStore.openAccount`, when `Directory` creates the user, on the user's
/// `mailbox-<user>` stream.
public struct MailAccountOpened: Event {
    public static let eventType = "mail_account_opened"
    public var user: String
    public var mailboxes: [MailboxSpec]

    public init(user: String, mailboxes: [MailboxSpec]) {
        self.user = user
        self.mailboxes = mailboxes
    }
}

/// A user's mail account was closed: every folder and message gone.
///
/// Owner: `MailStore.closeAccount`, when `Directory` removes the user, on the user's
/// `mailbox-<user>` stream.
public struct MailAccountClosed: Event {
    public static let eventType = "mail_account_closed"
    public var user: String

    public init(user: String) {
        self.user = user
    }
}

/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MailboxCreated: OriginStamped {
    public static let eventType = "mailbox_created"
    public var origin: ChangeOrigin?
    public var mailbox: MailboxSpec

    public init(mailbox: MailboxSpec) {
        self.mailbox = mailbox
    }
}

/// Folders renamed together (a folder and its children), each to its new full name.
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MailboxRenamed: OriginStamped {
    public static let eventType = "mailbox_renamed"
    public var origin: ChangeOrigin?
    public struct Rename: Codable, Sendable, Hashable {
        public var mailboxID: Int64
        public var from: String
        public var to: String

        public init(mailboxID: Int64, from: String, to: String) {
            self.mailboxID = mailboxID
            self.from = from
            self.to = to
        }
    }
    public var renames: [Rename]

    public init(renames: [Rename]) {
        self.renames = renames
    }
}

/// A folder deleted with its messages. When it still has children it stays as a
/// \Noselect name (RFC 3501 §6.3.4) instead of vanishing.
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MailboxDeleted: OriginStamped {
    public static let eventType = "mailbox_deleted"
    public var origin: ChangeOrigin?
    public var mailboxID: Int64
    public var name: String
    public var keptAsNoSelect: Bool
    public var messages: Int64
    public var bytes: Int64

    public init(mailboxID: Int64, name: String, keptAsNoSelect: Bool, messages: Int64, bytes: Int64) {
        self.mailboxID = mailboxID
        self.name = name
        self.keptAsNoSelect = keptAsNoSelect
        self.messages = messages
        self.bytes = bytes
    }
}

/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MailboxSubscriptionChanged: Event {
    public static let eventType = "mailbox_subscription_changed"
    public var name: String
    public var subscribed: Bool

    public init(name: String, subscribed: Bool) {
        self.name = name
        self.subscribed = subscribed
    }
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

    public init(mailboxID: Int64, uid: UInt32, modSeq: Int64, flags: [String], internalDate: Date, size: Int64, blob: BlobID) {
        self.mailboxID = mailboxID
        self.uid = uid
        self.modSeq = modSeq
        self.flags = flags
        self.internalDate = internalDate
        self.size = size
        self.blob = blob
    }
}

/// A message delivered to a user's folder by local delivery; carries its parsed summary.
///
/// Owner: the local delivery agent (`Delivery/LocalDelivery`) through `MailStore`, on the
/// recipient's `mailbox-<user>` stream.
public struct MessageDelivered: OriginStamped {
    public static let eventType = "message_delivered"
    public var origin: ChangeOrigin?
    public var message: StoredMessage
    /// Personal data (envelope, structure, preview): sealed with the body.
    public var summary: Personal<MessageSummary>

    public init(message: StoredMessage, summary: MessageSummary) {
        self.message = message
        self.summary = Personal(summary, sealedWith: message.blob)
    }
}

/// A message a client stored with IMAP APPEND.
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MessageAppended: OriginStamped {
    public static let eventType = "message_appended"
    public var origin: ChangeOrigin?
    public var message: StoredMessage
    /// Personal data (envelope, structure, preview): sealed with the body.
    public var summary: Personal<MessageSummary>

    public init(message: StoredMessage, summary: MessageSummary) {
        self.message = message
        self.summary = Personal(summary, sealedWith: message.blob)
    }
}

/// Flags changed on messages of one folder; each listed message now has exactly `flags` and
/// the event's MODSEQ.
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MessageFlagsChanged: OriginStamped {
    public static let eventType = "message_flags_changed"
    public var origin: ChangeOrigin?
    public struct Change: Codable, Sendable, Hashable {
        public var uid: UInt32
        public var flags: [String]

        public init(uid: UInt32, flags: [String]) {
            self.uid = uid
            self.flags = flags
        }
    }
    public var mailboxID: Int64
    public var modSeq: Int64
    public var changes: [Change]
    /// Messages this change marked \Deleted, and those it unmarked (for the message audit).
    public var deletedMarked: [UInt32]?
    public var deletedCleared: [UInt32]?

    public init(mailboxID: Int64, modSeq: Int64, changes: [Change]) {
        self.mailboxID = mailboxID
        self.modSeq = modSeq
        self.changes = changes
    }
}

/// Messages removed from a folder, freeing `bytes`.
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MessagesExpunged: OriginStamped {
    public static let eventType = "messages_expunged"
    public var origin: ChangeOrigin?
    public var mailboxID: Int64
    public var modSeq: Int64
    public var uids: [UInt32]
    public var bytes: Int64

    public init(mailboxID: Int64, modSeq: Int64, uids: [UInt32], bytes: Int64) {
        self.mailboxID = mailboxID
        self.modSeq = modSeq
        self.uids = uids
        self.bytes = bytes
    }
}

/// A user's wraps of message bodies deleted after their messages were erased (`mail.retention`,
/// `pillarbox erase messages`): the user can no longer open those bodies, and the ones listed
/// in `bodies` nobody can. Follows the `messages_expunged` facts of the same erasure, in its
/// transaction.
///
/// Owner: `MailStore` (Commands/Mailbox), on the user's `mailbox-<user>` stream; `origin` says
/// which erasure.
public struct BodyKeysDestroyed: OriginStamped {
    public static let eventType = "body_keys_destroyed"
    public var origin: ChangeOrigin?
    /// Bodies whose wrap for this user went but which other holders still open.
    public var sharedBodies: Int
    /// Bodies no one can open any more, each with the digest of its stored bytes.
    public var bodies: [ErasedBody]

    public init(sharedBodies: Int, bodies: [ErasedBody]) {
        self.sharedBodies = sharedBodies
        self.bodies = bodies
    }
}

/// The transit holder's wraps of the bodies of mail sent to other servers, deleted once the
/// server has no more work with them (every recipient finished, every agent past the message,
/// no list post held): `mail.retention`, `pillarbox erase messages`, and `pillarbox erase user`
/// for the mail the user sent. The bodies listed in `bodies` nobody can open any more; the
/// others are still in a local user's folder.
///
/// Owner: `TransitRelease` (Delivery/Outbound), on stream `erasure-main`; `origin` says which
/// erasure.
public struct TransitKeysDestroyed: OriginStamped {
    public static let eventType = "transit_keys_destroyed"
    public var origin: ChangeOrigin?
    /// The queued messages (`outqueue.outmessages.msgid`) whose bodies the server let go of.
    public var messages: [String]
    /// Bodies whose transit wrap went but which a local user still opens.
    public var sharedBodies: Int
    /// Bodies no one can open any more, each with the digest of its stored bytes.
    public var bodies: [ErasedBody]

    public init(messages: [String], sharedBodies: Int, bodies: [ErasedBody]) {
        self.messages = messages
        self.sharedBodies = sharedBodies
        self.bodies = bodies
    }
}

/// Erased message bodies deleted from `eventlog.blobs` by `pillarbox log compact-erased`: each
/// was recorded as erased (with the digest of its stored bytes) by an earlier fact, and had no
/// wrap left. Owner: the `log compact-erased` command, on stream `erasure-main`.
public struct ErasedBodiesRemoved: Event {
    public static let eventType = "erased_bodies_removed"
    /// Who ran it: `cli:<user>`.
    public var actor: String?
    public var blobs: [BlobID]
    /// The stored bytes removed.
    public var bytes: Int64

    public init(actor: String?, blobs: [BlobID], bytes: Int64) {
        self.actor = actor
        self.blobs = blobs
        self.bytes = bytes
    }
}

/// Messages copied into a folder under new UIDs (RFC 4315 COPYUID).
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MessagesCopied: OriginStamped {
    public static let eventType = "messages_copied"
    public var origin: ChangeOrigin?
    public struct Copy: Codable, Sendable, Hashable {
        public var sourceUID: UInt32
        public var message: StoredMessage

        public init(sourceUID: UInt32, message: StoredMessage) {
            self.sourceUID = sourceUID
            self.message = message
        }
    }
    public var sourceMailboxID: Int64
    public var copies: [Copy]

    public init(sourceMailboxID: Int64, copies: [Copy]) {
        self.sourceMailboxID = sourceMailboxID
        self.copies = copies
    }
}

/// Messages moved (RFC 6851): copied into the target, expunged from the source, atomically.
///
/// Owner: `MailStore`, for the IMAP and POP3 gateways (and the web admin), on the user's
/// `mailbox-<user>` stream; `origin` says which.
public struct MessagesMoved: OriginStamped {
    public static let eventType = "messages_moved"
    public var origin: ChangeOrigin?
    public var sourceMailboxID: Int64
    public var sourceModSeq: Int64
    public var copies: [MessagesCopied.Copy]
    public var bytes: Int64

    public init(sourceMailboxID: Int64, sourceModSeq: Int64, copies: [MessagesCopied.Copy], bytes: Int64) {
        self.sourceMailboxID = sourceMailboxID
        self.sourceModSeq = sourceModSeq
        self.copies = copies
        self.bytes = bytes
    }
}

/// RFC 4314 rights on a folder for one identifier (a user's name, or `anyone`), as the folder's
/// owner (over IMAP) or an administrator (the CLI) set them. Empty `rights`: the entry removed.
/// Rights are letters of `MailboxRights.all`, kept sorted.
///
/// Owner: `MailStore`, on the folder owner's `mailbox-<user>` stream; `origin` says who.
public struct MailboxRightsChanged: OriginStamped {
    public static let eventType = "mailbox_rights_changed"
    public var origin: ChangeOrigin?
    public var mailboxID: Int64
    public var identifier: String
    public var rights: String

    public init(mailboxID: Int64, identifier: String, rights: String) {
        self.mailboxID = mailboxID
        self.identifier = identifier
        self.rights = rights
    }
}

/// RFC 4314 §2.1's rights, and what a rights string may hold.
public enum MailboxRights {
    /// lookup, read, seen, write, insert, post, create, delete mailbox, delete messages,
    /// expunge, administer.
    public static let all = "lrswipkxtea"
    /// Always granted together (RFC 4314 §2.1.1 and §5.1.1: LISTRIGHTS says so).
    public static let owner = all

    /// The rights in `text` in canonical order; nil when it holds anything else. The obsolete
    /// `c` and `d` of RFC 2086 stand for `k` and `xte` (RFC 4314 §2.1.1).
    public static func normalised(_ text: String) -> String? {
        var letters = Set<Character>()
        for character in text {
            switch character {
            case "c": letters.insert("k")
            case "d": letters.formUnion(["x", "t", "e"])
            default:
                guard all.contains(character) else { return nil }
                letters.insert(character)
            }
        }
        return String(all.filter(letters.contains))
    }

    /// A user name or `anyone`; not a negative (`-name`) identifier, which is not kept.
    public static func isIdentifier(_ text: String) -> Bool {
        text == "anyone" || DirectoryRules.isUserName(text)
    }
}

/// A reader's own \Seen on messages of another user's folder shared with them: the folder's
/// other flags are everyone's, \Seen is each reader's (RFC 4314 §4). The owner's own \Seen is
/// the message's flag.
///
/// Owner: `MailStore`, on the reader's `mailbox-<user>` stream; `origin` says which gateway.
public struct SharedSeenChanged: OriginStamped {
    public static let eventType = "shared_seen_changed"
    public var origin: ChangeOrigin?
    /// The folder's owner and its id in their account.
    public var owner: String
    public var mailboxID: Int64
    public var seen: [UInt32]
    public var unseen: [UInt32]

    public init(owner: String, mailboxID: Int64, seen: [UInt32], unseen: [UInt32]) {
        self.owner = owner
        self.mailboxID = mailboxID
        self.seen = seen
        self.unseen = unseen
    }
}

/// An RFC 5464 METADATA entry set (`value`) or removed (nil): on a folder of `owner`, or on the
/// server (`mailboxID` nil, `owner` empty). A `/private/…` entry is the acting user's own (the
/// user whose stream holds the event); a `/shared/…` one is everyone's who can see the folder.
///
/// Owner: `MailStore`, on the acting user's `mailbox-<user>` stream; `origin` says which gateway.
public struct MetadataChanged: OriginStamped {
    public static let eventType = "metadata_changed"
    public var origin: ChangeOrigin?
    public var owner: String
    public var mailboxID: Int64?
    public var entry: String
    public var value: String?

    public init(owner: String, mailboxID: Int64?, entry: String, value: String?) {
        self.owner = owner
        self.mailboxID = mailboxID
        self.entry = entry
        self.value = value
    }

    public var isPrivate: Bool { entry.lowercased().hasPrefix("/private/") }
}

/// RFC 5464 §3.2's entry names, and the limits kept.
public enum MetadataEntries {
    /// Longest value kept, in octets (`[METADATA MAXSIZE]` beyond).
    public static let maximumValue = 64 * 1_024
    /// Most entries one user may have set, private and shared together (`[METADATA TOOMANY]`).
    public static let maximumEntries = 1_000

    /// `/private/…` or `/shared/…` (`/private` and `/shared` themselves too when `levels`: a
    /// GETMETADATA with DEPTH asks for what is below them), ASCII without `*`, `%` or control
    /// characters, no empty level, no trailing slash; lower-cased, as names are compared
    /// without case.
    public static func normalised(_ name: String, levels: Bool = false) -> String? {
        let lower = name.lowercased()
        if levels && (lower == "/private" || lower == "/shared") { return lower }
        guard lower.hasPrefix("/private/") || lower.hasPrefix("/shared/"), !lower.hasSuffix("/"), !lower.contains("//"),
              lower.utf8.count <= 1_024,
              lower.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "*") && $0 != UInt8(ascii: "%") })
        else { return nil }
        return lower
    }
}

/// RFC 4467 RESETKEY: the user's mailbox access key for URLAUTH changes, so every URL
/// authorized before for that folder (`mailboxID`), or for all of them (nil), stops working.
/// The key itself is never in the log: it is derived from the key directory's secret, the
/// folder and the latest `nonce`s.
///
/// Owner: `MailStore`, on the user's `mailbox-<user>` stream; `origin` says which gateway.
public struct URLAuthKeyReset: OriginStamped {
    public static let eventType = "urlauth_key_reset"
    public var origin: ChangeOrigin?
    public var mailboxID: Int64?
    /// Random, hex: what makes the new key differ from the old.
    public var nonce: String

    public init(mailboxID: Int64?, nonce: String) {
        self.mailboxID = mailboxID
        self.nonce = nonce
    }
}
