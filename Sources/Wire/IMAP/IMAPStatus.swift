/// An IMAP status response (RFC 9051 §7.1): OK, NO, BAD or BYE, with a response code in
/// brackets when there is one. The fixed ones the server sends are named here, so each text is
/// written once.
public struct IMAPStatus: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case ok = "OK", no = "NO", bad = "BAD", bye = "BYE"
    }

    public let kind: Kind
    /// `READ-ONLY`, `TRYCREATE`, `AUTHENTICATIONFAILED`, … (RFC 5530 and the RFCs of each extension).
    public let code: String?
    public let text: String

    public init(_ kind: Kind, _ code: String? = nil, _ text: String) {
        self.kind = kind
        self.code = code
        self.text = text
    }

    /// As sent after the tag or `*`, without the CRLF.
    public var description: String { kind.rawValue + (code.map { " [\($0)]" } ?? "") + " " + text }

    public static func completed(_ command: String) -> IMAPStatus { IMAPStatus(.ok, nil, "\(command) completed") }

    // MARK: Refusals

    public static let readOnly = IMAPStatus(.no, "READ-ONLY", "Mailbox is read-only")
    public static let noSuchMailbox = IMAPStatus(.no, "NONEXISTENT", "No such mailbox")
    public static let tryCreate = IMAPStatus(.no, "TRYCREATE", "No such mailbox")
    public static let noSuchQuotaRoot = IMAPStatus(.no, "NONEXISTENT", "No such quota root")
    public static let cannotSelect = IMAPStatus(.no, "CANNOT", "Mailbox cannot be selected")
    public static let authenticationFailed = IMAPStatus(.no, "AUTHENTICATIONFAILED", "Authentication failed")
    public static let loginNeedsTLS = IMAPStatus(.no, "PRIVACYREQUIRED", "LOGIN needs TLS: use STARTTLS first")
    public static let messageOverQuota = IMAPStatus(.no, "OVERQUOTA", "The message does not fit in your storage quota")
    public static let copiesOverQuota = IMAPStatus(.no, "OVERQUOTA", "The copies do not fit in your storage quota")
    public static let tooManyUserSessions = IMAPStatus(.no, "LIMIT", "Too many sessions for this user from your address")
    public static func temporaryFailure(session: String) -> IMAPStatus {
        IMAPStatus(.no, "UNAVAILABLE", "Temporary failure, try again (session \(session))")
    }
    public static func literalTooBig(_ size: Int, limit: Int) -> IMAPStatus {
        IMAPStatus(.no, "TOOBIG", "Literal of \(size) octets is larger than \(limit)")
    }

    // MARK: Protocol errors

    public static let selectFirst = IMAPStatus(.bad, nil, "Select a mailbox first")
    public static let alreadyLoggedIn = IMAPStatus(.bad, nil, "Already logged in")
    public static let logInFirst = IMAPStatus(.bad, nil, "Log in first")
    public static let authenticationCancelled = IMAPStatus(.bad, nil, "Authentication cancelled")
    public static let expectedDone = IMAPStatus(.bad, nil, "Expected DONE")
    public static let startTLSUnavailable = IMAPStatus(.bad, nil, "STARTTLS not available now")
    public static let sortNeedsCriteria = IMAPStatus(.bad, nil, "SORT needs criteria")
    public static let unknownThreading = IMAPStatus(.bad, nil, "Unknown threading algorithm")
    public static let unknownListSelection = IMAPStatus(.bad, nil, "Unknown or incomplete LIST selection options")
    public static let unknownListReturn = IMAPStatus(.bad, nil, "Unknown LIST return options")
    public static let untaggedCommand = IMAPStatus(.bad, nil, "Command without a tag")

    // MARK: Endings

    public static let loggingOut = IMAPStatus(.bye, nil, "Pillarbox logging out")
    public static let blocked = IMAPStatus(.bye, nil, "Server access temporarily blocked! Please try again later")
    public static let tooManyFailedLogins = IMAPStatus(.bye, nil, "Too many failed logins")
    public static let tooManyErrors = IMAPStatus(.bye, nil, "Too many errors")
    public static let idleNotDone = IMAPStatus(.bye, nil, "Expected DONE to end IDLE")
    public static let pipelinedAfterSTARTTLS = IMAPStatus(.bye, nil, "Commands pipelined after STARTTLS")
    public static let autologout = IMAPStatus(.bye, nil, "Autologout; idle for too long")
    public static let blockedAtConnect = IMAPStatus(.bye, "UNAVAILABLE", "Server access temporarily blocked! Please try again later")
    public static let tooManyConnections = IMAPStatus(.bye, "UNAVAILABLE", "Too many connections, try again later")
    public static let tooManyFromAddress = IMAPStatus(.bye, "UNAVAILABLE", "Too many connections from your address")
    public static let previousMailboxClosed = IMAPStatus(.ok, "CLOSED", "Previous mailbox closed")
}
