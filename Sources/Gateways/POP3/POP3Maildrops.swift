import Commands
import EventLog
import Facts
import Foundation
import Logging
import NIOSSL
import POP3Wire
import Projections
import ServiceLifecycle
import Synchronization
import WireCore

/// The POP3 backend on the mail store: INBOX is the maildrop, deletions are one expunge (or,
/// holding, one flag change) on the user's stream, and a maildrop is held by one session at a
/// time across every process on the database (a lease in `runtime.maildrop_leases`).
public final class POP3Maildrops: POP3Backend {
    public static let heldFlag = "$POP3Deleted"

    public let hostname: String
    let mail: MailStore
    let settings: LiveSettings
    let authenticator: Authenticator
    let logins: LoginProtection
    let logger: Logger
    let recorder: SessionRecorder

    public init(hostname: String, engine: ProjectionEngine, settings: LiveSettings, directory: LiveDirectory,
                logins: LoginProtection, authenticator: Authenticator, logger: Logger) {
        self.hostname = hostname
        self.mail = MailStore(engine: engine)
        self.settings = settings
        self.authenticator = authenticator
        self.logins = logins
        self.logger = logger
        self.recorder = SessionRecorder(store: engine.store, logger: logger)
    }

    var sessionBounds: SessionLimits.Bounds {
        SessionLimits.Bounds(total: settings.value(SettingKey<Int>.pop3MaxSessions),
                             unauthenticatedPerAddress: settings.value(SettingKey<Int>.pop3MaxUnauthenticatedPerIP),
                             perUserAndAddress: settings.value(SettingKey<Int>.pop3MaxSessionsPerUserIP))
    }

    public func policy() -> POP3Policy {
        var policy = POP3Policy()
        policy.authWithoutTLS = settings.value(SettingKey<Bool>.pop3AuthWithoutTLS)
        policy.maxFailedLogins = settings.value(SettingKey<Int>.pop3MaxFailedLogins)
        policy.holdDeleted = settings.value(SettingKey<Bool>.pop3HoldDeleted)
        policy.cramMD5 = settings.value(SettingKey<Bool>.cramMD5Allowed)
        return policy
    }

    public func makeNonce() -> String { RandomText.hex(16) }

    public func checkPassword(user: String, password: String) async -> UserRecord? {
        await authenticator.checkPassword(user: user, password: password)
    }

    public func credentials(user: String, mechanism: SASLMechanism) async -> Credentials? {
        await authenticator.credentials(user: user, mechanism: mechanism)
    }

    public func checkAPOP(user: String, timestamp: String, digest: String) async -> UserRecord? {
        await authenticator.checkAPOP(user: user, timestamp: timestamp, digest: digest)
    }

    public func user(named name: String) async -> UserRecord? {
        authenticator.user(named: name)
    }

    public func sessionEnded(_ summary: SessionEnded) async {
        await recorder.ended(summary)
    }

    public func now() -> Date { Date() }

    public func loginFailed(user: String, reason: String, session: POP3SessionContext) async -> Bool {
        await logins.failed(user: user, reason: reason, service: session.service.rawValue, sessionID: session.id, clientIP: session.clientIP)
    }

    /// How long a maildrop lease lasts unrenewed: a session renews it every `leaseRenewal`, so
    /// it outlives a crashed process by at most this.
    public static let leaseDuration: Duration = .seconds(180)
    public static let leaseRenewal: Duration = .seconds(60)

    public func lockMaildrop(_ user: String, holder: String) async throws -> Bool {
        try await mail.engine.store.takeMaildropLease(user.lowercased(), holder: holder, seconds: Self.leaseDuration.components.seconds)
    }

    public func renewMaildrop(_ user: String, holder: String) async throws -> Bool {
        try await mail.engine.store.renewMaildropLease(user.lowercased(), holder: holder, seconds: Self.leaseDuration.components.seconds)
    }

    public func unlockMaildrop(_ user: String, holder: String) async {
        do {
            try await mail.engine.store.releaseMaildropLease(user.lowercased(), holder: holder)
        } catch {
            // The lease runs out by itself.
            logger.warning("giving up a maildrop lease failed", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    public func maildrop(for user: String) async throws -> POP3Maildrop {
        guard let inbox = try await mail.reader.mailbox(user, named: "INBOX") else {
            return POP3Maildrop(mailboxID: 0, uidValidity: 0, messages: [])
        }
        let messages = try await mail.reader.messages(user, mailboxID: inbox.id)
            .filter { !$0.flags.contains(Self.heldFlag) }
            .map { POP3Maildrop.Message(uid: $0.uid, size: $0.size, blob: $0.blob) }
        return POP3Maildrop(mailboxID: inbox.id, uidValidity: inbox.uidValidity, messages: messages)
    }

    public func messages(_ blobs: [BlobID]) async throws -> [BlobID: [UInt8]] {
        let store = mail.engine.store
        return try await store.blobs(blobs)
    }

    public func delete(_ messages: [POP3Maildrop.Message], from maildrop: POP3Maildrop, user: String, hold: Bool) async throws {
        let uids = messages.map(\.uid)
        if hold {
            _ = try await mail.setFlags(user: user, mailboxID: maildrop.mailboxID, uids: uids, .add, [Self.heldFlag, "\\Seen"])
        } else {
            // Messages IMAP removed meanwhile are simply not there any more.
            try await mail.expunge(user: user, mailboxID: maildrop.mailboxID, uids: uids, onlyDeleted: false)
        }
    }
}
