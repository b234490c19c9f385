import ArgumentParser
import EventLog
import Foundation
import Logging
import Projections
import ServiceLifecycle

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

    func run() async throws {
        let (configuration, logger) = try global.load(extra: server.flags, defaultLevel: nil)

        var lock: DataDirectoryLock?
        if configuration.databaseURL == nil {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        }
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

    private func serve(_ configuration: BootstrapConfiguration, database: Database, logger: Logger) async throws {
        let client = database.makeClient(configuration, logger: logger)
        try await client.whileRunning {
            try await MigrationRunner(logger: logger).migrate(client: client)

            let store = EventStore(client: client, configuration: configuration.eventLog, logger: logger)
            // Live tables missing or defined differently are rebuilt from the log before serving.
            let engine = ProjectionEngine(store: store, projections: PillarboxProjections.all, logger: logger)
            try await engine.prepare()
            let runners = engine.projections.filter { $0.mode == .async }.map {
                ServiceGroupConfiguration.ServiceConfiguration(service: ProjectionRunner(engine: engine, projection: $0))
            }
            let settings = LiveSettings(store: store, logger: logger)
            let sealer = LedgerSealer(store: store, logger: logger)
            let lifecycle = ServerLifecycle(store: store, configuration: configuration,
                                            embeddedDatabase: database.embedded != nil, logger: logger)
            // Services stop in reverse order: the lifecycle first, the store last; the database
            // client outlives them all.
            let services = ServiceGroup(configuration: .init(
                services: [.init(service: store), .init(service: sealer), .init(service: settings)] + runners
                    + [.init(service: lifecycle)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
            try await services.run()
        }
    }
}
