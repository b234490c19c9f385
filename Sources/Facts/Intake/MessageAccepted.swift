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

    /// Who can open the stored body (KeyStore.swift): each local recipient, and the transit
    /// holder when any copy goes anywhere but a local folder (another server, a list, an agent).
    public var holders: [BlobHolder] {
        var holders: [BlobHolder] = []
        var transit = false
        for recipient in recipients {
            if recipient.route == .local, let user = recipient.user {
                holders.append(.user(user))
            } else if recipient.route != .discarded {
                transit = true
            }
        }
        if transit || holders.isEmpty { holders.append(.transit) }
        return holders
    }

    public struct Recipient: Codable, Sendable, Equatable {
        public enum Route: String, Codable, Sendable {
            /// For a local user's INBOX: the local delivery agent files it from the log after
            /// this event commits (exactly once, also after a crash).
            case local
            /// Queued for delivery to another server.
            case remote
            /// Accepted and thrown away (an alias to `No-one`).
            case discarded
            /// LAN forwarding: to the server in `lan`, through the always-on LAN queue.
            case lan
            /// A post to the mailing list `list`: the list agent distributes it (or holds or
            /// refuses it) from the log.
            case list
            /// Commands for the ListServer: the list agent reads and answers them.
            case listServer = "listserver"
            /// Mail commands to `mailer_daemon@`: the mail command agent carries them out.
            case mailCommands = "mailcommands"
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
        /// The reverse-path this recipient's copy leaves with, when it is not the message's: a
        /// list's remote members get the list's address, so their bounces go to the list and
        /// never to whoever posted.
        public var envelopeSender: String?
        /// Where a `lan` recipient goes (`address` is then the address it leaves with, after
        /// the rule's rewriting).
        public var lan: LANTarget?
        /// The mailing list (lower-case name), for `list`.
        public var list: String?
        /// For a remote or LAN member of a distribution list: the list address the message was
        /// sent to. The copy leaves with `X-Loop: <that address>`, and a message coming back
        /// to the list with it is not expanded again.
        public var distributedBy: String?

        public init(address: String, route: Route, user: String? = nil, notify: [String] = [], originalRecipient: String? = nil,
                    envelopeSender: String? = nil, lan: LANTarget? = nil, list: String? = nil, distributedBy: String? = nil) {
            self.lan = lan
            self.list = list
            self.distributedBy = distributedBy
            self.address = address
            self.route = route
            self.user = user
            self.notify = notify
            self.originalRecipient = originalRecipient
            self.envelopeSender = envelopeSender
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
    /// Decoded Subject, for the queue and the logs: personal data, sealed with the body.
    public var subject: Personal<String>?
    /// Recipients refused in the same transaction (absent in events written before it was kept).
    public var refused: [RefusedRecipient]?
    /// Seconds from the start of the body to the durable accept.
    public var processingTime: Double?
    /// The queue place of its remote recipients (the sending user's send priority); nil is 0.
    public var priority: Int?
    /// The SPF result for MAIL FROM (RFC 7208 §2.6 names), when it was checked.
    public var spf: String?
    /// Every DKIM signature's result, when signatures were checked (RFC 6376 §6).
    public var dkim: [DKIMCheck]?
    /// The ARC chain's validation (`none`, `pass`, `fail`; RFC 8617), when DKIM was checked.
    public var arc: String?
    /// The DMARC evaluation, when DMARC was checked.
    public var dmarc: DMARCCheck?
    /// Local copies go to the recipient's Junk folder (a DMARC quarantine).
    public var junk: Bool?
    /// The header carries one of `receipts.header_fields` as they stood at acceptance: its
    /// sender, when local, gets a transmission receipt as it leaves.
    public var receiptRequested: Bool?

    public init(messageID: String, sessionID: String, service: String, clientIP: String, helo: String, tls: String?,
                authUser: String?, reversePath: String, recipients: [Recipient], body: String?, smtpUTF8: Bool,
                ret: String?, envelopeID: String?, mailAuth: String?, size: Int64, blob: BlobID, returnPathLength: Int,
                subject: String?, refused: [RefusedRecipient] = [], processingTime: Double? = nil, priority: Int? = nil,
                spf: String? = nil, dkim: [DKIMCheck]? = nil, dmarc: DMARCCheck? = nil, junk: Bool? = nil, arc: String? = nil) {
        self.arc = arc
        self.spf = spf
        self.dkim = dkim
        self.dmarc = dmarc
        self.junk = junk
        self.priority = priority
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
        self.subject = subject.map { Personal($0, sealedWith: blob) }
        self.refused = refused
        self.processingTime = processingTime
    }

    public static let category = "message"
}
