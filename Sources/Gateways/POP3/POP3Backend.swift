import EventLog
import Facts
import Foundation
import POP3Wire
import Projections
import WireCore

/// What a POP3 session knows about its connection.
public struct POP3SessionContext: Sendable {
    public let id: String
    /// `pop3` or `pop3s`.
    public let service: ServiceKind
    public let clientIP: String
    public var tls: String?

    public init(id: String, service: ServiceKind, clientIP: String, tls: String? = nil) {
        self.id = id
        self.service = service
        self.clientIP = clientIP
        self.tls = tls
    }
}

/// The runtime settings a POP3 session applies.
public struct POP3Policy: Sendable {
    /// USER/PASS, PLAIN and LOGIN without TLS (VPOP3's "Require Encrypted Authentication" off).
    public var authWithoutTLS = false
    public var maxFailedLogins = 3
    /// Keep deleted messages (hidden from POP3) instead of removing them.
    public var holdDeleted = false
    public var cramMD5 = false
    /// RFC 1939 §3: a command line is at most 255 octets; AUTH lines may carry an initial
    /// response (RFC 5034 §4), so those get 2048.
    public var commandLineLength = 2_048
    /// Unknown or out-of-place commands before the session is closed.
    public var maxErrors = 20

    public init() {}
}

/// INBOX as it stood at login (RFC 1939 §8: the maildrop does not change during a session).
public struct POP3Maildrop: Sendable {
    public struct Message: Sendable, Equatable {
        public let uid: UInt32
        public let size: Int64
        public let blob: BlobID

        public init(uid: UInt32, size: Int64, blob: BlobID) {
            self.uid = uid
            self.size = size
            self.blob = blob
        }
    }

    public let mailboxID: Int64
    public let uidValidity: UInt32
    public let messages: [Message]

    public init(mailboxID: Int64, uidValidity: UInt32, messages: [Message]) {
        self.mailboxID = mailboxID
        self.uidValidity = uidValidity
        self.messages = messages
    }

    /// A message's unique id (RFC 1939 §7): UIDVALIDITY and UID, the same for IMAP and across
    /// rebuilds, since both come from the log.
    public func uniqueID(_ message: Message) -> String { "\(uidValidity)-\(message.uid)" }
}

/// Everything a POP3 session needs from the server.
public protocol POP3Backend: Sendable {
    var hostname: String { get }
    func policy() -> POP3Policy
    func makeNonce() -> String
    func checkPassword(user: String, password: String) async -> UserRecord?
    func credentials(user: String, mechanism: SASLMechanism) async -> Credentials?
    /// The user when an APOP digest is right for the greeting's timestamp (RFC 1939 §7).
    func checkAPOP(user: String, timestamp: String, digest: String) async -> UserRecord?
    func user(named name: String) async -> UserRecord?
    /// Records a refused login and counts it for the login IPS; true when the client's address
    /// is blocked now.
    func loginFailed(user: String, reason: String, session: POP3SessionContext) async -> Bool
    /// Takes the user's maildrop for the session `holder` names, in whichever process; false
    /// when another session holds it. The lease runs out unless renewed (`renewMaildrop`).
    func lockMaildrop(_ user: String, holder: String) async throws -> Bool
    /// Keeps the lease; false when it was lost (it ran out and another session took it).
    func renewMaildrop(_ user: String, holder: String) async throws -> Bool
    func unlockMaildrop(_ user: String, holder: String) async
    func maildrop(for user: String) async throws -> POP3Maildrop
    /// Stored bodies, several per query (a session reading through its maildrop asks ahead).
    func messages(_ blobs: [BlobID]) async throws -> [BlobID: [UInt8]]
    /// Records the session's end (`session_ended`).
    func sessionEnded(_ summary: SessionEnded) async
    func now() -> Date
    /// Removes (or, holding, hides) the messages deleted in a session, as one change.
    func delete(_ messages: [POP3Maildrop.Message], from maildrop: POP3Maildrop, user: String, hold: Bool) async throws
}
