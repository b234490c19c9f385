import EventLog
import Projections
import Foundation
import Logging
import PostgresNIO

/// The database a command works on: an external server named by `databaseURL`, or the embedded
/// cluster under the data directory, started if it is not running.
///
/// Two roles: the owner runs the migrations and owns the log's tables; the serving role (the
/// endpoint everything else connects with) may read and append but not rewrite. The embedded
/// cluster has both (`pillarbox` owns, `pillarbox_server` serves); an external server has them
/// when `database.ownerURL` is set, and otherwise one role does both.
struct Database {
    /// Where the server and the commands work.
    let endpoint: DatabaseEndpoint
    /// The role that migrates and grants; nil when `endpoint`'s role does it itself.
    let owner: DatabaseEndpoint?
    let embedded: EmbeddedPostgres?
    /// True when this process started the embedded cluster (and so should stop it again).
    let startedHere: Bool

    static func open(_ configuration: BootstrapConfiguration, logger: Logger) async throws -> Database {
        if let endpoint = try configuration.externalDatabase() {
            return Database(endpoint: endpoint, owner: try configuration.externalOwner(), embedded: nil, startedHere: false)
        }
        let embedded = EmbeddedPostgres(directory: configuration.dataDirectory, logger: logger)
        let result = try await embedded.start(onWait: {
            FileHandle.standardError.write(Data("pillarbox: another process (the server, as it starts?) is starting the embedded database; waiting for it\n".utf8))
        })
        return Database(embedded: embedded, configuration, startedHere: result == .started)
    }

    /// The embedded cluster's two roles.
    init(embedded: EmbeddedPostgres, _ configuration: BootstrapConfiguration, startedHere: Bool) {
        var owner = embedded.endpoint
        owner.idleInTransactionTimeout = configuration.database.idleInTransactionTimeoutSeconds
        var endpoint = owner
        endpoint.username = DatabaseRoles.embeddedServingRole
        self.init(endpoint: endpoint, owner: owner, embedded: embedded, startedHere: startedHere)
    }

    init(endpoint: DatabaseEndpoint, owner: DatabaseEndpoint?, embedded: EmbeddedPostgres?, startedHere: Bool) {
        self.endpoint = endpoint
        self.owner = owner
        self.embedded = embedded
        self.startedHere = startedHere
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

    /// `applicationName` tells this pool's connections apart in `pg_stat_activity`.
    func makeClient(_ configuration: BootstrapConfiguration, applicationName: String = "pillarbox", logger: Logger) -> PostgresClient {
        PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: configuration.database.maximumConnections,
                                                                   applicationName: applicationName),
                       backgroundLogger: logger)
    }

    /// Applies the migrations and the serving role's grants, as the owner when there is one.
    /// `warn` logs, when one role both owns and serves, that it could rewrite the log.
    func prepare(logger: Logger, warn: Bool) async throws {
        let schemas = PillarboxProjections.all.flatMap { [$0.schema, $0.schema + "_rebuild", $0.schema + "_verify", $0.schema + "_old"] }
        if let owner, owner.username != endpoint.username || owner.location != endpoint.location {
            try await owner.withConnection(applicationName: "pillarbox-migrate", logger: logger) { connection in
                _ = try await MigrationRunner(logger: logger).migrate(connection: connection)
                try await DatabaseRoles.prepare(servingRole: endpoint.username, projectionSchemas: schemas,
                                                on: connection, logger: logger)
            }
            return
        }
        try await endpoint.withConnection(applicationName: "pillarbox-migrate", logger: logger) { connection in
            _ = try await MigrationRunner(logger: logger).migrate(connection: connection)
            if warn, let risk = try await DatabaseRoles.rewriteRisk(on: connection, logger: logger) {
                logger.warning("\(risk): the server could rewrite the event log; set database.ownerURL so the log is owned by another role (see README, Security)")
            }
        }
    }

    /// Runs `body` with a running client on which the migrations have been applied.
    func withClient<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                 _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await prepare(logger: logger, warn: false)
        let client = makeClient(configuration, logger: logger)
        return try await client.whileRunning { try await body(client) }
    }

    /// Runs `body` with a running event store.
    func withStore<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                _ body: @Sendable (EventStore) async throws -> T) async throws -> T {
        try await withClient(configuration, logger: logger) { client in
            let store = EventStore(client: client, configuration: configuration.eventLog, keys: configuration.keys, logger: logger)
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

/// As `withEventStore`, with the projection engine over it, its live tables prepared (waiting
/// for a server that is building them as it starts).
func withProjectionEngine<T: Sendable>(_ configuration: BootstrapConfiguration, logger: Logger,
                                       _ body: @Sendable (ProjectionEngine) async throws -> T) async throws -> T {
    try await withEventStore(configuration, logger: logger) { store in
        let engine = ProjectionEngine(store: store, projections: PillarboxProjections.all, logger: logger)
        try await engine.prepare(onWait: {
            FileHandle.standardError.write(Data("pillarbox: the server is starting (building its tables from the log); waiting for it\n".utf8))
        })
        return try await body(engine)
    }
}
