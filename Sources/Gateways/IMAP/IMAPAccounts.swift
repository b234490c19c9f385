import Commands
import Crypto
import EventLog
import Facts
import Foundation
import IMAPWire
import Logging
import NIOSSL
import Projections
import ServiceLifecycle
import Synchronization
import WireCore

/// The IMAP bounds on untrusted input, from RFC 9051 and the runtime settings.
public struct IMAPLimits: Sendable {
    /// RFC 9051 §4: servers should accept command lines of at least 8192 octets.
    public var lineLength = 65_536
    /// APPEND's literal: the message size setting. One larger than `literalSizeInMemory` is
    /// spooled to disk as it arrives.
    public var literalSize = 50 * 1024 * 1024
    /// Literals held in memory after login: an APPEND of a small message, a SEARCH string.
    /// Any other literal larger than this is refused.
    public var literalSizeInMemory = 256 * 1024
    /// Literals before login (a LOGIN name or password, an AUTHENTICATE response): RFC 7888 §5
    /// warns that literals let a client make a server hold data; an unauthenticated client gets
    /// a few KiB (RFC 9051 §7.1: `NO [TOOBIG]`, or the end of the session for a literal it did
    /// not wait for permission to send).
    public var literalSizeBeforeLogin = 8_192
    /// Parentheses nesting in SEARCH and body sections.
    public var depth = 16
    /// Ranges in one sequence set.
    public var ranges = 1_000
    public var maxFailedLogins = 3
    public var maxErrors = 50

    public init() {}
}

/// Everything an IMAP session needs from the server: the mail store, the directory, the login
/// IPS, the settings and the log's wake-ups (for IDLE).
public final class IMAPAccounts: Sendable {
    public let hostname: String
    /// Where large APPENDed messages are spooled while they arrive.
    let spoolDirectory: String
    let mail: MailStore
    let settings: LiveSettings
    /// Users as they stand (URLAUTH reads the owner of a URL).
    let directory: LiveDirectory
    let authenticator: Authenticator
    let logins: LoginProtection
    let logger: Logger
    let recorder: SessionRecorder
    let recent: RecentMessages
    /// RFC 4467 URLAUTH's secret (from the key directory); nil offers no URLAUTH.
    let urlauthKey: SymmetricKey?
    /// The sessions' clock (session start and end times).
    let clock: @Sendable () -> Date
    /// Counts changes made by this process's sessions. They are committed when the session
    /// counts them, before the log's notification comes back, so a session that waits only for
    /// the notification could miss a change another session here already confirmed.
    private let localChanges = Atomic<UInt64>(0)

    public init(hostname: String, spoolDirectory: String, engine: ProjectionEngine, settings: LiveSettings,
                directory: LiveDirectory, logins: LoginProtection, authenticator: Authenticator, logger: Logger,
                urlauthKey: SymmetricKey? = nil, clock: @escaping @Sendable () -> Date = Date.init) {
        self.clock = clock
        self.urlauthKey = urlauthKey
        self.hostname = hostname
        self.spoolDirectory = spoolDirectory
        self.mail = MailStore(engine: engine)
        self.settings = settings
        self.directory = directory
        self.authenticator = authenticator
        self.logins = logins
        self.logger = logger
        self.recorder = SessionRecorder(store: engine.store, logger: logger)
        self.recent = RecentMessages(store: engine.store)
    }

    var store: EventStore { mail.engine.store }

    func limits() -> IMAPLimits {
        var limits = IMAPLimits()
        limits.literalSize = settings.value(SettingKey<Int>.maxMessageSize)
        limits.maxFailedLogins = settings.value(SettingKey<Int>.imapMaxFailedLogins)
        return limits
    }

    var authWithoutTLS: Bool { settings.value(SettingKey<Bool>.imapAuthWithoutTLS) }

    var sessionBounds: SessionLimits.Bounds {
        SessionLimits.Bounds(total: settings.value(SettingKey<Int>.imapMaxSessions),
                             unauthenticatedPerAddress: settings.value(SettingKey<Int>.imapMaxUnauthenticatedPerIP),
                             perUserAndAddress: settings.value(SettingKey<Int>.imapMaxSessionsPerUserIP))
    }
    var cramMD5: Bool { settings.value(SettingKey<Bool>.cramMD5Allowed) }

    /// A session committed a change to a mailbox.
    func noteChange() { localChanges.add(1, ordering: .sequentiallyConsistent) }

    /// Moves whenever a mailbox may have changed: with the log's wake-ups and with this
    /// process's own changes.
    var changeMark: ChangeMark {
        ChangeMark(log: store.appendGeneration(for: Self.followed), local: localChanges.load(ordering: .sequentiallyConsistent))
    }

    /// The streams whose growth may change what a session shows: the mailboxes.
    static let followed: Set<String> = [MailboxStream.category]

    func makeNonce() -> String { RandomText.hex(16) }

    /// Whether `bytes` more would take `user` over `mail.quota_kib` (RFC 9208 §5.1: OVERQUOTA).
    func overQuota(_ user: String, adding bytes: Int64) async throws -> Bool {
        let quota = Int64(settings.value(SettingKey<Int>.mailQuotaKiB)) * 1_024
        // The public folders are everyone's: the per-user quota is not theirs.
        guard quota > 0, bytes > 0, user != MailboxNames.publicOwner else { return false }
        let used = try await mail.reader.account(user)?.bytes ?? 0
        return used + bytes > quota
    }

    func bodies(_ blobs: [BlobID]) async throws -> [BlobID: [UInt8]] {
        let store = self.store
        return try await store.blobs(blobs)
    }
}

struct ChangeMark: Equatable {
    let log: UInt64
    let local: UInt64
}

/// IMAP4rev1's \Recent (RFC 3501 §2.3.2): a message is recent in the first session that
/// selects its mailbox after it arrived, and in no other, whichever `serve` process that
/// session runs in. Kept in PostgreSQL (`runtime.recent_claims`), per mailbox, as the highest UID
/// a session has claimed; a claim is one statement that also returns where the caller's share
/// starts, so two sessions never both see a message as recent.
final class RecentMessages: Sendable {
    let store: EventStore

    init(store: EventStore) { self.store = store }

    /// The UIDs of `uids` that become recent for the caller, which claims them for good.
    func claim(_ uids: some Sequence<UInt32>, in mailbox: MailboxInfo, of owner: String) async throws -> Set<UInt32> {
        let uids = Array(uids)
        guard let highest = uids.max() else { return [] }
        let boundary = try await store.claimRecent(owner: owner, mailbox: mailbox.id, uidValidity: mailbox.uidValidity, highest: highest)
        return Set(uids.filter { $0 > boundary })
    }

    /// The UIDs of `uids` no session has claimed yet (EXAMINE and STATUS look without taking).
    func unclaimed(_ uids: some Sequence<UInt32>, in mailbox: MailboxInfo, of owner: String) async throws -> Set<UInt32> {
        let uids = Array(uids)
        guard !uids.isEmpty else { return [] }
        let boundary = try await store.recentBoundary(owner: owner, mailbox: mailbox.id, uidValidity: mailbox.uidValidity)
        return Set(uids.filter { $0 > boundary })
    }
}
