import Commands
import Crypto
import DNS
import EventLog
import Facts
import Foundation
import Logging
import Projections
import Routing
import SMTPWire
import Synchronization
import WireCore

/// The SMTP backend on the event log: the policy from the settings, recipients routed over the
/// directory as the live followers hold them (`Routing`), authentication; IDS scoring and IPS
/// blocks are `SMTPIntrusionScoring`'s, the facts of accepted and refused mail
/// `SMTPAcceptance`'s.
public final class SMTPIntake: SMTPBackend {
    public let hostname: String
    public let spoolDirectory: String?
    let engine: ProjectionEngine
    let settings: LiveSettings
    let directory: LiveDirectory
    let mail: MailStore
    let prevention: IntrusionPrevention
    let authenticator: Authenticator
    let logger: Logger
    let clock: @Sendable () -> Date
    let scoring: SMTPIntrusionScoring
    let acceptance: SMTPAcceptance
    let resolvers = UnboundResolverCache()
    /// The key SRS addresses are made with (from the key directory); nil: forwarded mail keeps
    /// its sender.
    let senderRewritingKey: SymmetricKey?
    let suffixLists = PublicSuffixListCache()

    public init(hostname: String, spoolDirectory: String?, engine: ProjectionEngine, settings: LiveSettings,
                directory: LiveDirectory, prevention: IntrusionPrevention, logins: LoginProtection? = nil,
                authenticator: Authenticator, senderRewritingKey: SymmetricKey? = nil, logger: Logger,
                clock: @escaping @Sendable () -> Date = Date.init) {
        self.authenticator = authenticator
        self.senderRewritingKey = senderRewritingKey
        self.hostname = hostname
        self.spoolDirectory = spoolDirectory
        self.engine = engine
        self.settings = settings
        self.directory = directory
        self.mail = MailStore(engine: engine, clock: clock)
        self.prevention = prevention
        self.logger = logger
        self.clock = clock
        scoring = SMTPIntrusionScoring(engine: engine, settings: settings, prevention: prevention, logins: logins, logger: logger,
                                       clock: clock)
        acceptance = SMTPAcceptance(store: engine.store, scoring: scoring, logger: logger, clock: clock)
    }

    public func now() -> Date { clock() }

    public func makeNonce() -> String { RandomText.hex(24) }

    private let cachedPolicy = Mutex<(generation: Int, policy: SMTPPolicy)?>(nil)

    /// The policy from the current settings, rebuilt only when a setting changed.
    public func policy() -> SMTPPolicy {
        let generation = settings.generation
        if let cached = cachedPolicy.withLock({ $0 }), cached.generation == generation { return cached.policy }
        let policy = makePolicy()
        cachedPolicy.withLock { $0 = (generation, policy) }
        return policy
    }

    func makePolicy() -> SMTPPolicy {
        var policy = SMTPPolicy()
        policy.maxSessions = settings.value(SettingKey<Int>.smtpMaxSessions)
        policy.maxSessionsPerIP = settings.value(SettingKey<Int>.smtpMaxSessionsPerIP)
        policy.greetingPause = .milliseconds(settings.value(SettingKey<Int>.smtpGreetingPause))
        policy.neverBlock = IPAccessListValue(lines: settings.value(SettingKey<[String]>.ipsNeverBlock))
        policy.limits.maxMessageSize = settings.value(SettingKey<Int>.maxMessageSize)
        policy.limits.maxRecipients = settings.value(SettingKey<Int>.smtpMaxRecipients)
        policy.limits.maxAuthFailures = settings.value(SettingKey<Int>.smtpMaxAuthFailures)
        policy.limits.idleTimeout = .seconds(settings.value(SettingKey<Int>.smtpIdleTimeout))
        policy.limits.maxHops = settings.value(SettingKey<Int>.smtpMaxHops)
        policy.relayNetworks = IPAccessListValue(lines: settings.value(SettingKey<[String]>.smtpRelayNetworks))
        policy.vrfyEnabled = settings.value(SettingKey<Bool>.smtpVRFYEnabled)
        policy.vrfyNetworks = IPAccessListValue(lines: settings.value(SettingKey<[String]>.smtpVRFYNetworks))
        policy.refuseHelo = settings.value(SettingKey<[String]>.smtpRefuseHelo)
        policy.dsn = settings.value(SettingKey<Bool>.smtpDSN)
        policy.authWithoutTLS = settings.value(SettingKey<Bool>.smtpAuthWithoutTLS)
        policy.cramMD5 = settings.value(SettingKey<Bool>.cramMD5Allowed)
        policy.spfPolicy = settings.value(SettingKey<String>.smtpSPFPolicy)
        policy.dkimVerify = settings.value(SettingKey<Bool>.smtpDKIMVerify)
        policy.dmarcPolicy = settings.value(SettingKey<String>.smtpDMARCPolicy)
        return policy
    }

    /// Whether a client may connect at all (not blocked by the IPS or an administrator).
    public func isBlocked(_ address: String) -> Bool {
        prevention.isBlocked(address, at: clock(), neverBlock: policy().neverBlock.list)
    }

    // MARK: Recipients

    /// The router over the directory and settings as they stand now.
    func router() -> Router {
        var router = Router(snapshot: directory.snapshot)
        router.defaultMappings = !settings.value(SettingKey<Bool>.disableDefaultMappings)
        router.mainAdministrator = settings.value(SettingKey<String>.mainAdministrator)
        router.unknownLocalAsOutgoing = settings.value(SettingKey<Bool>.unknownLocalAsOutgoing)
        router.listServerName = settings.value(SettingKey<String>.listServerName)
        router.mailCommands = settings.value(SettingKey<Bool>.mailCommands)
        router.lanForwarding = LANForwarding(settings.value(SettingKey<[LANForwardRule]>.lanForwarding),
                                             bareUserNames: settings.value(SettingKey<Bool>.lanBareUserNames))
        let snapshot = router.snapshot
        if let senderRewritingKey,
           let domain = snapshot.mailDomain {
            router.senderRewriting = SenderRewriting(key: senderRewritingKey, domain: domain)
        }
        router.today = clock()
        return router
    }

    func sender(_ session: SMTPSessionContext, policy: SMTPPolicy) -> RouteSender {
        RouteSender(user: session.authenticatedUser.map { ($0.name, $0.maySendInternetMail) },
                    inRelayNetworks: policy.relayNetworks.allows(session.clientIP))
    }

    public func resolve(_ path: SMTPPath, session: SMTPSessionContext, policy: SMTPPolicy) async -> SMTPRecipientDecision {
        // A quoted local part that did not need its quotes (`"alice"`) is the same address
        // (RFC 5321 §4.1.2); one that did is no user name.
        router().route(localPart: path.localPart, plainLocalPart: !path.quoted || !SMTPPath.needsQuoting(path.localPart),
                       domain: path.domain, from: sender(session, policy: policy))
    }

    public func expand(_ name: String) async -> [String]? {
        let snapshot = directory.snapshot
        guard snapshot.lists[name.lowercased()] != nil else { return nil }
        return snapshot.listMembers[name.lowercased()] ?? []
    }

    public func storage(for user: String, adding size: Int) async -> StorageCheck {
        let quota = Int64(settings.value(SettingKey<Int>.mailQuotaKiB)) * 1_024
        guard quota > 0 else { return .fits }
        if Int64(size) > quota { return .tooBig }
        do {
            let used = try await mail.reader.account(user)?.bytes ?? 0
            return used + Int64(size) > quota ? .full : .fits
        } catch {
            // The store cannot say: let the message through rather than refuse it for that.
            logger.warning("reading a mailbox's size failed", metadata: ["user": "\(user)", "error": "\(error)"])
            return .fits
        }
    }

    public func mayUse(sender address: String, user: UserRecord) async -> Bool {
        router().may(user, sendAs: address, anySender: settings.value(SettingKey<[String]>.smtpAllowAnySender))
    }

    // MARK: Authentication

    public func checkPassword(user: String, password: String) async -> UserRecord? {
        await authenticator.checkPassword(user: user, password: password)
    }

    public func credentials(user: String, mechanism: SASLMechanism) async -> Credentials? {
        await authenticator.credentials(user: user, mechanism: mechanism)
    }

    public func user(named name: String) async -> UserRecord? {
        authenticator.user(named: name)
    }

    // MARK: IDS and acceptance

    @discardableResult
    public func record(_ kind: IntrusionEventRecorded.Kind, details: String, session: SMTPSessionContext, append: Bool) async -> Int {
        await scoring.record(kind, details: details, session: session, append: append)
    }

    public func sessionEnded(_ summary: SessionEnded, rejected: [MessageRejected], notes: [SMTPIDSNote],
                             session: SMTPSessionContext) async {
        await acceptance.sessionEnded(summary, rejected: rejected, notes: notes, session: session)
    }

    public func accept(_ message: SMTPMessage, notes: [SMTPIDSNote], session: SMTPSessionContext) async throws {
        try await acceptance.accept(message, router: router(), mayRelay: sender(session, policy: policy()).mayRelay, notes: notes,
                                    session: session, receiptFields: settings.value(SettingKey<[String]>.receiptHeaderFields))
    }
}
