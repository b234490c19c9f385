import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle

/// Message monitoring (VPOP3's Settings → Message Monitoring): a consumer of
/// `message_accepted` that copies incoming, outgoing and internal mail — all of it, or that of
/// the users in `monitoring.users` — to `monitoring.target`, and a random share of it to
/// `monitoring.random_target`. A copy is a new message from `<>` (nothing bounces back to the
/// sender) without the original's receipt requests; the copy, its `message_monitored` record
/// and the consumer's checkpoint commit together, so each message is considered once.
public struct MonitoringAgent: ConsumerAgent {
    public static let consumerName = "monitoring"
    /// The service name of the copies, which are never monitored themselves.
    static let service = "monitor"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, directory: LiveDirectory, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let monitoring = Monitoring(engine: engine, directory: directory, logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [MessageAccepted.category], store: engine.store,
                               registry: EventTypeRegistry([MessageAccepted.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { batch, connection in
            try await monitoring.handle(batch, on: connection)
        }
    }
}

/// The monitoring rules as the settings stand, and what the agent does with a batch.
struct Monitoring: Sendable {
    let engine: ProjectionEngine
    let directory: LiveDirectory
    let logger: Logger

    /// What the settings ask for, read once per batch.
    struct Rules: Sendable {
        var modes: [MonitoredKind: MonitoringMode] = [:]
        var users: Set<String> = []
        var minimumSize: Int64 = 0
        var target = ""
        var randomPercent = 0
        var randomTarget = ""

        var isOff: Bool { target.isEmpty || modes.values.allSatisfy { $0 == .none } }
    }

    static func rules(_ settings: SettingsSnapshot) -> Rules {
        var rules = Rules()
        rules.modes[.incoming] = MonitoringMode(rawValue: settings.value(SettingKey<String>.monitoringIncoming)) ?? MonitoringMode.none
        rules.modes[.outgoing] = MonitoringMode(rawValue: settings.value(SettingKey<String>.monitoringOutgoing)) ?? MonitoringMode.none
        rules.modes[.internal] = MonitoringMode(rawValue: settings.value(SettingKey<String>.monitoringInternal)) ?? MonitoringMode.none
        rules.users = Set(settings.value(SettingKey<[String]>.monitoringUsers).map { $0.lowercased() })
        rules.minimumSize = Int64(settings.value(SettingKey<Int>.monitoringMinimumKiB)) * 1_024
        rules.target = settings.value(SettingKey<String>.monitoringTarget)
        rules.randomPercent = settings.value(SettingKey<Int>.monitoringRandomPercent)
        rules.randomTarget = settings.value(SettingKey<String>.monitoringRandomTarget)
        return rules
    }

    func handle(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        guard batch.items.contains(where: { $0.event is MessageAccepted }) else { return }
        // The settings table, not the live copy: a message accepted right after a change is
        // handled with it.
        let settings = try await Settings(engine: engine).snapshot(on: connection)
        let rules = Self.rules(settings)
        guard !rules.isOff else { return }
        var router = Router(snapshot: directory.snapshot)
        router.defaultMappings = !settings.value(SettingKey<Bool>.disableDefaultMappings)
        var transaction: ProjectionTransaction?
        for item in batch.items {
            guard let accepted = item.event as? MessageAccepted, accepted.service != MonitoringAgent.service,
                  accepted.service != "list", accepted.size >= rules.minimumSize else { continue }
            // Recipients first: mail with no local user or list and no remote address is nobody's.
            let locals = accepted.recipients.compactMap { recipient -> String? in
                switch recipient.route {
                case .local: recipient.user
                case .list: recipient.list
                default: nil
                }
            }
            let remote = accepted.recipients.contains { $0.route == .remote || $0.route == .lan }
            guard !locals.isEmpty || remote else { continue }
            guard let stored = try await engine.store.blobs([accepted.blob], on: connection)[accepted.blob] else {
                logger.error("a monitored message's body is missing", metadata: ["message": "\(accepted.messageID)"])
                continue
            }
            let header = MessageHeader.parse(stored)
            let sender = Self.sender(of: accepted, header: header, router: router)
            let (kinds, users) = Self.classify(sender: sender, locals: locals, remote: remote, rules: rules)
            guard !kinds.isEmpty else { continue }
            if transaction == nil { transaction = try await engine.transaction(joining: connection) }
            try await copy(stored, of: accepted, kinds: kinds, users: users, rules: rules, router: router, transaction: transaction!)
        }
    }

    /// The local user who sent the message: the SMTP AUTH login, else a local user's address
    /// in `From:`.
    static func sender(of accepted: MessageAccepted, header: MessageHeader, router: Router) -> String? {
        if let user = accepted.authUser, !user.isEmpty { return user.lowercased() }
        return header.first("From").flatMap(ListPost.address(in:)).flatMap(router.localUser)
    }

    /// The kinds the message is, among those the rules monitor, and the users it is attributed
    /// to. `locals` are its local recipients (users and lists).
    static func classify(sender: String?, locals: [String], remote: Bool, rules: Rules) -> ([MonitoredKind], [String]) {
        var kinds: [MonitoredKind] = []
        var users = Set<String>()
        func wanted(_ kind: MonitoredKind, _ who: [String]) -> Bool {
            switch rules.modes[kind] ?? MonitoringMode.none {
            case .none: return false
            case .all: return true
            case .selected: return who.contains { rules.users.contains($0) }
            }
        }
        if let sender {
            if remote, wanted(.outgoing, [sender]) {
                kinds.append(.outgoing)
                users.insert(sender)
            }
            if !locals.isEmpty, wanted(.internal, [sender] + locals) {
                kinds.append(.internal)
                users.formUnion([sender] + locals)
            }
        } else if !locals.isEmpty, wanted(.incoming, locals) {
            kinds.append(.incoming)
            users.formUnion(locals)
        }
        return (kinds, users.sorted())
    }

    /// A recipient of copies: a user or list name, or an address.
    static func recipient(_ target: String, router: Router, domain: String) -> MessageAccepted.Recipient? {
        let address = target.contains("@") ? target : "\(target)@\(domain)"
        let at = address.lastIndex(of: "@")!
        let localPart = String(address[..<at])
        switch router.route(localPart: localPart, domain: String(address[address.index(after: at)...]),
                            from: RouteSender(user: nil, inRelayNetworks: true)) {
        case .local(let user): return .init(address: address, route: .local, user: user)
        case .list(let name): return .init(address: address, route: .list, list: name)
        case .remote: return .init(address: address, route: .remote, notify: ["NEVER"])
        case .lan(let target, let to): return .init(address: to, route: .lan, notify: ["NEVER"], lan: target)
        default: return nil
        }
    }

    func copy(_ stored: [UInt8], of accepted: MessageAccepted, kinds: [MonitoredKind], users: [String], rules: Rules,
              router: Router, transaction: ProjectionTransaction) async throws {
        let snapshot = router.snapshot
        let domain = snapshot.mailDomain ?? "localhost"
        var recipients: [MessageAccepted.Recipient] = []
        if let target = Self.recipient(rules.target, router: router, domain: domain) {
            recipients.append(target)
        } else {
            logger.warning("monitoring.target goes nowhere; nothing is monitored", metadata: ["target": "\(rules.target)"])
            return
        }
        let sampled = rules.randomPercent > 0 && !rules.randomTarget.isEmpty && Int.random(in: 0..<100) < rules.randomPercent
        if sampled, let sample = Self.recipient(rules.randomTarget, router: router, domain: domain),
           !recipients.contains(where: { $0.address.lowercased() == sample.address.lowercased() }) {
            recipients.append(sample)
        }
        let note = kinds.map(\.rawValue).joined(separator: ", ") + (users.isEmpty ? "" : "; " + users.joined(separator: ", "))
        let copy = HeaderEditing.edit(ListPost.withoutReturnPath(stored), removed: HeaderEditing.receiptRequests,
                                      added: [("X-Pillarbox-Monitored", "\(note); message \(accepted.messageID)")])
        let copyID = ReportMail.randomID()
        let append = try Answering.accepted(copy, id: copyID, from: "", to: recipients, helo: domain,
                                            subject: accepted.subject?.value ?? "", service: MonitoringAgent.service)
        try await transaction.append([append, PendingAppend(
            stream: try MessageMonitored.stream(messageID: accepted.messageID), expectedVersion: .noStream,
            events: [PendingEvent(MessageMonitored(messageID: accepted.messageID, kinds: kinds, users: users, copyID: copyID,
                                                   recipients: recipients.map(\.address), sampled: sampled))])])
        logger.info("message monitored", metadata: ["message": "\(accepted.messageID)", "kinds": "\(note)", "copy": "\(copyID)"])
    }
}
