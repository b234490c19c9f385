import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle
import Synchronization

/// Error reports to the main administrator (VPOP3's "every error is mailed to the Main Admin",
/// with its suppression rules): a consumer of collectors' runs and relay senders' attempts.
/// A failure is noted (`component_error_noted`) and, unless a rule in `admin.error_suppression`
/// holds it back, reported to `admin.main_administrator`; a success after failures is
/// `component_recovered` and ends the run of errors. Each report says how many errors were
/// held back since the last one. The runs of errors are folded from the agent's own stream when
/// it starts, so they survive restarts.
public struct ErrorReporter: ConsumerAgent {
    public static let consumerName = "error-reports"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, directory: LiveDirectory, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let reporting = ErrorReporting(engine: engine, directory: directory, logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [CollectorRunEnded.category, MessageAccepted.category],
                               store: engine.store,
                               registry: EventTypeRegistry([CollectorRunEnded.self, DeliveryAttempted.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { batch, connection in
            try await reporting.handle(batch, on: connection)
        }
    }
}

final class ErrorReporting: Sendable {
    /// A component's current run of errors.
    struct Run: Sendable {
        var started: Date
        var reports = 0
        var lastReport: Date?
        var heldBack = 0
    }

    /// What one event says about a component.
    enum Finding {
        case failed(component: String, object: String, code: String, error: String)
        case worked(component: String, object: String)
    }

    let engine: ProjectionEngine
    let directory: LiveDirectory
    let logger: Logger
    /// By `component:object`; nil until folded from the stream.
    private let runs = Mutex<[String: Run]?>(nil)

    init(engine: ProjectionEngine, directory: LiveDirectory, logger: Logger) {
        self.engine = engine
        self.directory = directory
        self.logger = logger
    }

    /// The runs of errors as the agent's own facts leave them.
    func fold() async throws -> [String: Run] {
        if let folded = runs.withLock({ $0 }) { return folded }
        var folded: [String: Run] = [:]
        var version: Int64 = 0
        let registry = EventTypeRegistry([ComponentErrorNoted.self, ComponentRecovered.self], passingOver: EventCatalogue.all)
        while true {
            let events = try await engine.store.read(stream: ComponentErrorNoted.stream, from: version, limit: 1_000)
            guard !events.isEmpty else { break }
            for recorded in events {
                version = recorded.streamVersion + 1
                switch try registry.decode(recorded, logger: logger) {
                case let noted as ComponentErrorNoted:
                    var run = folded["\(noted.component):\(noted.object)"] ?? Run(started: noted.runStarted)
                    if noted.reported {
                        run.reports += 1
                        run.lastReport = recorded.recordedAt
                        run.heldBack = 0
                    } else {
                        run.heldBack += 1
                    }
                    folded["\(noted.component):\(noted.object)"] = run
                case let recovered as ComponentRecovered:
                    folded["\(recovered.component):\(recovered.object)"] = nil
                default:
                    break
                }
            }
        }
        runs.withLock { $0 = folded }
        return folded
    }

    func findings(_ event: any Event, settings: SettingsSnapshot) -> [Finding] {
        switch event {
        case let run as CollectorRunEnded:
            return [run.failed ? .failed(component: "collector", object: run.collector, code: "failed", error: run.result)
                : .worked(component: "collector", object: run.collector)]
        case let attempt as DeliveryAttempted:
            // Only relay senders: a smarthost that cannot be reached or refuses us is the
            // administrator's to fix; one remote domain's trouble is its sender's.
            guard settings.value(SettingKey<[MailSender]>.senders).contains(where: { $0.name == attempt.route && $0.method == .relay }),
                  !attempt.outcomes.isEmpty else { return [] }
            if attempt.outcomes.contains(where: { $0.reply.code < 400 }) { return [.worked(component: "sender", object: attempt.route)] }
            let senderTrouble = attempt.outcomes.first { !$0.reply.fromServer || [421, 454, 530, 534, 535, 538].contains($0.reply.code) }
            guard let trouble = senderTrouble else { return [] }
            return [.failed(component: "sender", object: attempt.route, code: "\(trouble.reply.code)",
                            error: "\(trouble.reply)\(attempt.mxHost.map { " (\($0))" } ?? "")")]
        default:
            return []
        }
    }

    func handle(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        guard batch.items.contains(where: { $0.event is CollectorRunEnded || $0.event is DeliveryAttempted }) else { return }
        var state = try await fold()
        let settings = try await Settings(engine: engine).snapshot(on: connection)
        let rules = settings.value(SettingKey<[String]>.errorSuppression).compactMap(ErrorSuppressionRule.init)
        var appends: [PendingAppend] = []
        for item in batch.items {
            for finding in findings(item.event, settings: settings) {
                let now = item.recorded.recordedAt
                switch finding {
                case .worked(let component, let object):
                    guard state.removeValue(forKey: "\(component):\(object)") != nil else { continue }
                    appends.append(PendingAppend(stream: ComponentErrorNoted.stream, expectedVersion: .any,
                                                 events: [PendingEvent(ComponentRecovered(component: component, object: object))]))
                case .failed(let component, let object, let code, let error):
                    let key = "\(component):\(object)"
                    var run = state[key] ?? Run(started: now)
                    let rule = rules.first { $0.matches(component: component, object: object, code: code) }
                    let report = rule?.reports(at: now, start: run.started, reports: run.reports, lastReport: run.lastReport) ?? true
                    var noticeID: String?
                    if report {
                        let (id, append) = try notice(component: component, object: object, error: error, run: run, at: now,
                                                      administrator: settings.value(SettingKey<String>.mainAdministrator))
                        noticeID = id
                        if let append { appends.append(append) }
                        run.reports += 1
                        run.lastReport = now
                        run.heldBack = 0
                    } else {
                        run.heldBack += 1
                    }
                    state[key] = run
                    appends.append(PendingAppend(stream: ComponentErrorNoted.stream, expectedVersion: .any, events: [PendingEvent(
                        ComponentErrorNoted(component: component, object: object, code: code, error: String(error.prefix(1_000)),
                                            runStarted: run.started, reported: report, noticeID: noticeID))]))
                }
            }
        }
        guard !appends.isEmpty else { return }
        let transaction = try await engine.transaction(joining: connection)
        try await transaction.append(appends)
        // Kept only once the batch's facts are in its transaction (a failed batch is read again).
        runs.withLock { $0 = state }
    }

    /// The report to the main administrator; no append when the setting names nobody mail can reach.
    func notice(component: String, object: String, error: String, run: Run, at now: Date,
                administrator: String) throws -> (String, PendingAppend?) {
        let snapshot = directory.snapshot
        var router = Router(snapshot: snapshot)
        router.defaultMappings = true
        let domain = snapshot.mailDomain ?? "localhost"
        let address = administrator.contains("@") ? administrator : "\(administrator)@\(domain)"
        let id = ReportMail.randomID()
        guard let recipient = Answering.recipient(address, router: router) else {
            logger.warning("admin.main_administrator goes nowhere; an error report is not sent", metadata: ["to": "\(address)"])
            return (id, nil)
        }
        let what = component == "collector" ? "The mail collector \(object)" : "The mail sender \(object)"
        var text = "\(what) failed:\n\n  \(DeliveryReport.oneLine(error))\n\n"
        text += run.reports == 0 && run.heldBack == 0 ? "This is its first error since it last worked.\n"
            : "It has been failing since \(CollectorRun.date(run.started)); \(run.heldBack) errors were held back since the last report.\n"
        text += "\nRules in admin.error_suppression decide how often such reports are sent.\n"
        let mail = NoticeMail(from: "<postmaster@\(domain)>", to: [address], subject: "Pillarbox error: \(what.lowercased().dropFirst(4))",
                              date: now, messageID: "\(id)@\(domain)", autoSubmitted: "auto-generated", text: text)
        return (id, try Answering.accepted(mail.bytes(), id: id, from: "", to: [recipient], helo: domain, subject: "error report",
                                           service: "error-report"))
    }
}
