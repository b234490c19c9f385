/// One POP3 status line (RFC 1939 §3), with an RFC 2449 / RFC 3206 response code when there is
/// one. The replies the server sends are named here, so a reply text is written once.
public struct POP3Reply: Equatable, Sendable, CustomStringConvertible {
    public let ok: Bool
    /// `AUTH`, `SYS/TEMP`, `IN-USE`, … (RFC 2449 §8, RFC 3206).
    public let code: String?
    public let text: String

    public init(ok: Bool, code: String? = nil, _ text: String) {
        self.ok = ok
        self.code = code
        self.text = text
    }

    public static func ok(_ text: String) -> POP3Reply { POP3Reply(ok: true, text) }
    public static func err(_ text: String, code: String? = nil) -> POP3Reply { POP3Reply(ok: false, code: code, text) }

    /// The line as sent, without its CRLF.
    public var description: String {
        (ok ? "+OK " : "-ERR ") + (code.map { "[\($0)] " } ?? "") + text
    }

    public var bytes: [UInt8] { Array((description + "\r\n").utf8) }

    // MARK: The catalogue

    public static func greeting(_ timestamp: String) -> POP3Reply { .ok("Pillarbox POP3 ready \(timestamp)") }
    public static func signingOff(_ hostname: String) -> POP3Reply { .ok("\(hostname) signing off") }
    public static let capabilitiesFollow = POP3Reply.ok("Capability list follows")
    public static let mechanismsFollow = POP3Reply.ok("Supported mechanisms follow")
    public static let sendPassword = POP3Reply.ok("send your password")
    public static let beginTLS = POP3Reply.ok("Begin TLS negotiation")
    public static let scanListingFollows = POP3Reply.ok("scan listing follows")
    public static let uniqueIDListingFollows = POP3Reply.ok("unique-id listing follows")
    public static let topFollows = POP3Reply.ok("top of message follows")

    public static let lineTooLong = POP3Reply.err("line too long")
    public static let bareLineEnding = POP3Reply.err("lines end with CRLF")
    public static let autologout = POP3Reply.err("autologout timer expired")
    public static let plainTextNeedsTLS = POP3Reply.err("Plain-text authentication needs TLS: use STLS first", code: "AUTH")
    public static let mechanismNeedsTLS = POP3Reply.err("Mechanism needs TLS: use STLS first", code: "AUTH")
    public static let unsupportedMechanism = POP3Reply.err("Unsupported mechanism")
    public static let authenticationFailed = POP3Reply.err("Authentication failed", code: "AUTH")
    public static let authenticationCancelled = POP3Reply.err("Authentication cancelled")
    public static let blocked = POP3Reply.err("Server access temporarily blocked! Please try again later", code: "SYS/TEMP")
    public static let tooManyFailedLogins = POP3Reply.err("Too many failed logins, closing connection", code: "AUTH")
    public static let tooManyUserSessions = POP3Reply.err("Too many sessions for this user from your address", code: "SYS/TEMP")
    public static let tooManySessions = POP3Reply.err("Too many connections, try again later", code: "SYS/TEMP")
    public static let tooManyFromAddress = POP3Reply.err("Too many connections from your address", code: "SYS/TEMP")
    public static let maildropInUse = POP3Reply.err("Maildrop already in use by another session", code: "IN-USE")
    public static let pipelinedAfterSTLS = POP3Reply.err("Commands pipelined after STLS; closing connection")
    public static func cannotOpenMaildrop(session: String) -> POP3Reply {
        .err("Cannot open the maildrop now (session \(session))", code: "SYS/TEMP")
    }
    public static func cannotReadMessage(session: String) -> POP3Reply {
        .err("Cannot read the message now (session \(session))", code: "SYS/TEMP")
    }
    public static func deletionsFailed(session: String) -> POP3Reply {
        .err("Some deleted messages not removed (session \(session))", code: "SYS/TEMP")
    }
}
