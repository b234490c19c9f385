import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Projections
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

    public func resolve(_ path: SMTPPath, session: SMTPSessionContext, policy: SMTPPolicy) async -> SMTPRecipientDecision {
        let snapshot = directory.snapshot
        // RFC 5321 §4.5.1: <Postmaster> without a domain is always local.
        if path.domain.isEmpty {
            let administrator = settings.value(SettingKey<String>.mainAdministrator).lowercased()
            return snapshot.users[administrator] != nil ? .local(user: administrator) : .unknownLocal
        }
        if let local = Self.resolveLocal(path, in: snapshot, defaultMappings: !settings.value(SettingKey<Bool>.disableDefaultMappings)) {
            // VPOP3's rule: a list that is not public is no address at all for senders who
            // neither authenticated nor may relay (else its remote members make it a relay).
            if case .list(let name) = local, snapshot.lists[name]?.isPublic != true, session.authenticatedUser == nil,
               !policy.relayNetworks.allows(session.clientIP) {
                return .unknownLocal
            }
            // VPOP3's "treat locally sent mail for unknown local recipients as outgoing": a
            // domain hosted partly here and partly elsewhere, for senders who may relay.
            if local == .unknownLocal, settings.value(SettingKey<Bool>.unknownLocalAsOutgoing), mayRelay(session, policy: policy) {
                return .remote
            }
            return local
        }
        // Not a local domain: relaying.
        if let user = session.authenticatedUser {
            return user.maySendInternetMail ? .remote : .internetMailNotAllowed
        }
        return policy.relayNetworks.allows(session.clientIP) ? .remote : .relayDenied
    }

    /// Whether the session may send to other servers: an authenticated user who may send
    /// internet mail, or a client in `smtp.relay_networks`.
    func mayRelay(_ session: SMTPSessionContext, policy: SMTPPolicy) -> Bool {
        if let user = session.authenticatedUser { return user.maySendInternetMail }
        return policy.relayNetworks.allows(session.clientIP)
    }

    /// Nil when the domain is not local. Aliases first (exact address, then domain patterns,
    /// then the bare name), then VPOP3's implied `<user>@<each local domain>` mappings.
    static func resolveLocal(_ path: SMTPPath, in snapshot: DirectorySnapshot, defaultMappings: Bool) -> SMTPRecipientDecision? {
        let domain = path.domain
        guard !domain.hasPrefix("["), snapshot.domains.contains(where: { Directory.matches(pattern: $0, domain: domain) }) else {
            return nil
        }
        let local = path.localPart.lowercased()
        let address = "\(local)@\(domain)"
        var target = snapshot.aliases[address]
        if target == nil {
            target = snapshot.aliases.first { key, _ in
                guard let at = key.lastIndex(of: "@") else { return false }
                return key[..<at] == local && Directory.matches(pattern: String(key[key.index(after: at)...]), domain: domain)
            }?.value
        }
        if target == nil { target = snapshot.aliases[local] }
        if let target {
            switch target.kind {
            case .user: return snapshot.users[target.name.lowercased()] != nil ? .local(user: target.name.lowercased()) : .unknownLocal
            case .list: return snapshot.lists[target.name.lowercased()] != nil ? .list(target.name.lowercased()) : .unknownLocal
            case .remote: return .remote
            case .noOne: return .discard
            }
        }
        // A quoted local part that did not need its quotes (`"alice"`) is the same address
        // (RFC 5321 §4.1.2); one that did is no user name.
        guard defaultMappings, !path.quoted || !SMTPPath.needsQuoting(path.localPart) else { return .unknownLocal }
        if snapshot.users[local] != nil { return .local(user: local) }
        if snapshot.lists[local] != nil { return .list(local) }
        return .unknownLocal
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
        let anySender = settings.value(SettingKey<[String]>.smtpAllowAnySender)
        if anySender.contains(where: { $0 == "*" || $0.lowercased() == user.id }) { return true }
        guard let at = address.lastIndex(of: "@") else { return false }
        let path = SMTPPath(localPart: String(address[..<at]), domain: String(address[address.index(after: at)...]).lowercased())
        let snapshot = directory.snapshot
        switch Self.resolveLocal(path, in: snapshot, defaultMappings: !settings.value(SettingKey<Bool>.disableDefaultMappings)) {
        case .local(let owner): return owner == user.id
        // A list's members may send as the list.
        case .list(let name): return (snapshot.listMembers[name] ?? []).contains { $0.lowercased() == user.id }
        default: return false
        }
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

    /// A list's members as recipients: local users (also through their addresses and nested
    /// lists, each list once) get a local copy; remote members get the message with the list's
    /// address as its envelope sender, and only when the list is public or the sender may relay.
    func expand(list name: String, address: String, notify: [String], snapshot: DirectorySnapshot, remoteAllowed: Bool,
                originalRecipient: String?) -> [MessageAccepted.Recipient] {
        var recipients: [MessageAccepted.Recipient] = []
        var seenUsers = Set<String>()
        var seenLists: Set<String> = [name]
        var pending = [name]
        let defaultMappings = !settings.value(SettingKey<Bool>.disableDefaultMappings)
        while let current = pending.popLast() {
            for member in snapshot.listMembers[current] ?? [] {
                var decision: SMTPRecipientDecision = .unknownLocal
                if !member.contains("@") {
                    if snapshot.users[member.lowercased()] != nil { decision = .local(user: member.lowercased()) }
                } else if let at = member.lastIndex(of: "@") {
                    let path = SMTPPath(localPart: String(member[..<at]), domain: String(member[member.index(after: at)...]).lowercased())
                    decision = Self.resolveLocal(path, in: snapshot, defaultMappings: defaultMappings) ?? .remote
                }
                switch decision {
                case .local(let user) where seenUsers.insert(user).inserted:
                    recipients.append(.init(address: address, route: .local, user: user, notify: notify,
                                            originalRecipient: originalRecipient))
                case .list(let nested) where seenLists.insert(nested).inserted:
                    pending.append(nested)
                case .remote where remoteAllowed:
                    recipients.append(.init(address: member, route: .remote, notify: notify, originalRecipient: "rfc822;" + address,
                                            envelopeSender: address))
                case .remote:
                    logger.info("not sending a members-only list's message to its remote member", metadata: [
                        "list": "\(name)", "member": "\(member)",
                    ])
                default:
                    break
                }
            }
        }
        return recipients
    }

    public func accept(_ message: SMTPMessage, notes: [SMTPIDSNote], session: SMTPSessionContext) async throws {
        let snapshot = directory.snapshot
        var recipients: [MessageAccepted.Recipient] = []
        for recipient in message.recipients {
            let notify = recipient.parameters.notify.map(\.rawValue)
            let address = recipient.path.description
            switch recipient.decision {
            case .list(let name):
                recipients += expand(list: name, address: address, notify: notify, snapshot: snapshot,
                                     remoteAllowed: snapshot.lists[name]?.isPublic == true || mayRelay(session, policy: policy()),
                                     originalRecipient: recipient.parameters.originalRecipient)
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
