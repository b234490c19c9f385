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
        var watchers: [String: (collector: MailCollector, task: Task<Void, Never>)] = [:]
        defer { for watcher in watchers.values { watcher.task.cancel() } }
        while !Task.isCancelled {
            let generation = store.appendGeneration(for: [CollectionRequested.category, ConnectionFacts.category])
            var due: [String: String] = [:]
            do {
                // From the settings table, not the live copy that follows the log a moment
                // behind: a collector changed just before `collect now` runs as changed.
                let collectors = try await Settings(engine: engine).value(SettingKey.collectors).filter(\.enabled)
                let connections = try await Settings(engine: engine).value(SettingKey.connections)
                // An IDLE session per IMAP collector that asks for one and whose connections are
                // always online; one whose collector changed is started again.
                let idling = collectors.filter { collector in
                    collector.idle && collector.mailboxProtocol == .imap && collector.connections.allSatisfy { name in
                        connections.first { $0.name.lowercased() == name.lowercased() }?.method ?? .network == .network
                    }
                }
                for (name, watcher) in watchers where !idling.contains(watcher.collector) {
                    watcher.task.cancel()
                    watchers[name] = nil
                }
                for collector in idling where watchers[collector.name] == nil {
                    watchers[collector.name] = (collector, Task { await self.watch(collector) })
                }
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

    /// Waits in IDLE on the collector's folder and asks for a run when new mail comes; on
    /// trouble, tries again after a pause growing from 5 s to 5 minutes. Ends when cancelled.
    func watch(_ collector: MailCollector) async {
        var failures = 0
        while !Task.isCancelled {
            var imap: IMAPExchange?
            do {
                guard let endpoint = collector.endpoint else { return }
                let password = try await password(for: collector)
                let connection = try await RemoteConnection.connect(host: endpoint.host, port: endpoint.port, timeout: .seconds(60))
                let session = IMAPExchange(connection: connection, timeout: .seconds(60))
                imap = session
                try await CollectorRun.open(session, collector: collector, password: password, endpoint: endpoint, trust: nil)
                if !session.capabilities.contains("IDLE") { try await session.expectOK("CAPABILITY") }
                guard session.capabilities.contains("IDLE") else {
                    logger.warning("the server does not offer IDLE; the collector runs on its schedule", metadata: ["collector": "\(collector.name)"])
                    await session.close()
                    return
                }
                if failures > 0 { logger.notice("waiting for new mail again", metadata: ["collector": "\(collector.name)"]) }
                failures = 0
                logger.info("waiting for new mail in IDLE", metadata: ["collector": "\(collector.name)", "folder": "\(collector.folder)"])
                while !Task.isCancelled {
                    // RFC 2177: IDLE is renewed well within the servers' 30-minute limit.
                    if try await session.idle(period: .seconds(25 * 60)) {
                        try await engine.transaction { transaction in
                            try await transaction.append([PendingAppend(stream: try CollectionRequested.stream, expectedVersion: .any,
                                                                        events: [PendingEvent(CollectionRequested(collector: collector.name,
                                                                                                                  actor: "idle: new mail"))])])
                        }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                failures += 1
                let level: Logger.Level = failures == 1 ? .warning : .debug
                logger.log(level: level, "waiting for new mail failed; trying again", metadata: ["collector": "\(collector.name)", "error": "\(error)"])
            }
            await imap?.close()
            guard failures > 0 else { continue }
            try? await Task.sleep(for: .seconds(min(5 * (1 << min(failures - 1, 6)), 300)))
        }
    }

    /// The collector's password, opened from the vault ("" when it has none).
    func password(for collector: MailCollector) async throws -> String {
        guard let secret = collector.passwordSecret else { return "" }
        guard let vault else { throw CollectionFailure("the password cannot be opened: no key directory") }
        guard let bytes = try await vault.open(secret, purpose: MailCollector.passwordPurpose,
                                               subject: MailCollector.passwordSubject(collector.name), client: engine.store.client) else {
            throw CollectionFailure("the sealed password is missing")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One run: the password opened from the vault, then the collection.
    func run(_ collector: MailCollector, trigger: String) async -> (CollectorRunEnded, SessionEnded?) {
        let started = Date()
        let password: String
        do {
            password = try await self.password(for: collector)
        } catch {
            return (CollectorRunEnded(collector: collector.name, started: started, trigger: trigger,
                                      result: "\(error)".hasPrefix("the password") ? "\(error)" : "the password cannot be opened: \(error)",
                                      collected: 0, deleted: 0, failed: true), nil)
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
