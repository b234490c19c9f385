import EventLog
import Foundation

/// One IDS event (VPOP3's numbering, 0–13): written by the gateway that saw it, on the
/// stream `ids-<client address>`.
public struct IntrusionEventRecorded: Event {
    public static let eventType = "ids_event"
    public static let category = "ids"

    public enum Kind: Int, Codable, Sendable, CaseIterable {
        case authenticationFailure = 0
        case relayDenied = 1
        case relayAllowed = 2
        case badLocalRecipient = 3
        case goodLocalRecipient = 4
        case spam = 5
        case virus = 6
        case ruleMatched = 7
        case blacklisted = 8
        case syntaxError = 9
        case tooBig = 10
        case blockedAttachment = 11
        case partialAttachment = 12
        case spfFailure = 13

        /// VPOP3's IDS log text.
        public var text: String {
            switch self {
            case .authenticationFailure: "SMTP authentication failure"
            case .relayDenied: "Relay denied"
            case .relayAllowed: "Relay allowed"
            case .badLocalRecipient: "Bad local recipient"
            case .goodLocalRecipient: "Good local recipient"
            case .spam: "Message detected as spam"
            case .virus: "Message detected as containing a virus"
            case .ruleMatched: "SMTP Rule matched"
            case .blacklisted: "Realtime DNS Blacklist match"
            case .syntaxError: "SMTP Syntax error"
            case .tooBig: "Message is bigger than the maximum size limit specified"
            case .blockedAttachment: "Message contained attachment blocked by the attachment filter"
            case .partialAttachment: "Message contained a 'partial' attachment"
            case .spfFailure: "Message rejected due to an SPF error"
            }
        }
    }

    public var kind: Kind
    public var clientIP: String
    public var service: String
    public var sessionID: String
    /// At most `ClientText.detailsLimit` bytes.
    public var details: String
    /// What the event added to the client's IPS score.
    public var score: Int
    /// How many events of this kind the session had that this one stands for: a session's
    /// repeats are folded into one event (nil in events of one occurrence).
    public var count: Int?

    public init(kind: Kind, clientIP: String, service: String, sessionID: String, details: String, score: Int, count: Int = 1) {
        self.kind = kind
        self.clientIP = clientIP
        self.service = service
        self.sessionID = sessionID
        self.details = ClientText.stored(details, limit: ClientText.detailsLimit)
        self.score = score
        self.count = count > 1 ? count : nil
    }
}

/// An address or network blocked until a time: by the IPS when a client's score crossed the
/// threshold, or by an administrator. Written on the stream `blocks-main` by whoever blocked.
///
/// Owner: the IPS: the SMTP gateway's (`SMTPIntake`) and the login IPS (`LoginProtection`), with
/// `actor` `ips`; and the administrators (`blocks add`, the web admin), with their name as `actor`.
/// Stream `blocks-main`.
public struct ClientBlocked: Event {
    public static let eventType = "client_blocked"
    public static let category = "blocks"

    /// An IP address or CIDR network.
    public var address: String
    public var until: Date
    public var reason: String
    /// `ips` or the administrator's name.
    public var actor: String

    public init(address: String, until: Date, reason: String, actor: String) {
        self.address = address
        self.until = until
        self.reason = reason
        self.actor = actor
    }
}

/// A block lifted before it expired.
///
/// Owner: the administrators (`blocks remove`, the web admin), on stream `blocks-main`.
public struct ClientUnblocked: Event {
    public static let eventType = "client_unblocked"
    public var address: String
    public var actor: String

    public init(address: String, actor: String) {
        self.address = address
        self.actor = actor
    }
}

/// A failed login on any service (POP3 now; IMAP and SMTP AUTH feed the same login IPS).
/// Written by the gateway that refused it, on the stream `logins-<client address>`.
public struct LoginFailed: Event {
    public static let eventType = "login_failed"
    public static let category = "logins"

    /// The name the client gave (may be no user at all), at most `ClientText.nameLimit` bytes.
    public var user: String
    public var clientIP: String
    public var service: String
    public var sessionID: String
    public var reason: String

    public init(user: String, clientIP: String, service: String, sessionID: String, reason: String) {
        self.user = ClientText.stored(user)
        self.clientIP = clientIP
        self.service = service
        self.sessionID = sessionID
        self.reason = ClientText.stored(reason, limit: ClientText.detailsLimit)
    }
}
