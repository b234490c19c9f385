import Crypto
import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Projections
import Synchronization

/// Password and challenge checks against the live directory, for every gateway.
public struct Authenticator: Sendable {
    let directory: LiveDirectory
    let settings: LiveSettings
    let secrets: UserSecrets?
    let cache: LoginCache
    let logger: Logger

    public init(directory: LiveDirectory, settings: LiveSettings, secrets: UserSecrets?, logger: Logger,
                clock: @escaping @Sendable () -> Date = Date.init) {
        self.directory = directory
        self.settings = settings
        self.secrets = secrets
        self.cache = LoginCache(clock: clock)
        self.logger = logger
    }

    /// The user when the password is right; nil otherwise (unknown user included). The
    /// password is checked against the directory as committed now, so a password changed
    /// through another `serve` process is never accepted in its old form.
    ///
    /// A right password is remembered for `auth.login_cache_seconds`, as a keyed hash tied to
    /// the stored credentials, so a client that logs in every minute does not pay for scrypt
    /// every time; a password change, or a wrong password, always goes to scrypt. An unknown
    /// user (or one without a password) costs a decoy scrypt of the current cost, so the time
    /// an answer takes does not tell which users exist.
    public func checkPassword(user: String, password: String) async -> UserRecord? {
        guard let record = await directory.current().users[user.lowercased()], let credentials = record.credentials else {
            let decoy = Credentials.decoy(logN: settings.value(SettingKey<Int>.scryptCost))
            _ = await Task.detached(priority: .medium) { decoy.verify(password: password) }.value
            return nil
        }
        let lifetime = settings.value(SettingKey<Int>.loginCacheSeconds)
        if lifetime > 0, cache.remembers(user: record.name, credentials: credentials.scrypt, password: password) { return record }
        // scrypt is deliberately slow: keep it off the cooperative pool's other work.
        let valid = await Task.detached(priority: .medium) { credentials.verify(password: password) }.value
        if valid && lifetime > 0 {
            cache.remember(user: record.name, credentials: credentials.scrypt, password: password, for: TimeInterval(lifetime))
        }
        return valid ? record : nil
    }

    /// Stored credentials for a challenge mechanism (CRAM-MD5's with its secret unsealed); nil
    /// when unknown or not enabled for the user.
    public func credentials(user: String, mechanism: SASLMechanism) async -> Credentials? {
        guard let record = await directory.current().users[user.lowercased()], let credentials = record.credentials else { return nil }
        switch mechanism {
        case .cramMD5:
            guard settings.value(SettingKey<Bool>.cramMD5Allowed), record.cramMD5Enabled, let secrets else { return nil }
            do {
                return try await secrets.withCRAMMD5Context(record)
            } catch {
                logger.error("opening a CRAM-MD5 secret failed", metadata: ["user": "\(record.id)", "error": "\(error)"])
                return nil
            }
        case .scramSHA256: return credentials
        case .plain, .login: return nil
        }
    }

    /// The user when `digest` is right for APOP with `timestamp` (RFC 1939 §7); nil otherwise.
    public func checkAPOP(user: String, timestamp: String, digest: String) async -> UserRecord? {
        guard let record = await directory.current().users[user.lowercased()], record.apopEnabled, let secrets else { return nil }
        do {
            guard let password = try await secrets.apopPassword(record),
                  Credentials.verifyAPOP(timestamp: timestamp, digest: digest, password: password) else { return nil }
            return record
        } catch {
            logger.error("opening an APOP secret failed", metadata: ["user": "\(record.id)", "error": "\(error)"])
            return nil
        }
    }

    public func user(named name: String) -> UserRecord? {
        directory.snapshot.users[name.lowercased()]
    }
}

/// Passwords recently found right, per user: an HMAC-SHA-256 of the password under a key made
/// at start and never stored, with the stored scrypt string it was checked against.
final class LoginCache: Sendable {
    private struct Entry {
        let credentials: String
        let digest: [UInt8]
        let expires: Date
    }

    private let key = SymmetricKey(size: .bits256)
    private let entries = Mutex<[String: Entry]>([:])
    private let clock: @Sendable () -> Date
    static let capacity = 10_000

    init(clock: @escaping @Sendable () -> Date) { self.clock = clock }

    private func digest(_ password: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(password.utf8), using: key))
    }

    func remembers(user: String, credentials: String, password: String) -> Bool {
        let now = clock()
        guard let entry = entries.withLock({ $0[user.lowercased()] }), entry.credentials == credentials, entry.expires > now else {
            return false
        }
        let candidate = digest(password)
        // Constant time: compare every byte whatever the first difference.
        var difference: UInt8 = 0
        for (a, b) in zip(candidate, entry.digest) { difference |= a ^ b }
        return difference == 0 && candidate.count == entry.digest.count
    }

    func remember(user: String, credentials: String, password: String, for lifetime: TimeInterval) {
        let entry = Entry(credentials: credentials, digest: digest(password), expires: clock().addingTimeInterval(lifetime))
        let now = clock()
        entries.withLock { table in
            if table.count >= Self.capacity { table = table.filter { $0.value.expires > now } }
            if table.count < Self.capacity { table[user.lowercased()] = entry }
        }
    }
}

/// VPOP3's login IPS: failed logins per client address across every service and account
/// (unknown accounts included); reaching `ips.login_threshold` within `ips.login_period_minutes`
/// blocks the address for `ips.login_block_minutes` in the shared block list. Each failure is a
/// `login_failed` event, each block a `client_blocked` event.
public final class LoginProtection: Sendable {
    let engine: ProjectionEngine
    let settings: LiveSettings
    let prevention: IntrusionPrevention
    let failures = IntrusionPrevention()
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(engine: ProjectionEngine, settings: LiveSettings, prevention: IntrusionPrevention, logger: Logger,
                clock: @escaping @Sendable () -> Date = Date.init) {
        self.engine = engine
        self.settings = settings
        self.prevention = prevention
        self.logger = logger
        self.clock = clock
    }

    var neverBlock: IPAccessList {
        (try? IPAccessList.parse(settings.value(SettingKey<[String]>.ipsNeverBlock)).get()) ?? IPAccessList(entries: [])
    }

    public func isBlocked(_ address: String) -> Bool {
        prevention.isBlocked(address, at: clock(), neverBlock: neverBlock)
    }

    /// Records a failed login; true when the client's address is blocked now (the session
    /// that failed should close at once).
    @discardableResult
    public func failed(user: String, reason: String, service: String, sessionID: String, clientIP: String) async -> Bool {
        let event = LoginFailed(user: user, clientIP: clientIP, service: service, sessionID: sessionID, reason: reason)
        do {
            try await engine.store.append([EventData(event)], to: try StreamName(category: LoginFailed.category, id: clientIP))
        } catch {
            logger.error("recording a failed login failed", metadata: ["session": "\(sessionID)", "error": "\(error)"])
        }
        var configuration = IntrusionPrevention.Configuration()
        configuration.threshold = settings.value(SettingKey<Int>.loginThreshold)
        configuration.period = TimeInterval(settings.value(SettingKey<Int>.loginPeriodMinutes) * 60)
        configuration.blockTime = TimeInterval(settings.value(SettingKey<Int>.loginBlockMinutes) * 60)
        configuration.neverBlock = neverBlock
        let now = clock()
        guard let count = await failures.add(1, for: clientIP, kind: "login", at: now, configuration: configuration,
                                             sharedThrough: engine.store, logger: logger) else { return isBlocked(clientIP) }
        let until = now.addingTimeInterval(configuration.blockTime)
        prevention.block(clientIP, until: until)
        logger.notice("client blocked after failed logins", metadata: ["client": "\(clientIP)", "failures": "\(count)"])
        let blocked = ClientBlocked(address: clientIP, until: until,
                                    reason: "\(count) failed logins within \(Int(configuration.period / 60)) minutes", actor: "ips")
        do {
            _ = try await engine.transaction { transaction in
                try await transaction.append([PendingEvent(blocked)], to: try StreamName(category: ClientBlocked.category, id: "main"),
                                             expectedVersion: .any)
            }
        } catch {
            logger.error("recording a block failed", metadata: ["client": "\(clientIP)", "error": "\(error)"])
        }
        return true
    }
}
