import SMTPWire

/// One message to send in one SMTP transaction: the envelope and what the client must know
/// about the body to choose the MAIL parameters.
public struct OutboundEnvelope: Sendable, Equatable {
    public struct Recipient: Sendable, Equatable {
        public var address: String
        /// RFC 3461 NOTIFY values (`SUCCESS`, `FAILURE`, `DELAY` or `NEVER`), passed on when the
        /// server offers DSN.
        public var notify: [String]?
        /// RFC 3461 ORCPT as `type;address` (decoded), passed on when the server offers DSN.
        public var originalRecipient: String?

        public init(address: String, notify: [String]? = nil, originalRecipient: String? = nil) {
            self.address = address
            self.notify = notify
            self.originalRecipient = originalRecipient
        }
    }

    /// The reverse-path; empty for the null sender `<>` (a DSN).
    public var sender: String
    public var recipients: [Recipient]
    /// The body's size in bytes, declared with SIZE (RFC 1870).
    public var size: Int
    /// Whether the body has bytes above 127 (BODY=8BITMIME, RFC 6152).
    public var eightBit: Bool
    /// Whether an address or header needs SMTPUTF8 (RFC 6531); to a server without it the
    /// message fails with 5.6.7 (RFC 6531 §3.5).
    public var needsSMTPUTF8: Bool
    /// RFC 3461 RET (`FULL` or `HDRS`) and ENVID, passed on when the server offers DSN.
    public var returnContent: String?
    public var envelopeID: String?

    public init(sender: String, recipients: [Recipient], size: Int, eightBit: Bool = false, needsSMTPUTF8: Bool = false,
                returnContent: String? = nil, envelopeID: String? = nil) {
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.eightBit = eightBit
        self.needsSMTPUTF8 = needsSMTPUTF8
        self.returnContent = returnContent
        self.envelopeID = envelopeID
    }
}

/// How one transaction ended: a reply for every recipient. A recipient refused at RCPT keeps
/// that reply; the others share the reply to MAIL (when it refused) or to the end of the data.
public struct TransactionResult: Sendable, Equatable {
    public var replies: [SMTPReply]

    public init(replies: [SMTPReply]) {
        self.replies = replies
    }
}

/// Why a session ended before a transaction could be completed.
public enum SessionFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server refused the session (greeting or EHLO/HELO refused, STARTTLS required and
    /// refused): the reply says whether that is temporary.
    case refused(SMTPReply, stage: String)
    /// The server sent something that is not a reply, or a reply out of turn.
    case protocolViolation(String)
    /// The TLS handshake after STARTTLS failed; the caller may retry without TLS.
    case tlsFailed(String)
    /// The server offers no STARTTLS but the policy requires TLS.
    case tlsUnavailable
    /// The server refused the login (or the exchange broke off); the reply says whether that
    /// is temporary, `detail` what the client found wrong when it was the one to stop.
    case authenticationFailed(SMTPReply, detail: String?)
    /// No AUTH mechanism the client may use is offered.
    case authenticationUnavailable(String)

    public var description: String {
        switch self {
        case .refused(let reply, let stage): "the server refused \(stage): \(reply)"
        case .protocolViolation(let detail): "protocol violation: \(detail)"
        case .tlsFailed(let detail): "TLS handshake failed: \(detail)"
        case .tlsUnavailable: "the server does not offer STARTTLS, which the policy requires"
        case .authenticationFailed(let reply, let detail): "the server refused the login: \(reply)" + (detail.map { " (\($0))" } ?? "")
        case .authenticationUnavailable(let detail): "cannot log in: \(detail)"
        }
    }
}

/// RFC 5321 §4.5.3.2: how long to wait for each reply.
public enum SMTPClientTimeouts {
    public static let greeting: Duration = .seconds(300)
    public static let mail: Duration = .seconds(300)
    public static let recipient: Duration = .seconds(300)
    public static let dataInitiation: Duration = .seconds(120)
    public static let dataBlock: Duration = .seconds(180)
    public static let dataTermination: Duration = .seconds(600)
    /// Not in the RFC: EHLO, STARTTLS, RSET and QUIT get the command timeout of the others.
    public static let command: Duration = .seconds(300)
}
