import EventLog
import Projections
import Foundation
import Logging
import PostgresNIO

/// The database a command works on: an external server named by `databaseURL`, or the embedded
/// cluster under the data directory, started if it is not running.
struct Database {
    let endpoint: DatabaseEndpoint
    let embedded: EmbeddedPostgres?
    /// True when this process started the embedded cluster (and so should stop it again).
    let startedHere: Bool

    static func open(_ configuration: BootstrapConfiguration, logger: Logger) async throws -> Database {
        if let endpoint = try configuration.externalDatabase() {
            return Database(endpoint: endpoint, embedded: nil, startedHere: false)
        }
        let embedded = EmbeddedPostgres(directory: configuration.dataDirectory, logger: logger)
        let result = try await embedded.start()
        var endpoint = embedded.endpoint
        endpoint.idleInTransactionTimeout = configuration.database.idleInTransactionTimeoutSeconds
        return Database(endpoint: endpoint, embedded: embedded, startedHere: result == .started)
    }

    /// Stops the embedded cluster if this process started it and no server is using it.
    func close(logger: Logger) async {
        guard let embedded, startedHere, !DataDirectoryLock.isHeld(directory: embedded.directory) else { return }
        do {
            try await embedded.stop()
        } catch {
            logger.error("stopping embedded PostgreSQL failed", metadata: ["error": "\(error)"])
        }
    }

    func makeClient(_ configuration: BootstrapConfiguration, logger: Logger) -> PostgresClient {
        PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: configuration.database.maximumConnections),
                       backgroundLogger: logger)
    }

    /// Runs `body` with a running client on which the migrations have been applied.
    func withClient<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                 _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = makeClient(configuration, logger: logger)
        return try await client.whileRunning {
            try await MigrationRunner(logger: logger).migrate(client: client)
            return try await body(client)
        }
    }

    /// Runs `body` with a running event store.
    func withStore<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                _ body: @Sendable (EventStore) async throws -> T) async throws -> T {
        try await withClient(configuration, logger: logger) { client in
            let store = EventStore(client: client, configuration: configuration.eventLog, logger: logger)
            return try await store.whileRunning { try await body(store) }
        }
    }
}


/// Opens the database named by the configuration, runs `body` with a running store, and stops
/// an embedded cluster this command had to start.
func withEventStore<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                 _ body: @Sendable (EventStore) async throws -> T) async throws -> T {
    let database = try await Database.open(configuration, logger: logger)
    do {
        let result = try await database.withStore(configuration, logger: logger, body)
        await database.close(logger: logger)
        return result
    } catch {
        await database.close(logger: logger)
        throw error
    }
}

/// As `withEventStore`, with the projection engine over it, its live tables prepared.
func withProjectionEngine<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                       _ body: @Sendable (ProjectionEngine) async throws -> T) async throws -> T {
    try await withEventStore(configuration, logger: logger) { store in
        let engine = ProjectionEngine(store: store, projections: PillarboxProjections.all, logger: logger)
        try await engine.prepare()
        return try await body(engine)
    }
}
