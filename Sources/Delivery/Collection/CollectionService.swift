import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections
import ServiceLifecycle

/// The mail collectors in `serve`: each collector runs when an administrator asks
/// (`collection_requested`), when a connection it is linked to starts (any connection's
/// start when it names none), and every `poll_minutes`. One run per collector at a time across
/// every process on the database (a PostgreSQL advisory lock held on one connection for the
/// run); each run's record is `collector_run_ended`. The one writer of the collection facts.
public final class CollectionService: Service, Sendable {
    let engine: ProjectionEngine
    let settings: LiveSettings
    let directory: LiveDirectory
    let hostname: String
    let vault: SecretVault?
    let logger: Logger
    /// How long the service sleeps at most between looks at the poll times.
    let tick: Duration
    static let registry = EventTypeRegistry([CollectionRequested.self] + ConnectionFacts.types, passingOver: EventCatalogue.all)

    public init(engine: ProjectionEngine, settings: LiveSettings, directory: LiveDirectory, hostname: String, vault: SecretVault?,
                tick: Duration = .seconds(20), logger: Logger) {
        self.engine = engine
        self.settings = settings
        self.directory = directory
        self.hostname = hostname
        self.vault = vault
        self.tick = tick
        var logger = logger
        logger[metadataKey: "service"] = "collection"
        self.logger = logger
    }

    var store: EventStore { engine.store }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            do {
                try await self.loop()
            } catch is CancellationError {
            } catch {
                self.logger.error("the collectors stopped", metadata: ["error": "\(error)"])
            }
        }
    }

    private func loop() async throws {
        // Requests and connection starts from now on; those before this process started were
        // answered by the process that was running then.
        var requestsSeen = try await store.version(of: CollectionRequested.stream) ?? -1
        var connectionsSeen = try await store.version(of: ConnectionFacts.stream) ?? -1
        while !Task.isCancelled {
            let generation = store.appendGeneration(for: [CollectionRequested.category, ConnectionFacts.category])
            var due: [String: String] = [:]
            do {
                // From the settings table, not the live copy that follows the log a moment
                // behind: a collector changed just before `collect now` runs as changed.
                let collectors = try await Settings(engine: engine).value(SettingKey.collectors).filter(\.enabled)
                for recorded in try await store.read(stream: CollectionRequested.stream, from: requestsSeen + 1) {
                    requestsSeen = max(requestsSeen, recorded.streamVersion)
                    guard let request = try Self.registry.decode(recorded, logger: logger) as? CollectionRequested else { continue }
                    for collector in collectors where request.collector == nil || request.collector?.lowercased() == collector.name.lowercased() {
                        due[collector.name] = "requested by \(request.actor)"
                    }
                }
                for recorded in try await store.read(stream: ConnectionFacts.stream, from: connectionsSeen + 1) {
                    connectionsSeen = max(connectionsSeen, recorded.streamVersion)
                    guard let started = try Self.registry.decode(recorded, logger: logger) as? ConnectionStarted else { continue }
                    for collector in collectors where collector.connections.isEmpty
                        || collector.connections.contains(where: { $0.lowercased() == started.connection.lowercased() }) {
                        due[collector.name] = due[collector.name] ?? "connection \(started.connection)"
                    }
                }
                let last = try await lastStarts()
                for collector in collectors where collector.pollMinutes > 0 && due[collector.name] == nil {
                    let previous = last[collector.name.lowercased()]
                    if previous.map({ Date().timeIntervalSince($0) >= Double(collector.pollMinutes) * 60 }) ?? true {
                        due[collector.name] = "every \(collector.pollMinutes) minutes"
                    }
                }
                for collector in collectors {
                    guard let trigger = due[collector.name] else { continue }
                    try await runLocked(collector, trigger: trigger)
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.warning("looking for collections to run failed", metadata: ["error": "\(error)"])
            }
            await store.waitForAppend(after: generation, categories: [CollectionRequested.category, ConnectionFacts.category],
                                      timeout: tick)
        }
    }

    /// When each collector's last run started.
    private func lastStarts() async throws -> [String: Date] {
        var starts: [String: Date] = [:]
        let rows = try await engine.store.client.query("SELECT collector, laststart FROM collection.runs", logger: logger)
        for try await (collector, start) in rows.decode((String, Date).self) { starts[collector] = start }
        return starts
    }

    /// Runs `collector` unless another process is running it now.
    func runLocked(_ collector: MailCollector, trigger: String) async throws {
        try await engine.store.client.withConnection { connection in
            let key = "pillarbox collector " + collector.name.lowercased()
            let rows = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(key), 0))", logger: logger)
            var locked = false
            for try await value in rows.decode(Bool.self) { locked = value }
            guard locked else {
                logger.info("another process is running this collector", metadata: ["collector": "\(collector.name)"])
                return
            }
            let (ended, session) = await run(collector, trigger: trigger)
            var failure: (any Error)?
            do {
                let stream = try MessageCollected.stream(collector: collector.name)
                var appends = [PendingAppend(stream: stream, expectedVersion: .any, events: [PendingEvent(ended)])]
                if let session {
                    appends.append(PendingAppend(stream: try StreamName(category: SessionEnded.category, id: session.sessionID),
                                                 expectedVersion: .noStream, events: [PendingEvent(session)]))
                }
                try await engine.transaction { transaction in try await transaction.append(appends) }
            } catch {
                failure = error
            }
            // The lock is the connection's: given back before the connection goes back to the pool.
            _ = try await connection.query("SELECT pg_advisory_unlock(hashtextextended(\(key), 0))", logger: logger)
            if let failure { throw failure }
        }
    }

    /// One run: the password opened from the vault, then the collection.
    func run(_ collector: MailCollector, trigger: String) async -> (CollectorRunEnded, SessionEnded?) {
        let started = Date()
        var password = ""
        if let secret = collector.passwordSecret {
            guard let vault else {
                return (CollectorRunEnded(collector: collector.name, started: started, trigger: trigger,
                                          result: "the password cannot be opened: no key directory", collected: 0, deleted: 0, failed: true), nil)
            }
            do {
                guard let bytes = try await vault.open(secret, purpose: MailCollector.passwordPurpose,
                                                       subject: MailCollector.passwordSubject(collector.name), client: engine.store.client) else {
                    throw CollectionFailure("the sealed password is missing")
                }
                password = String(decoding: bytes, as: UTF8.self)
            } catch {
                return (CollectorRunEnded(collector: collector.name, started: started, trigger: trigger,
                                          result: "the password cannot be opened: \(error)", collected: 0, deleted: 0, failed: true), nil)
            }
        }
        let policy = CollectorRun.Policy(hostname: hostname, maxMessageSize: settings.value(SettingKey<Int>.maxMessageSize),
                                         maxHops: settings.value(SettingKey<Int>.smtpMaxHops),
                                         mainAdministrator: settings.value(SettingKey<String>.mainAdministrator),
                                         defaultMappings: !settings.value(SettingKey<Bool>.disableDefaultMappings),
                                         trustedCertificates: nil)
        let run = CollectorRun(collector: collector, password: password, engine: engine, snapshot: directory.snapshot, policy: policy,
                               logger: logger, now: { Date() }, sessionID: Self.newSessionID())
        let (ended, session) = await run.run(trigger: trigger)
        logger.info("collection ended", metadata: ["collector": "\(collector.name)", "trigger": "\(trigger)", "result": "\(ended.result)"])
        return (ended, session)
    }

    /// Twelve hex digits, as the gateways' session ids.
    static func newSessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: (0..<12).map { _ in digits[Int(generator.next() % 16)] }, as: UTF8.self)
    }
}
