import EventLog
import Foundation

// Directory events live on the single stream `directory-main`, so every administrative change
// is checked against all earlier ones (unique names, one custom group per user). Their single
// writer is `Directory`, used by the CLI and the web admin.

/// A directory fact, naming who made it.
public protocol DirectoryFact: Event {
    var actor: String? { get set }
}

/// The directory's single stream, `directory-main`.
public enum DirectoryStream {
    public static let category = "directory"
    public static let main = try! StreamName(category: category, id: "main")
}

/// A local domain: a name, or a pattern with `*` and `?` as VPOP3 allows.
///
/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct DomainAdded: DirectoryFact {
    public static let eventType = "domain_added"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var pattern: String

    public init(pattern: String) {
        self.pattern = pattern
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct DomainRemoved: DirectoryFact {
    public static let eventType = "domain_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var pattern: String

    public init(pattern: String) {
        self.pattern = pattern
    }
}

/// The domain added to addresses without one and used in automated mail.
///
/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct DefaultDomainSet: DirectoryFact {
    public static let eventType = "default_domain_set"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var domain: String

    public init(domain: String) {
        self.domain = domain
    }
}

/// Everything the directory knows of a user.
public struct UserRecord: Codable, Sendable, Hashable {
    public enum ServiceProtocol: String, Codable, Sendable, CaseIterable {
        case smtp, pop3, imap, web
    }

    /// The user id as written; `id` is its lower-case form, the key.
    public var name: String
    public var admin = false
    public var protocols: [ServiceProtocol] = ServiceProtocol.allCases
    /// Bytes; 0 means no limit.
    public var maxOutgoingSize: Int64 = 0
    public var maySendInternetMail = true
    public var forwardTo = ""
    public var useForwarding = false
    public var assistants: [String] = []
    public var sendOnlyToAssistant = false
    /// Rewrites From/Reply-To on outgoing internet mail when not empty.
    public var replyTo = ""
    public var comments = ""
    public var lockedOut = false
    public var inEveryone = true
    public var cramMD5Enabled = false
    public var credentials: Credentials?
    /// Stored optional so records written before APOP existed still decode.
    var apop: Bool?
    /// VPOP3's per-user send priority: the user's outgoing mail takes this place in the queue
    /// (smaller goes first; nil is 0, as every other message).
    public var sendPriority: Int?

    /// POP3 APOP allowed (keeps a sealed copy of the password: see `Credentials.apopSecret`).
    public var apopEnabled: Bool {
        get { apop ?? false }
        set { apop = newValue ? true : nil }
    }

    public var id: String { name.lowercased() }

    public init(name: String) {
        self.name = name
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct UserCreated: DirectoryFact {
    public static let eventType = "user_created"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var user: UserRecord

    public init(user: UserRecord) {
        self.user = user
    }
}

/// A user's record after a change (settings, password): the whole record, as it now stands.
///
/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct UserChanged: DirectoryFact {
    public static let eventType = "user_changed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var user: UserRecord

    public init(user: UserRecord) {
        self.user = user
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct UserRemoved: DirectoryFact {
    public static let eventType = "user_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var userID: String

    public init(userID: String) {
        self.userID = userID
    }
}

/// A user's key destroyed: erasure (`pillarbox erase user`). Every message body that only
/// this key could open is unreadable from now on, by the server too (the bodies are sealed,
/// EventLog's KeyStore.swift); bodies other holders keep stay readable to them. This is the
/// only fact erasure writes. Owner: `Directory` (Commands/Directory), on `directory-main`.
public struct UserKeyDestroyed: DirectoryFact {
    public static let eventType = "user_key_destroyed"
    /// Who erased: `cli:<user>`, `admin:<user> from <address>`.
    public var actor: String?
    public var userID: String
    /// The destroyed key's id in `keystore.holder_keys`.
    public var keyID: UUID
    /// Why, as the administrator gave it.
    public var reason: String?
    /// Bodies only this key opened (now unreadable), and bodies it shared with other holders.
    public var erasedBodies: Int
    public var sharedBodies: Int
    /// The bodies only this key opened, each with the digest of its stored bytes, so that
    /// `log verify` still checks them and `log compact-erased` may delete them; nil in older facts.
    public var bodies: [ErasedBody]?

    public init(userID: String, keyID: UUID, reason: String?, erasedBodies: Int, sharedBodies: Int,
                bodies: [ErasedBody]? = nil) {
        self.userID = userID
        self.keyID = keyID
        self.reason = reason
        self.erasedBodies = erasedBodies
        self.sharedBodies = sharedBodies
        self.bodies = bodies
    }
}

/// Where an alias sends mail.
public struct AliasTarget: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        case user, list
        /// `*REMOTE`: send on to the internet.
        case remote
        /// The `No-one` group: discard.
        case noOne
    }
    public var kind: Kind
    public var name: String

    public var description: String {
        switch kind {
        case .user, .list: name
        case .remote: "*REMOTE"
        case .noOne: "No-one"
        }
    }

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct AliasAdded: DirectoryFact {
    public static let eventType = "alias_added"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var address: String
    public var target: AliasTarget

    public init(address: String, target: AliasTarget) {
        self.address = address
        self.target = target
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct AliasRemoved: DirectoryFact {
    public static let eventType = "alias_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var address: String

    public init(address: String) {
        self.address = address
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct GroupCreated: DirectoryFact {
    public static let eventType = "group_created"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var name: String
    public var enabled: Bool

    public init(name: String, enabled: Bool) {
        self.name = name
        self.enabled = enabled
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct GroupChanged: DirectoryFact {
    public static let eventType = "group_changed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var name: String
    public var enabled: Bool

    public init(name: String, enabled: Bool) {
        self.name = name
        self.enabled = enabled
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct GroupRemoved: DirectoryFact {
    public static let eventType = "group_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var name: String

    public init(name: String) {
        self.name = name
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct GroupMemberAdded: DirectoryFact {
    public static let eventType = "group_member_added"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var group: String
    public var userID: String

    public init(group: String, userID: String) {
        self.group = group
        self.userID = userID
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct GroupMemberRemoved: DirectoryFact {
    public static let eventType = "group_member_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var group: String
    public var userID: String

    public init(group: String, userID: String) {
        self.group = group
        self.userID = userID
    }
}

public struct ListRecord: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case distribution, mailing, forwarding
    }
    public var name: String
    public var kind: Kind
    /// `Allow incoming mail to be sent to the list`.
    public var isPublic: Bool
    public var description: String
    /// A mailing list's posting, subscription and header options; nil for the other kinds
    /// (and for a mailing list that keeps the defaults).
    public var mailing: MailingListOptions?

    public init(name: String, kind: Kind, isPublic: Bool, description: String, mailing: MailingListOptions? = nil) {
        self.name = name
        self.kind = kind
        self.isPublic = isPublic
        self.description = description
        self.mailing = mailing
    }

    /// A mailing list's options, the defaults when none were set.
    public var mailingOptions: MailingListOptions { mailing ?? MailingListOptions() }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct ListCreated: DirectoryFact {
    public static let eventType = "list_created"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var list: ListRecord

    public init(list: ListRecord) {
        self.list = list
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`: a list's kind, visibility, description or mailing options changed (the
/// record as it now is).
public struct ListChanged: DirectoryFact {
    public static let eventType = "list_changed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var list: ListRecord

    public init(list: ListRecord) {
        self.list = list
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct ListRemoved: DirectoryFact {
    public static let eventType = "list_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var name: String

    public init(name: String) {
        self.name = name
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct ListMemberAdded: DirectoryFact {
    public static let eventType = "list_member_added"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var list: String
    public var address: String

    public init(list: String, address: String) {
        self.list = list
        self.address = address
    }
}

/// Owner: `Directory` (Commands/Directory), for the CLI and the web admin, on stream
/// `directory-main`.
public struct ListMemberRemoved: DirectoryFact {
    public static let eventType = "list_member_removed"
    /// Who made the change: `cli:<user>`, `admin:<user> from <address>`; nil in older facts.
    public var actor: String?
    public var list: String
    public var address: String

    public init(list: String, address: String) {
        self.list = list
        self.address = address
    }
}
