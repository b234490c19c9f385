import Admin
import ArgumentParser
import Commands
import Delivery
import EventLog
import Facts
import Foundation
import Gateways
import Logging
import Metrics
import NIOSSL
import Projections
import Prometheus
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server until SIGTERM or SIGINT.",
        discussion: """
            Without a database URL, runs its own PostgreSQL under DATA-DIR/pg (created on first start, \
            reached through a Unix socket in DATA-DIR/run, stopped again on shutdown).
            """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var server: ServerOptions
    @Option(name: .customLong("pid-file"), help: "Write the server's process id to this file while it runs.")
    var pidFile: String?

    func run() async throws {
        let (configuration, logger) = try global.load(extra: server.flags, defaultLevel: nil)

        var lock: DataDirectoryLock?
        if configuration.databaseURL == nil {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        }
        if let pidFile {
            try Data("\(ProcessInfo.processInfo.processIdentifier)\n".utf8).write(to: URL(fileURLWithPath: pidFile), options: .atomic)
        }
        defer { if let pidFile { try? FileManager.default.removeItem(atPath: pidFile) } }
        let database = try await Database.open(configuration, logger: logger)
        logger.info("using database \(database.endpoint.redactedURL)")

        var failure: (any Error)?
        do {
            try await serve(configuration, database: database, logger: logger)
        } catch {
            failure = error
        }
        if let embedded = database.embedded {
            do { try await embedded.stop() } catch {
                logger.error("stopping embedded PostgreSQL failed", metadata: ["error": "\(error)"])
            }
        }
        withExtendedLifetime(lock) {}
        if let failure { throw failure }
    }

    /// The process's metrics: swift-metrics' counters and meters kept for `/metrics`, set up
    /// once, before anything counts.
    static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    private func serve(_ configuration: BootstrapConfiguration, database: Database, logger: Logger) async throws {
        _ = Self.metrics
        try await database.prepare(logger: logger, warn: true)
        let signingKey = try configuration.keys.ledgerSigningKey()
        // Named per process, so `/metrics` counts this process's pool in pg_stat_activity.
        let client = database.makeClient(configuration, applicationName: "pillarbox serve \(ProcessInfo.processInfo.processIdentifier)",
                                         logger: logger)
        try await client.whileRunning {

            let store = EventStore(client: client, configuration: configuration.eventLog, keys: configuration.keys, logger: logger)
            // Live tables missing or defined differently are rebuilt from the log before serving.
            let engine = ProjectionEngine(store: store, projections: PillarboxProjections.all, logger: logger)
            try await engine.prepare()
            let runners = engine.projections.filter { $0.mode == .async }.map {
                ServiceGroupConfiguration.ServiceConfiguration(service: ProjectionRunner(engine: engine, projection: $0))
            }
            let settings = LiveSettings(store: store, logger: logger)
            try await settings.load(from: Settings(engine: engine))
            let directory = LiveDirectory(engine: engine, logger: logger)
            try await directory.load()
            Self.noteUnusedFeatures(configuration, directory: directory.snapshot, logger: logger)
            // VPOP3's CONNECT.PAUSE: the connector schedule starts paused (resumed by an administrator).
            if FileManager.default.fileExists(atPath: configuration.dataDirectory + "/CONNECT.PAUSE") {
                try await SettingWriter(engine: engine).set(SettingKey<Bool>.connectionsPaused.name, to: "true", actor: "file CONNECT.PAUSE")
                logger.notice("CONNECT.PAUSE is in the data directory: the connector schedule is paused until resumed")
            }
            let prevention = IntrusionPrevention()
            let blockList = BlockListFollower(engine: engine, prevention: prevention, logger: logger)
            try await blockList.load()
            let idsLog = IDSLogWriter(store: store, settings: settings, dataDirectory: configuration.dataDirectory, logger: logger)
            let logins = LoginProtection(engine: engine, settings: settings, prevention: prevention, logger: logger)
            let secrets = UserSecrets(vault: SecretVault(keys: configuration.keys, logger: logger), engine: engine)
            let authenticator = Authenticator(directory: directory, settings: settings, secrets: secrets, logger: logger)
            let tls = try makeTLS(configuration, logger: logger)
            let liveSessions = LiveSessions()
            // Spool files left by a crash belong to messages that were never acknowledged.
            try? FileManager.default.removeItem(atPath: configuration.dataDirectory + "/spool")
            let smtp = try await makeSMTPServer(configuration, engine: engine, settings: settings, directory: directory,
                                                prevention: prevention, logins: logins, authenticator: authenticator, tls: tls,
                                                sessions: liveSessions, logger: logger)
            let imap = makeIMAPServer(configuration, engine: engine, settings: settings, directory: directory, logins: logins,
                                      authenticator: authenticator, tls: tls, sessions: liveSessions, logger: logger)
            let pop3 = makePOP3Server(configuration, engine: engine, settings: settings, directory: directory, logins: logins,
                                      authenticator: authenticator, tls: tls, sessions: liveSessions, logger: logger)
            // Signs the mailing lists' one-click unsubscribe links, which the admin listener checks.
            let listUnsubscribeKey = try? configuration.keys.derivedKey("pillarbox list unsubscribe")
            let admin = try makeAdminServer(configuration, environment: AdminEnvironment(
                engine: engine, settings: settings, directory: directory, authenticator: authenticator, logins: logins,
                metrics: Self.metrics, vault: SecretVault(keys: configuration.keys, logger: logger),
                ledgerKey: Array(signingKey.publicKey.rawRepresentation), liveSessions: liveSessions,
                listUnsubscribeKey: listUnsubscribeKey, logger: logger), logger: logger)
            let sealer = LedgerSealer(store: store, signing: .init(key: signingKey, interval: .seconds(configuration.ledgerSignIntervalSeconds)),
                                      logger: logger)
            let lifecycle = ServerLifecycle(store: store, configuration: configuration,
                                            embeddedDatabase: database.embedded != nil, logger: logger)
            // Services stop in reverse order: the lifecycle first, the store last; the database
            // client outlives them all.
            let services = ServiceGroup(configuration: .init(
                services: [.init(service: store), .init(service: sealer), .init(service: settings), .init(service: directory),
                           .init(service: blockList)]
                    + runners + [.init(service: idsLog)] + [.init(service: LocalDelivery(engine: engine, logger: logger))]
                    + [.init(service: DeliveryScheduler(engine: engine, settings: settings, directory: directory,
                                                        hostname: configuration.hostname.value,
                                                        vault: SecretVault(keys: configuration.keys, logger: logger),
                                                        dataDirectory: configuration.dataDirectory, logger: logger))]
                    + [.init(service: CollectionService(engine: engine, settings: settings, directory: directory,
                                                        hostname: configuration.hostname.value,
                                                        vault: SecretVault(keys: configuration.keys, logger: logger), logger: logger))]
                    + [.init(service: CollectionReplies(engine: engine, logger: logger))]
                    + [.init(service: AutoresponderAgent(engine: engine, directory: directory, logger: logger))]
                    + [.init(service: MonitoringAgent(engine: engine, directory: directory, logger: logger))]
                    + [.init(service: ReceiptAgent(engine: engine, directory: directory, logger: logger))]
                    + [.init(service: ErrorReporter(engine: engine, directory: directory, logger: logger))]
                    + [.init(service: MailCommandAgent(
                        engine: engine, vault: SecretVault(keys: configuration.keys, logger: logger),
                        logins: LoginChecks(isBlocked: { logins.isBlocked($0) }, failed: { user, reason, session, client in
                            await logins.failed(user: user, reason: reason, service: "mailcommands", sessionID: session, clientIP: client)
                        }), logger: logger))]
                    + [.init(service: ListAgent(engine: engine, directory: directory,
                                                unsubscribeKey: listUnsubscribeKey,
                                                logger: logger))]
                    + [.init(service: ReportService(engine: engine, settings: settings, directory: directory,
                                                         hostname: configuration.hostname.value, logger: logger))]
                    + [.init(service: RetentionService(engine: engine, settings: settings, logger: logger) {
                        do {
                            try await EraseCommand.rebuildSealedFieldProjections(engine)
                        } catch {
                            logger.error("rebuilding after retention failed", metadata: ["error": "\(String(reflecting: error))"])
                        }
                        await EraseCommand.retireErased(configuration, logger: logger)
                    })] + (smtp.map { [.init(service: $0)] } ?? []) + (pop3.map { [.init(service: $0)] } ?? [])
                    + (imap.map { [.init(service: $0)] } ?? []) + (admin.map { [.init(service: $0)] } ?? [])
                    + [.init(service: lifecycle)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
            // A graceful shutdown that does not finish (a session or follower waiting on a
            // database that does not answer) must not keep the process up for ever: after 30 s
            // it is cut short. Nothing is lost by that; nothing unacknowledged was promised.
            let watchdog = Task {
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    do { try await Task.sleep(for: .seconds(Self.shutdownLimitSeconds)) } catch { return }
                    logger.critical("graceful shutdown did not finish within \(Self.shutdownLimitSeconds) seconds; exiting now")
                    Foundation.exit(3)
                }
            }
            defer { watchdog.cancel() }
            try await services.run()
        }
    }

    /// How long a graceful shutdown may take before the process exits anyway.
    static let shutdownLimitSeconds = 30

    /// Says at start which configured things this version does not act on yet, so an
    /// administrator is never left believing a setting works when it does not.
    static func noteUnusedFeatures(_ configuration: BootstrapConfiguration, directory: DirectorySnapshot, logger: Logger) {
        let users = directory.users.values
        let replyTo = users.filter { !$0.replyTo.isEmpty }.map(\.name).sorted()
        if !replyTo.isEmpty {
            logger.notice("users' reply-to addresses are stored but not applied to outgoing mail yet",
                          metadata: ["users": "\(replyTo.joined(separator: ","))"])
        }
    }

    /// TLS from the configured files, or a self-signed certificate made on first start; nil when
    /// no listener needs it.
    private func makeTLS(_ configuration: BootstrapConfiguration, logger: Logger) throws -> NIOSSLContext? {
        let kinds: [ListenerConfiguration.Kind] = [.smtp, .submission, .smtps, .pop3, .pop3s, .imap, .imaps]
        guard kinds.contains(where: { configuration.listeners[$0] != nil }) else { return nil }
        let files = try TLSSetup.files(certificate: configuration.tls.certificate, key: configuration.tls.key,
                                       dataDirectory: configuration.dataDirectory, hostname: configuration.hostname.value,
                                       logger: logger)
        return try TLSSetup.context(files)
    }

    /// The web admin on `listeners.admin`, nil when it is not set: HTTPS with the server's
    /// certificate, or plain HTTP on a loopback address.
    private func makeAdminServer(_ configuration: BootstrapConfiguration, environment: AdminEnvironment,
                                 logger: Logger) throws -> AdminServer? {
        guard let listener = configuration.listeners[.admin] else { return nil }
        var tls: TLSConfiguration?
        if configuration.tls.adminOnLoopback || !AdminServer.isLoopback(listener.host) {
            let files = try TLSSetup.files(certificate: configuration.tls.certificate, key: configuration.tls.key,
                                           dataDirectory: configuration.dataDirectory, hostname: configuration.hostname.value,
                                           logger: logger)
            tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.key, format: .pem)))
        }
        return try AdminServer(environment: environment, host: listener.host, port: listener.port, tls: tls)
    }

    /// The SMTP listeners that are configured; nil when no SMTP listener is enabled.
    private func makeSMTPServer(_ configuration: BootstrapConfiguration, engine: ProjectionEngine, settings: LiveSettings,
                                directory: LiveDirectory, prevention: IntrusionPrevention, logins: LoginProtection,
                                authenticator: Authenticator, tls: NIOSSLContext?, sessions: LiveSessions,
                                logger: Logger) async throws -> SMTPServer? {
        let kinds: [(ListenerConfiguration.Kind, SMTPSessionContext.Service)] = [(.smtp, .smtp), (.submission, .submission),
                                                                                 (.smtps, .smtps)]
        let listeners = kinds.compactMap { kind, service in
            configuration.listeners[kind].map { SMTPServer.Listener(service: service, host: $0.host, port: $0.port) }
        }
        guard !listeners.isEmpty else { return nil }
        let intake = SMTPIntake(hostname: configuration.hostname.value, spoolDirectory: configuration.dataDirectory + "/spool", engine: engine,
                                settings: settings, directory: directory, prevention: prevention, logins: logins,
                                authenticator: authenticator, senderRewritingKey: try? configuration.keys.derivedKey("pillarbox srs"),
                                logger: logger)
        return SMTPServer(listeners: listeners, intake: intake, settings: settings, tls: tls, sessions: sessions, logger: logger)
    }

    /// The POP3 listeners that are configured; nil when none is.
    private func makePOP3Server(_ configuration: BootstrapConfiguration, engine: ProjectionEngine, settings: LiveSettings,
                                directory: LiveDirectory, logins: LoginProtection, authenticator: Authenticator,
                                tls: NIOSSLContext?, sessions: LiveSessions, logger: Logger) -> POP3Server? {
        let endpoints = Self.endpoints(configuration, [(.pop3, false), (.pop3s, true)])
        guard !endpoints.isEmpty else { return nil }
        let backend = POP3Maildrops(hostname: configuration.hostname.value, engine: engine, settings: settings,
                                    directory: directory, logins: logins, authenticator: authenticator, logger: logger)
        return POP3Server(endpoints: endpoints, backend: backend, tls: tls, sessions: sessions, logger: logger)
    }

    /// The IMAP listeners that are configured; nil when none is.
    private func makeIMAPServer(_ configuration: BootstrapConfiguration, engine: ProjectionEngine, settings: LiveSettings,
                                directory: LiveDirectory, logins: LoginProtection, authenticator: Authenticator,
                                tls: NIOSSLContext?, sessions: LiveSessions, logger: Logger) -> IMAPServer? {
        let endpoints = Self.endpoints(configuration, [(.imap, false), (.imaps, true)])
        guard !endpoints.isEmpty else { return nil }
        let accounts = IMAPAccounts(hostname: configuration.hostname.value, spoolDirectory: configuration.dataDirectory + "/spool",
                                    engine: engine, settings: settings,
                                    directory: directory, logins: logins, authenticator: authenticator, logger: logger,
                                    urlauthKey: try? configuration.keys.derivedKey("pillarbox imap urlauth"))
        return IMAPServer(endpoints: endpoints, accounts: accounts, tls: tls, sessions: sessions, logger: logger)
    }

    /// The configured listeners among `kinds`, each with whether it is implicit TLS.
    static func endpoints(_ configuration: BootstrapConfiguration,
                          _ kinds: [(ListenerConfiguration.Kind, Bool)]) -> [GatewayEndpoint] {
        kinds.compactMap { kind, implicit in
            configuration.listeners[kind].map { GatewayEndpoint(name: kind.rawValue, host: $0.host, port: $0.port, implicitTLS: implicit) }
        }
    }
}
