import EventLog
import Foundation

/// How a mailing list (VPOP3's "Mailing List", expanded in the background by the list agent)
/// treats posts and subscriptions. Kept on the list's directory record; absent on lists of the
/// other kinds and on mailing lists made before these options existed (then every default
/// below holds).
public struct MailingListOptions: Codable, Sendable, Hashable {
    /// Who may post.
    public enum Posting: String, Codable, Sendable, CaseIterable {
        /// Anyone who may reach the list's address.
        case anyone
        /// Members (and moderators) only; a post from anyone else is refused with a notice.
        case members
        /// Members post; anyone else's post is held for a moderator.
        case moderatedNonMembers = "moderated-non-members"
        /// Every post is held for a moderator, except a moderator's own.
        case moderated
    }

    /// How addresses join and leave through the ListServer.
    public enum Subscription: String, Codable, Sendable, CaseIterable {
        /// Only an administrator adds and removes members.
        case closed
        /// A request is carried out at once (a request naming another address still asks that
        /// address to confirm).
        case open
        /// The address confirms by replying to a message with a token that expires.
        case confirm
    }

    public var posting: Posting
    public var subscription: Subscription
    /// Put before the subject when it is not there already, e.g. `[team]`.
    public var subjectPrefix: String
    /// Replace Reply-To with the list's address.
    public var replyToList: Bool
    /// Local user names or addresses that moderate; a distribution list's name stands for its
    /// members. Empty: the main administrator.
    public var moderators: [String]
    /// Where members' bounces go (the envelope sender of the copies); empty: the main
    /// administrator's address.
    public var returnAddress: String
    /// One copy per member with the member in `To:` (VPOP3's "Slow Message Posting").
    public var slowPosting: Bool
    /// Members may ask the ListServer for the list of members (`Users <list>`).
    public var membersMayList: Bool
    /// Addresses (wildcards `*`, `?`) that may neither post nor subscribe.
    public var bans: [String]
    /// How long a confirmation token or a held post waits, in hours.
    public var confirmHours: Int

    public init(posting: Posting = .members, subscription: Subscription = .confirm, subjectPrefix: String = "",
                replyToList: Bool = false, moderators: [String] = [], returnAddress: String = "", slowPosting: Bool = false,
                membersMayList: Bool = false, bans: [String] = [], confirmHours: Int = 168) {
        self.posting = posting
        self.subscription = subscription
        self.subjectPrefix = subjectPrefix
        self.replyToList = replyToList
        self.moderators = moderators
        self.returnAddress = returnAddress
        self.slowPosting = slowPosting
        self.membersMayList = membersMayList
        self.bans = bans
        self.confirmHours = confirmHours
    }

    enum CodingKeys: String, CodingKey {
        case posting, subscription, moderators, bans
        case subjectPrefix = "subject_prefix", replyToList = "reply_to_list", returnAddress = "return_address"
        case slowPosting = "slow_posting", membersMayList = "members_may_list", confirmHours = "confirm_hours"
    }

    public init(from decoder: any Decoder) throws {
        let defaults = MailingListOptions()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        posting = try container.decodeIfPresent(Posting.self, forKey: .posting) ?? defaults.posting
        subscription = try container.decodeIfPresent(Subscription.self, forKey: .subscription) ?? defaults.subscription
        subjectPrefix = try container.decodeIfPresent(String.self, forKey: .subjectPrefix) ?? defaults.subjectPrefix
        replyToList = try container.decodeIfPresent(Bool.self, forKey: .replyToList) ?? defaults.replyToList
        moderators = try container.decodeIfPresent([String].self, forKey: .moderators) ?? defaults.moderators
        returnAddress = try container.decodeIfPresent(String.self, forKey: .returnAddress) ?? defaults.returnAddress
        slowPosting = try container.decodeIfPresent(Bool.self, forKey: .slowPosting) ?? defaults.slowPosting
        membersMayList = try container.decodeIfPresent(Bool.self, forKey: .membersMayList) ?? defaults.membersMayList
        bans = try container.decodeIfPresent([String].self, forKey: .bans) ?? defaults.bans
        confirmHours = try container.decodeIfPresent(Int.self, forKey: .confirmHours) ?? defaults.confirmHours
    }

    /// What is wrong with the options, or nil.
    public var problem: String? {
        if subjectPrefix.count > 64 || subjectPrefix.contains(where: { $0 == "\r" || $0 == "\n" }) {
            return "the subject prefix must be one line of at most 64 characters"
        }
        for address in moderators + [returnAddress] + bans
        where address.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," }) || address.count > 254 {
            return "\(address) is not an address"
        }
        if !returnAddress.isEmpty && !returnAddress.contains("@") { return "the return address must be a full address" }
        if !(1...8_760).contains(confirmHours) { return "confirm_hours must be 1...8760" }
        if moderators.count > 100 || bans.count > 1_000 { return "at most 100 moderators and 1000 bans" }
        return nil
    }

    /// Whether `address` is banned.
    public func isBanned(_ address: String) -> Bool {
        bans.contains { DirectoryRules.matches(pattern: $0.lowercased(), domain: address.lowercased()) }
    }
}

// The mailing list facts, on `list-<name>`. Their one writer is the list agent in `serve`
// (`Delivery/Lists`), except `list_post_moderated`, which a moderator's decision writes: the
// agent for a decision by mail, the administrative surfaces for one from the CLI.

/// A post went out to the list's members as message `copyIDs` (one, or one per member with
/// slow posting or one-click unsubscribe links), accepted in the same transaction.
public struct ListPostDistributed: Event {
    public static let eventType = "list_post_distributed"
    public static let category = "list"

    public var list: String
    /// The message as it reached the list.
    public var messageID: String
    public var sender: String
    /// Sealed with the post's body (`Personal`).
    public var subject: Personal<String>?
    public var members: Int
    public var copyIDs: [String]
    /// The hold it was released from, when it was held.
    public var token: String?

    public init(list: String, messageID: String, sender: String, subject: Personal<String>?, members: Int, copyIDs: [String],
                token: String? = nil) {
        self.token = token
        self.list = list
        self.messageID = messageID
        self.sender = sender
        self.subject = subject
        self.members = members
        self.copyIDs = copyIDs
    }

    public static func stream(list: String) throws -> StreamName {
        try StreamName(category: category, id: list.lowercased())
    }
}

/// A post did not go out, and why (not a member, banned, a loop, rejected by a moderator, a
/// hold that expired); `noticeID` is the notice to the sender when one was sent.
public struct ListPostRefused: Event {
    public static let eventType = "list_post_refused"
    public static let category = ListPostDistributed.category

    public var list: String
    public var messageID: String
    public var sender: String
    public var reason: String
    public var noticeID: String?
    /// The hold it was rejected from, when it was held.
    public var token: String?

    public init(list: String, messageID: String, sender: String, reason: String, noticeID: String?, token: String? = nil) {
        self.token = token
        self.list = list
        self.messageID = messageID
        self.sender = sender
        self.reason = reason
        self.noticeID = noticeID
    }
}

/// A post waits for a moderator: `token` releases or rejects it (by mail to the ListServer or
/// `pillarbox list approve|reject`) until `expiresAt`.
public struct ListPostHeld: Event {
    public static let eventType = "list_post_held"
    public static let category = ListPostDistributed.category

    public var list: String
    public var messageID: String
    /// The post as it reached the list (its stored body).
    public var blob: BlobID
    public var sender: String
    /// Sealed with the post's body (`Personal`).
    public var subject: Personal<String>?
    public var reason: String
    public var token: String
    public var expiresAt: Date
    /// The notice sent to the moderators.
    public var noticeID: String?

    public init(list: String, messageID: String, blob: BlobID, sender: String, subject: Personal<String>?, reason: String, token: String,
                expiresAt: Date, noticeID: String?) {
        self.blob = blob
        self.list = list
        self.messageID = messageID
        self.sender = sender
        self.subject = subject
        self.reason = reason
        self.token = token
        self.expiresAt = expiresAt
        self.noticeID = noticeID
    }
}

/// A moderator's decision on a held post; the list agent carries it out (distributes it, or
/// tells the sender it was rejected).
public struct ListPostModerated: Event {
    public static let eventType = "list_post_moderated"
    public static let category = ListPostDistributed.category

    public var list: String
    public var token: String
    public var approved: Bool
    /// `mail:<address>` or `cli:<user>`.
    public var actor: String
    public var reason: String?

    public init(list: String, token: String, approved: Bool, actor: String, reason: String?) {
        self.list = list
        self.token = token
        self.approved = approved
        self.actor = actor
        self.reason = reason
    }
}

/// An address was asked to confirm that it joins (or leaves) the list, by replying to the
/// message `noticeID` carrying `token`, before `expiresAt`.
public struct ListSubscriptionRequested: Event {
    public static let eventType = "list_subscription_requested"
    public static let category = ListPostDistributed.category

    public var list: String
    public var address: String
    public var subscribe: Bool
    public var token: String
    public var expiresAt: Date
    /// Who asked (the sender of the command).
    public var requestedBy: String
    public var noticeID: String

    public init(list: String, address: String, subscribe: Bool, token: String, expiresAt: Date, requestedBy: String, noticeID: String) {
        self.list = list
        self.address = address
        self.subscribe = subscribe
        self.token = token
        self.expiresAt = expiresAt
        self.requestedBy = requestedBy
        self.noticeID = noticeID
    }
}

/// A confirmation token was used (the membership change itself is the directory's
/// `list_member_added` / `list_member_removed`, committed with it).
public struct ListSubscriptionConfirmed: Event {
    public static let eventType = "list_subscription_confirmed"
    public static let category = ListPostDistributed.category

    public var list: String
    public var address: String
    public var subscribe: Bool
    public var token: String

    public init(list: String, address: String, subscribe: Bool, token: String) {
        self.list = list
        self.address = address
        self.subscribe = subscribe
        self.token = token
    }
}

/// The ListServer read a message: the commands it found, what each did, and the reply it sent
/// (nil when it stayed silent). On `listserver-main`.
public struct ListServerAnswered: Event {
    public static let eventType = "listserver_answered"
    public static let category = "listserver"

    public struct Command: Codable, Sendable, Equatable {
        public var command: String
        public var result: String

        public init(command: String, result: String) {
            self.command = command
            self.result = result
        }
    }

    public var messageID: String
    public var sender: String
    public var commands: [Command]
    public var replyID: String?

    public init(messageID: String, sender: String, commands: [Command], replyID: String?) {
        self.messageID = messageID
        self.sender = sender
        self.commands = commands
        self.replyID = replyID
    }

    public static let stream = try! StreamName(category: category, id: "main")
}
