import EventLog
import Facts
import Foundation
import Projections
import Routing
import SMTPWire
import WireCore

/// What a session knows about its connection and client.
public struct SMTPSessionContext: Sendable {
    /// `smtp`, `submission` or `smtps`.
    public typealias Service = ServiceKind

    public let id: String
    public let service: Service
    public let clientIP: String
    public var helo: String?
    public var esmtp = false
    /// The TLS version in use, nil before STARTTLS (and always on plain connections).
    public var tls: String?
    public var authenticatedUser: UserRecord?

    public init(id: String, service: Service, clientIP: String, tls: String? = nil) {
        self.id = id
        self.service = service
        self.clientIP = clientIP
        self.tls = tls
    }
}

/// Where a recipient goes: the router's answer (`Routing`).
public typealias SMTPRecipientDecision = RecipientRoute

/// A recipient the session accepted.
public struct SMTPAcceptedRecipient: Sendable {
    public let path: SMTPPath
    public let parameters: SMTPRecipientParameters
    public let decision: SMTPRecipientDecision
}

/// A message ready to be made durable: the envelope and the body to store.
public struct SMTPMessage: Sendable {
    public let messageID: String
    public let reversePath: SMTPPath?
    public let parameters: SMTPMailParameters
    public let recipients: [SMTPAcceptedRecipient]
    /// `Return-Path:` and `Received:` lines, then the client's message.
    public let body: SMTPMessageBody
    /// The SHA-256 of the body.
    public let blob: BlobID
    public let size: Int
    public let returnPathLength: Int
    /// The start of the client's message (its header section at least, unless huge).
    public let head: [UInt8]
    /// Recipients refused in the same transaction.
    public let refused: [RefusedRecipient]
    /// When the body began to arrive.
    public let bodyStarted: Date
    /// The SPF check of MAIL FROM (or HELO), when one was made.
    public var spf: SMTPSPFResult? = nil
    /// The checks made once the message was in.
    public var dkim: [DKIMCheck]? = nil
    public var dmarc: DMARCCheck? = nil
    /// Local copies go to Junk (a DMARC quarantine the server enforces).
    public var junk = false
    /// The ARC chain's validation.
    public var arc: String? = nil
}

/// What the checks made once a message from outside is in found (DKIM, DMARC), and how the
/// stored message changes for them.
public struct SMTPAuthentication: Sendable {
    /// The `Authentication-Results:` field to put above the trace line (empty when no check was made).
    public var field: String
    /// Byte ranges of the client's message holding results that claim to be this server's
    /// (RFC 8601 §5): they are removed.
    public var forged: [Range<Int>]
    public var dkim: [DKIMCheck]?
    public var dmarc: DMARCCheck?
    /// The ARC chain's validation: `none`, `pass` or `fail`.
    public var arc: String?

    public init(field: String = "", forged: [Range<Int>] = [], dkim: [DKIMCheck]? = nil, dmarc: DMARCCheck? = nil,
                arc: String? = nil) {
        self.arc = arc
        self.field = field
        self.forged = forged
        self.dkim = dkim
        self.dmarc = dmarc
    }
}

/// An SPF check's outcome as the SMTP gateway keeps it (RFC 7208 §2.6 result names).
public struct SMTPSPFResult: Sendable, Equatable {
    public var result: String
    /// The identity checked: the reverse-path, or `postmaster@<helo>` for `<>`.
    public var identity: String
    public var explanation: String?

    public init(result: String, identity: String, explanation: String? = nil) {
        self.result = result
        self.identity = identity
        self.explanation = explanation
    }
}

/// Everything a session needs from the rest of the server: settings, the directory, the IPS
/// and the log. The server implements it on PostgreSQL; tests can implement it in memory.
public protocol SMTPBackend: Sendable {
    var hostname: String { get }
    /// Where bodies too large to keep in memory are spooled while they arrive; nil keeps them in memory.
    var spoolDirectory: String? { get }
    func policy() -> SMTPPolicy
    /// Whether the client's address is blocked (by the IPS, the login IPS or an administrator).
    func isBlocked(_ address: String) -> Bool
    func now() -> Date
    /// Fresh random text for message ids and SASL nonces.
    func makeNonce() -> String
    func resolve(_ path: SMTPPath, session: SMTPSessionContext, policy: SMTPPolicy) async -> SMTPRecipientDecision
    /// The user when the password is right; nil otherwise (unknown user included).
    func checkPassword(user: String, password: String) async -> UserRecord?
    /// The user's stored credentials for a challenge mechanism, nil when unknown or not enabled.
    func credentials(user: String, mechanism: SASLMechanism) async -> Credentials?
    func user(named name: String) async -> UserRecord?
    /// Records an IDS event and feeds the IPS; with `append` false the event only adds to the
    /// client's score (a repeat the session folds into one event at its end).
    /// Returns the score it added.
    @discardableResult
    func record(_ kind: IntrusionEventRecorded.Kind, details: String, session: SMTPSessionContext, append: Bool) async -> Int
    /// Makes the message durable, with the session's collected IDS events; returns when the
    /// transaction holding it has committed.
    func accept(_ message: SMTPMessage, notes: [SMTPIDSNote], session: SMTPSessionContext) async throws
    /// Records the end of the session: its summary, the transactions that failed, and the IDS
    /// events still collected.
    func sessionEnded(_ summary: SessionEnded, rejected: [MessageRejected], notes: [SMTPIDSNote], session: SMTPSessionContext) async
    /// Whether `size` more bytes fit in `user`'s mailbox under `mail.quota_kib`.
    func storage(for user: String, adding size: Int) async -> StorageCheck
    /// Members of a list for EXPN, nil when `name` is not a list.
    func expand(_ name: String) async -> [String]?
    /// The checks on a message from outside once it is in: `body` holds the client's bytes
    /// from `clientStart` on (after the trace lines).
    func authenticate(_ body: SMTPMessageBody, clientStart: Int, spf: SMTPSPFResult?, policy: SMTPPolicy) async -> SMTPAuthentication
    /// RFC 7208 check_host() for a client's MAIL FROM (or HELO, for `<>`).
    func checkSPF(client: String, sender: String, helo: String) async -> SMTPSPFResult
    /// Whether an authenticated `user` may send as `address` (MAIL FROM, and each From: address):
    /// one of their own addresses, or any address when `smtp.allow_any_sender` names them.
    func mayUse(sender address: String, user: UserRecord) async -> Bool
}

/// A mailbox's room for a message (RFC 9208's STORAGE, the `mail.quota_kib` setting).
public enum StorageCheck: Sendable, Equatable {
    case fits
    /// Over quota now: 452 4.2.2 (it may fit once the user makes room).
    case full
    /// Larger than the whole quota: 552 5.2.2 (it never fits).
    case tooBig
}

/// An IDS event a session collected to write later.
public struct SMTPIDSNote: Sendable {
    public let kind: IntrusionEventRecorded.Kind
    public let details: String
    /// How many events of the session it stands for.
    public var count = 1
    /// What the events added to the client's score (already applied to the IPS).
    public var score = 0

    public init(kind: IntrusionEventRecorded.Kind, details: String, count: Int = 1, score: Int = 0) {
        self.kind = kind
        self.details = details
        self.count = count
        self.score = score
    }

    /// One note per kind, in order of first appearance: repeats counted, their details
    /// summarised, so a session of thousands of recipients writes a handful of events.
    static func folded(_ notes: [SMTPIDSNote]) -> [SMTPIDSNote] {
        var order: [IntrusionEventRecorded.Kind] = []
        var byKind: [IntrusionEventRecorded.Kind: SMTPIDSNote] = [:]
        for note in notes {
            if var existing = byKind[note.kind] {
                existing.count += note.count
                existing.score += note.score
                byKind[note.kind] = existing
            } else {
                order.append(note.kind)
                byKind[note.kind] = note
            }
        }
        return order.compactMap { byKind[$0] }
    }

    /// The details as stored: the first event's, and how many more there were.
    public var storedDetails: String { count > 1 ? "\(details) and \(count - 1) more" : details }
}
