import EventLog
import Foundation

/// A message the SMTP gateway has taken responsibility for: its `250` goes out only after the
/// transaction holding this event commits. Written by the SMTP gateway alone, one stream per
/// message (`message-<messageID>`).
///
/// The blob is the message as stored for local recipients: a `Return-Path:` line, the
/// gateway's `Received:` line, then the bytes the client sent (dot-unstuffed, CRLF lines).
/// A sender relaying it drops the leading `Return-Path:` line (`returnPathLength` bytes).
public struct MessageAccepted: Event {
    public static let eventType = "message_accepted"

    public struct Recipient: Codable, Sendable, Equatable {
        public enum Route: String, Codable, Sendable {
            /// Delivered to a local user's INBOX in the same transaction.
            case local
            /// Queued for delivery to another server.
            case remote
            /// Accepted and thrown away (an alias to `No-one`).
            case discarded
        }
        /// As the client gave it in RCPT TO.
        public var address: String
        public var route: Route
        /// The local user, for `local`.
        public var user: String?
        /// RFC 3461 NOTIFY values (upper case); empty when not given.
        public var notify: [String]
        /// RFC 3461 ORCPT, `addr-type;address`.
        public var originalRecipient: String?

        public init(address: String, route: Route, user: String? = nil, notify: [String] = [], originalRecipient: String? = nil) {
            self.address = address
            self.route = route
            self.user = user
            self.notify = notify
            self.originalRecipient = originalRecipient
        }
    }

    public var messageID: String
    public var sessionID: String
    /// `smtp`, `submission` or `smtps`.
    public var service: String
    public var clientIP: String
    public var helo: String
    /// The TLS protocol version in use, nil for plain text.
    public var tls: String?
    /// The authenticated user, nil when the client did not authenticate.
    public var authUser: String?
    /// MAIL FROM without brackets; empty for the null reverse-path.
    public var reversePath: String
    public var recipients: [Recipient]
    /// MAIL FROM parameters: BODY, SMTPUTF8, RFC 3461 RET and ENVID, RFC 4954 AUTH.
    public var body: String?
    public var smtpUTF8: Bool
    public var ret: String?
    public var envelopeID: String?
    public var mailAuth: String?
    public var size: Int64
    public var blob: BlobID
    public var returnPathLength: Int
    /// Decoded Subject, for the queue and the logs.
    public var subject: String?

    public init(messageID: String, sessionID: String, service: String, clientIP: String, helo: String, tls: String?,
                authUser: String?, reversePath: String, recipients: [Recipient], body: String?, smtpUTF8: Bool,
                ret: String?, envelopeID: String?, mailAuth: String?, size: Int64, blob: BlobID, returnPathLength: Int,
                subject: String?) {
        self.messageID = messageID
        self.sessionID = sessionID
        self.service = service
        self.clientIP = clientIP
        self.helo = helo
        self.tls = tls
        self.authUser = authUser
        self.reversePath = reversePath
        self.recipients = recipients
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.ret = ret
        self.envelopeID = envelopeID
        self.mailAuth = mailAuth
        self.size = size
        self.blob = blob
        self.returnPathLength = returnPathLength
        self.subject = subject
    }

    public static let category = "message"
}

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
    public var details: String
    /// What the event added to the client's IPS score.
    public var score: Int

    public init(kind: Kind, clientIP: String, service: String, sessionID: String, details: String, score: Int) {
        self.kind = kind
        self.clientIP = clientIP
        self.service = service
        self.sessionID = sessionID
        self.details = details
        self.score = score
    }
}

/// An address or network blocked until a time: by the IPS when a client's score crossed the
/// threshold, or by an administrator. Written on the stream `blocks-main` by whoever blocked.
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

    /// The name the client gave (may be no user at all).
    public var user: String
    public var clientIP: String
    public var service: String
    public var sessionID: String
    public var reason: String

    public init(user: String, clientIP: String, service: String, sessionID: String, reason: String) {
        self.user = user
        self.clientIP = clientIP
        self.service = service
        self.sessionID = sessionID
        self.reason = reason
    }
}
