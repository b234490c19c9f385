import EventLog
import Foundation
import Logging
import PostgresNIO

/// Fresh databases for tests, each a copy of a template on which the migrations already ran.
///
/// The server is the one named by `PILLARBOX_TEST_DATABASE_URL` (set by `make test`) or, when
/// that is unset, an embedded cluster under `.build/test-postgres` started on first use and left
/// running for the next run. If neither can be had, the test fails: a database test never passes
/// without a database.
public enum TestDatabase {
    public static let logger: Logger = {
        var logger = Logger(label: "pillarbox-test")
        logger.logLevel = ProcessInfo.processInfo.environment["PILLARBOX_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        return logger
    }()

    /// Runs `body` with a new, migrated database, dropped afterwards.
    ///
    /// At most `DatabaseGate.limit` tests hold a database at once, however many the machine's
    /// cores let the runner start together: each may hold dozens of connections (its own pool and
    /// a server's), and the cluster has a fixed number. A test that asks again inside its own
    /// body already holds a place and does not wait for a second.
    public static func withDatabase<T: Sendable>(_ body: @Sendable (DatabaseEndpoint) async throws -> T) async throws -> T {
        if DatabaseGate.isHeld { return try await withNewDatabase(body) }
        await DatabaseGate.shared.enter()
        do {
            let result = try await DatabaseGate.$isHeld.withValue(true) { try await withNewDatabase(body) }
            await DatabaseGate.shared.leave()
            return result
        } catch {
            await DatabaseGate.shared.leave()
            throw error
        }
    }

    private static func withNewDatabase<T: Sendable>(_ body: @Sendable (DatabaseEndpoint) async throws -> T) async throws -> T {
        let server = try await TestServer.shared.endpoint()
        let template = try await TestServer.shared.template()
        let name = "pillarbox_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await TestServer.admin(server) { connection in
            try await connection.query("CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: template)", logger: logger)
        }
        do {
            let result = try await body(server.with(database: name))
            try await drop(name, on: server)
            return result
        } catch {
            try? await drop(name, on: server)
            throw error
        }
    }

    /// Runs `body` with a running client on a new database.
    public static func withClient<T: Sendable>(_ body: @Sendable (PostgresClient, DatabaseEndpoint) async throws -> T) async throws -> T {
        try await withDatabase { endpoint in
            let client = PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: 30), backgroundLogger: logger)
            return try await client.whileRunning { try await body(client, endpoint) }
        }
    }

    /// Runs `body` with a running event store on a new database.
    public static func withStore<T: Sendable>(configuration: EventLogConfiguration = .init(),
                                              _ body: @Sendable (EventStore) async throws -> T) async throws -> T {
        try await withClient { client, _ in
            let store = EventStore(client: client, configuration: configuration, logger: logger)
            return try await store.whileRunning { try await body(store) }
        }
    }

    private static func drop(_ name: String, on server: DatabaseEndpoint) async throws {
        try await TestServer.admin(server) { connection in
            try await connection.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }
}

/// Places for tests that hold a database, granted in the order asked.
actor DatabaseGate {
    static let limit = 10
    static let shared = DatabaseGate()
    @TaskLocal static var isHeld = false

    private var free = DatabaseGate.limit
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the place straight to the next waiter, so a newcomer cannot overtake it.
    func leave() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

/// The test PostgreSQL server and its migrated template database, set up once per process.
actor TestServer {
    static let shared = TestServer()

    private var server: Task<DatabaseEndpoint, any Error>?
    private var templateName: Task<String, any Error>?

    /// Set up once however many tests ask at the same time (the actor is re-entered at each await).
    func endpoint() async throws -> DatabaseEndpoint {
        if server == nil { server = Task { try await Self.startServer() } }
        return try await server!.value
    }

    func template() async throws -> String {
        let server = try await endpoint()
        if templateName == nil { templateName = Task { try await Self.createTemplate(on: server) } }
        return try await templateName!.value
    }

    private static func startServer() async throws -> DatabaseEndpoint {
        let endpoint: DatabaseEndpoint
        if let url = ProcessInfo.processInfo.environment["PILLARBOX_TEST_DATABASE_URL"], !url.isEmpty {
            endpoint = try DatabaseEndpoint(url: url).with(database: "postgres")
        } else {
            let directory = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/test-postgres").path
            let embedded = EmbeddedPostgres(directory: directory, logger: TestDatabase.logger)
            try await embedded.start()
            endpoint = embedded.endpoint.with(database: "postgres")
        }
        return endpoint
    }

    /// A database named after the migrations' checksums, so a changed schema gets a new one.
    private static func createTemplate(on server: DatabaseEndpoint) async throws -> String {
        let digest = Migration.all.map(\.checksum).joined().utf8.reduce(into: UInt64(14_695_981_039_346_656_037)) {
            $0 = ($0 ^ UInt64($1)) &* 1_099_511_628_211
        }
        let name = "pillarbox_template_\(String(digest, radix: 16))"
        try await admin(server) { connection in
            // Several test processes may start at once: one of them creates the template.
            try await connection.query("SELECT pg_advisory_lock(hashtextextended('pillarbox test template', 0))", logger: TestDatabase.logger)
            let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: TestDatabase.logger)
            var exists = false
            for try await _ in rows { exists = true }
            if !exists {
                try await connection.query("CREATE DATABASE \(unescaped: name)", logger: TestDatabase.logger)
                let migrating = try await PostgresConnection.connect(
                    configuration: try server.with(database: name).connectionConfiguration(), id: 1, logger: TestDatabase.logger)
                do {
                    _ = try await MigrationRunner(logger: TestDatabase.logger).migrate(connection: migrating)
                    try await migrating.close()
                } catch {
                    try? await migrating.close()
                    _ = try? await connection.query("DROP DATABASE \(unescaped: name)", logger: TestDatabase.logger)
                    throw error
                }
            }
            try await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox test template', 0))", logger: TestDatabase.logger)
        }
        return name
    }

    @discardableResult
    static func admin<T: Sendable>(_ server: DatabaseEndpoint, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await server.withConnection(logger: TestDatabase.logger, body)
    }
}

/// Waits for a condition with a deadline instead of sleeping a fixed time.
public func eventually<T: Sendable>(within timeout: Duration = .seconds(10), pollingEvery interval: Duration = .milliseconds(20),
                                    _ description: String = "condition",
                                    _ probe: @Sendable () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await probe() { return value }
        guard ContinuousClock.now < deadline else { throw TimedOut(description: description, timeout: timeout) }
        try await Task.sleep(for: interval)
    }
}

public struct TimedOut: Error, CustomStringConvertible {
    public let description: String
    public init(description: String, timeout: Duration) {
        self.description = "\(description) did not happen within \(timeout)"
    }
}

extension EventStore {
    /// Waits until every event committed so far can be read in log order. Another transaction
    /// anywhere in the cluster (another test's, say) can hold the read fence back for a moment;
    /// once readable, an event stays readable.
    public func awaitReadable(timeout: Duration = .seconds(30)) async throws {
        _ = try await eventually(within: timeout, "every committed event to pass the read fence") {
            let rows = try await self.client.query("""
                SELECT NOT EXISTS (SELECT 1 FROM eventlog.events WHERE tx_id >= pg_snapshot_xmin(pg_current_snapshot()))
                """, logger: TestDatabase.logger)
            for try await readable in rows.decode(Bool.self) where readable { return true }
            return nil
        }
    }
}
