import EventLog
import Foundation

/// A client session on any gateway, written once when it ends by the gateway that served it,
/// on the stream `session-<session id>`. Feeds `logdb.sessions` and the reputation tables.
///
/// Owner: the gateway that served the session, once, on stream `session-<id>`.
public struct SessionEnded: Event {
    public static let eventType = "session_ended"
    public static let category = "session"

    /// VPOP3's LogDB session types, plus `I` for the IMAP server.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// SMTP server, mail arriving from outside (port 25 without authentication).
        case smtpIncoming = "S"
        /// SMTP server, mail from local users (authenticated, or the submission port).
        case smtpInternal = "L"
        /// POP3 server.
        case pop3 = "O"
        /// IMAP server.
        case imap = "I"
        /// SMTP client sending through the relay host.
        case smtpRelay = "C"
        /// SMTP client sending straight to the recipient's MX.
        case smtpMX = "M"
        /// SMTP client forwarding to a LAN server.
        case smtpForward = "F"
        /// POP3 client collecting from another server.
        case pop3Collector = "P"
    }

    /// What one sender domain did in an SMTP session (the domain of MAIL FROM, empty for `<>`).
    public struct SenderTally: Codable, Sendable, Equatable {
        public var domain: String
        public var messages: Int
        public var bytes: Int64
        public var validRecipients: Int
        public var invalidRecipients: Int
        public var relayDenied: Int

        public init(domain: String, messages: Int = 0, bytes: Int64 = 0, validRecipients: Int = 0,
                    invalidRecipients: Int = 0, relayDenied: Int = 0) {
            self.domain = domain
            self.messages = messages
            self.bytes = bytes
            self.validRecipients = validRecipients
            self.invalidRecipients = invalidRecipients
            self.relayDenied = relayDenied
        }
    }

    public var sessionID: String
    public var kind: Kind
    /// The listener: `smtp`, `submission`, `smtps`, `pop3`, `pop3s`, `imap`, `imaps`.
    public var service: String
    public var clientIP: String
    public var startedAt: Date
    /// Seconds from connect to close.
    public var duration: Double
    /// The user who logged in, nil when nobody did.
    public var user: String?
    public var helo: String?
    public var tls: String?
    /// Empty when the client ended the session normally (QUIT/LOGOUT); otherwise the reply
    /// that closed it (`421 4.4.2`), `disconnected` or `timeout`.
    public var errorCode: String
    /// Messages accepted (SMTP) or retrieved (POP3), and their bytes.
    public var messages: Int
    public var bytes: Int64
    public var authSuccesses: Int
    public var authFailures: Int
    /// SMTP only: per sender domain.
    public var senders: [SenderTally]

    public init(sessionID: String, kind: Kind, service: String, clientIP: String, startedAt: Date, duration: Double,
                user: String?, helo: String? = nil, tls: String?, errorCode: String, messages: Int = 0, bytes: Int64 = 0,
                authSuccesses: Int = 0, authFailures: Int = 0, senders: [SenderTally] = []) {
        self.sessionID = sessionID
        self.kind = kind
        self.service = service
        self.clientIP = clientIP
        self.startedAt = startedAt
        self.duration = duration
        self.user = user.map { ClientText.stored($0) }
        self.helo = helo.map { ClientText.stored($0) }
        self.tls = tls
        self.errorCode = errorCode
        self.messages = messages
        self.bytes = bytes
        self.authSuccesses = authSuccesses
        self.authFailures = authFailures
        self.senders = senders
    }

    /// The LogDB `sessid`: the session id's 48 bits when it is the gateways' 12 hex digits,
    /// otherwise the first 63 bits of its SHA-256.
    public static func number(_ sessionID: String) -> Int64 {
        if sessionID.utf8.count <= 15, let value = Int64(sessionID, radix: 16), value >= 0 { return value }
        let digest = BlobID.of(Array(sessionID.utf8)).bytes
        return Int64(bitPattern: digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & 0x7fff_ffff_ffff_ffff)
    }
}

/// A recipient the SMTP gateway refused, with the reply it gave.
public struct RefusedRecipient: Codable, Sendable, Equatable {
    public enum Reason: String, Codable, Sendable {
        case unknownLocal = "unknown"
        case relayDenied = "relay"
        case notAllowed = "policy"
        /// Over the storage quota.
        case mailboxFull = "quota"
        /// A distribution list's message coming back to the list (its `X-Loop:` names it): not
        /// expanded again.
        case loop
    }
    public var address: String
    public var reason: Reason
    /// Code and enhanced code, `550 5.1.1`.
    public var reply: String

    public init(address: String, reason: Reason, reply: String) {
        self.address = address
        self.reason = reason
        self.reply = reply
    }
}

/// An SMTP mail transaction that ended without a message being accepted: every recipient
/// refused, the body refused (too big, smuggling, loop), or abandoned by the client. Written by
/// the SMTP gateway at the end of the session, on the stream `message-<message id>`.
public struct MessageRejected: Event {
    public static let eventType = "message_rejected"
    public static let category = MessageAccepted.category

    public var messageID: String
    public var sessionID: String
    public var service: String
    public var clientIP: String
    public var authUser: String?
    /// MAIL FROM without brackets; empty for the null reverse-path.
    public var reversePath: String
    /// Recipients the gateway had accepted when the transaction failed.
    public var recipients: [MessageAccepted.Recipient]
    public var refused: [RefusedRecipient]
    /// Bytes of body received (or declared with SIZE) before the refusal.
    public var size: Int64
    /// The reply that ended the transaction (`552 5.3.4`), or `abandoned`.
    public var errorCode: String
    /// Seconds from the start of the body to the refusal; zero without a body.
    public var processingTime: Double
    /// The authentication checks made before the refusal (a DMARC reject among them).
    public var spf: String?
    public var dkim: [DKIMCheck]?
    public var dmarc: DMARCCheck?

    public init(messageID: String, sessionID: String, service: String, clientIP: String, authUser: String?,
                reversePath: String, recipients: [MessageAccepted.Recipient], refused: [RefusedRecipient], size: Int64,
                errorCode: String, processingTime: Double, spf: String? = nil, dkim: [DKIMCheck]? = nil, dmarc: DMARCCheck? = nil) {
        self.spf = spf
        self.dkim = dkim
        self.dmarc = dmarc
        self.messageID = messageID
        self.sessionID = sessionID
        self.service = service
        self.clientIP = clientIP
        self.authUser = authUser
        self.reversePath = reversePath
        self.recipients = recipients
        self.refused = refused
        self.size = size
        self.errorCode = errorCode
        self.processingTime = processingTime
    }
}
