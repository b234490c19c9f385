import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Projections
import Routing
import SMTPWire
import Synchronization
import WireCore

/// The SMTP backend on the event log: settings and the directory as the live followers hold
/// them, IDS events and blocks as events, and each accepted message as one transaction
/// holding `MessageAccepted`, its body blob and the local deliveries.
public final class SMTPIntake: SMTPBackend {
    public let hostname: String
    public let spoolDirectory: String?
    let engine: ProjectionEngine
    let settings: LiveSettings
    let directory: LiveDirectory
    let mail: MailStore
    let prevention: IntrusionPrevention
    let authenticator: Authenticator
    let logins: LoginProtection?
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(hostname: String, spoolDirectory: String?, engine: ProjectionEngine, settings: LiveSettings,
                directory: LiveDirectory, prevention: IntrusionPrevention, logins: LoginProtection? = nil,
                authenticator: Authenticator, logger: Logger, clock: @escaping @Sendable () -> Date = Date.init) {
        self.authenticator = authenticator
        self.logins = logins
        self.hostname = hostname
        self.spoolDirectory = spoolDirectory
        self.engine = engine
        self.settings = settings
        self.directory = directory
        self.mail = MailStore(engine: engine, clock: clock)
        self.prevention = prevention
        self.logger = logger
        self.clock = clock
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
        return policy
    }

    var ipsConfiguration: IntrusionPrevention.Configuration {
        var configuration = IntrusionPrevention.Configuration()
        configuration.threshold = settings.value(SettingKey<Int>.ipsThreshold)
        configuration.period = TimeInterval(settings.value(SettingKey<Int>.ipsPeriodMinutes) * 60)
        configuration.blockTime = TimeInterval(settings.value(SettingKey<Int>.ipsBlockMinutes) * 60)
        configuration.neverBlock = IPAccessListValue(lines: settings.value(SettingKey<[String]>.ipsNeverBlock)).list
        return configuration
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
            let used = try await mail.account(user)?.bytes ?? 0
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

    // MARK: IDS

    func idsAppend(_ notes: [SMTPIDSNote], session: SMTPSessionContext) throws -> StreamAppend {
        let events = try SMTPIDSNote.folded(notes).map { note in
            try EventData(IntrusionEventRecorded(kind: note.kind, clientIP: session.clientIP, service: session.service.rawValue,
                                                 sessionID: session.id, details: note.storedDetails, score: note.score, count: note.count))
        }
        return StreamAppend(stream: try StreamName(category: IntrusionEventRecorded.category, id: session.clientIP),
                            expectedVersion: .any, events: events)
    }

    @discardableResult
    public func record(_ kind: IntrusionEventRecorded.Kind, details: String, session: SMTPSessionContext, append: Bool) async -> Int {
        if kind == .authenticationFailure, let logins {
            // Failed SMTP AUTH also counts for the login IPS, shared by every service.
            await logins.failed(user: "", reason: details, service: session.service.rawValue, sessionID: session.id,
                                clientIP: session.clientIP)
        }
        let score: Int
        switch kind {
        case .authenticationFailure: score = settings.value(SettingKey<Int>.ipsBadAuthScore)
        case .badLocalRecipient: score = settings.value(SettingKey<Int>.ipsBadRecipientScore)
        case .relayDenied: score = settings.value(SettingKey<Int>.ipsRelayDeniedScore)
        case .syntaxError: score = settings.value(SettingKey<Int>.ipsSyntaxErrorScore)
        default: score = 0
        }
        if append {
            let event = IntrusionEventRecorded(kind: kind, clientIP: session.clientIP, service: session.service.rawValue,
                                               sessionID: session.id, details: details, score: score)
            do {
                let stream = try StreamName(category: IntrusionEventRecorded.category, id: session.clientIP)
                try await engine.store.append([EventData(event)], to: stream)
            } catch {
                logger.error("recording an IDS event failed", metadata: ["session": "\(session.id)", "error": "\(error)"])
            }
        }
        let now = clock()
        let configuration = ipsConfiguration
        if let total = prevention.add(score, for: session.clientIP, at: now, configuration: configuration) {
            let until = now.addingTimeInterval(configuration.blockTime)
            let blocked = ClientBlocked(address: session.clientIP, until: until,
                                        reason: "IPS score \(total) within \(Int(configuration.period / 60)) minutes", actor: "ips")
            logger.notice("client blocked", metadata: ["client": "\(session.clientIP)", "until": "\(until)", "score": "\(total)"])
            do {
                _ = try await engine.transaction { transaction in
                    try await transaction.append([PendingEvent(blocked)], to: try StreamName(category: ClientBlocked.category, id: "main"),
                                                 expectedVersion: .any)
                }
            } catch {
                logger.error("recording a block failed", metadata: ["client": "\(session.clientIP)", "error": "\(error)"])
            }
        }
        return score
    }

    // MARK: Accepting

    /// The decoded Subject, for the queue and the logs (the header section only is parsed).
    static func subject(of message: [UInt8]) -> String? {
        var end = 0
        while end + 3 < message.count {
            if message[end] == 0x0D && message[end + 1] == 0x0A && message[end + 2] == 0x0D && message[end + 3] == 0x0A { break }
            end += 1
        }
        return MIMEParser.summarise(Array(message[..<min(message.count, end + 4)])).subjectText
    }

    public func sessionEnded(_ summary: SessionEnded, rejected: [MessageRejected], notes: [SMTPIDSNote],
                             session: SMTPSessionContext) async {
        do {
            var appends = [StreamAppend(stream: try StreamName(category: SessionEnded.category, id: summary.sessionID),
                                        expectedVersion: .noStream, events: [try EventData(summary)])]
            for message in rejected {
                appends.append(StreamAppend(stream: try StreamName(category: MessageRejected.category, id: message.messageID),
                                            expectedVersion: .noStream, events: [try EventData(message)]))
            }
            if !notes.isEmpty { appends.append(try idsAppend(notes, session: session)) }
            try await engine.store.append(appends)
        } catch {
            logger.error("recording the session's end failed", metadata: ["session": "\(session.id)", "error": "\(error)"])
        }
    }

    public func accept(_ message: SMTPMessage, notes: [SMTPIDSNote], session: SMTPSessionContext) async throws {
        let router = router()
        let mayRelay = sender(session, policy: policy()).mayRelay
        var recipients: [MessageAccepted.Recipient] = []
        for recipient in message.recipients {
            let notify = recipient.parameters.notify.map(\.rawValue)
            let address = recipient.path.description
            switch recipient.decision {
            case .list(let name):
                let expanded = router.expand(list: name, address: address, notify: notify,
                                             originalRecipient: recipient.parameters.originalRecipient,
                                             remoteAllowed: router.snapshot.lists[name]?.isPublic == true || mayRelay)
                recipients += expanded.recipients
                for member in expanded.withheld {
                    logger.info("not sending a members-only list's message to its remote member", metadata: [
                        "list": "\(name)", "member": "\(member)",
                    ])
                }
            case .local(let user):
                recipients.append(.init(address: address, route: .local, user: user, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .remote:
                recipients.append(.init(address: address, route: .remote, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .discard:
                recipients.append(.init(address: address, route: .discarded, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .unknownLocal, .relayDenied, .internetMailNotAllowed:
                continue
            }
        }
        let accepted = MessageAccepted(
            messageID: message.messageID, sessionID: session.id, service: session.service.rawValue,
            clientIP: session.clientIP, helo: session.helo ?? "", tls: session.tls, authUser: session.authenticatedUser?.name,
            reversePath: message.reversePath?.description ?? "", recipients: recipients,
            body: message.parameters.body?.rawValue, smtpUTF8: message.parameters.smtpUTF8, ret: message.parameters.ret?.rawValue,
            envelopeID: message.parameters.envelopeID, mailAuth: message.parameters.auth, size: Int64(message.size),
            blob: message.blob, returnPathLength: message.returnPathLength, subject: Self.subject(of: message.head),
            refused: message.refused, processingTime: max(0, clock().timeIntervalSince(message.bodyStarted)))
        let stream = try StreamName(category: MessageAccepted.category, id: message.messageID)
        let store = engine.store
        switch message.body {
        case .memory(let bytes):
            // Group-committed with other sessions' messages; returns once durable. The local
            // delivery agent moves local copies into mailboxes from the log.
            var appends = [StreamAppend(stream: stream, expectedVersion: .noStream,
                                        events: [try EventData(accepted, blobs: [BlobData(bytes)])])]
            if !notes.isEmpty { appends.append(try idsAppend(notes, session: session)) }
            try await store.append(appends)
        case .spooled(let path):
            // A large body goes in from its spool file piece by piece, in the transaction that
            // appends the event referring to it.
            defer { try? FileManager.default.removeItem(atPath: path) }
            var appends = [StreamAppend(stream: stream, expectedVersion: .noStream, events: [try EventData(accepted)])]
            if !notes.isEmpty { appends.append(try idsAppend(notes, session: session)) }
            try await store.append(appends, storingBlob: message.blob, size: Int64(message.size), fromFile: path)
        }
    }
}
