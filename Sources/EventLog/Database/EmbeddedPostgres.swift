import Foundation
import Logging
import PostgresNIO

/// A PostgreSQL cluster of Pillarbox's own under the data directory, the way VPOP3 ships its
/// own `pgsql\data`:
///
///     DIR/pg/    the cluster (initdb on first start), owned by the user PostgreSQL runs as
///     DIR/run/   its Unix socket; it listens on no TCP port
///
/// Started as root, PostgreSQL (which refuses to run as root) runs as `postgres`, or `nobody`
/// when there is no such user. Authentication is `trust` on a socket only that user and root can
/// reach. The server outlives a crashed Pillarbox; the next start finds it running and uses it,
/// and a stale pid file left by a killed server is PostgreSQL's own to clear.
public struct EmbeddedPostgres: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public enum StartResult: Sendable, Equatable {
        /// This call started the server.
        case started
        /// The server was already running (another Pillarbox process, or one that crashed).
        case alreadyRunning
    }

    public static let databaseName = "pillarbox"
    public static let roleName = "pillarbox"

    public let directory: String
    public let logger: Logger

    public init(directory: String, logger: Logger) {
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.logger = logger
    }

    public var clusterDirectory: String { directory + "/pg" }
    public var socketDirectory: String { directory + "/run" }
    public var logFile: String { clusterDirectory + "/server.log" }

    public var endpoint: DatabaseEndpoint {
        DatabaseEndpoint(location: .unixSocket(directory: socketDirectory, port: 5432),
                         username: Self.roleName, database: Self.databaseName)
    }

    /// The user PostgreSQL runs as, or nil to run it as ourselves.
    public var serverUser: String? {
        guard geteuid() == 0 else { return nil }
        return getpwnam("postgres") != nil ? "postgres" : "nobody"
    }

    /// Initialises the cluster if needed, starts it unless it runs, and creates the database.
    /// `onWait` is called once when another process is starting it (a server creating its
    /// cluster on first start, say) and this one has to wait its turn.
    @discardableResult
    public func start(onWait: @Sendable () -> Void = {}) async throws -> StartResult {
        let binaries = try Self.binaryDirectory()
        try prepareDirectories()
        // Processes starting at the same moment take turns; the later ones find it running.
        let lock = try await StartLock.acquire(directory + "/start.lock", onWait: onWait)
        defer { lock.release() }
        if !FileManager.default.fileExists(atPath: clusterDirectory + "/PG_VERSION") {
            try await initialise(binaries: binaries)
        }
        try writeSettings()

        // A server that is still running is used as it is. One that was killed a moment ago can
        // still look alive to pg_ctl, or be in crash recovery: wait for it to accept a
        // connection, and start it once it is gone.
        var result = StartResult.alreadyRunning
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            if try await isRunning(binaries: binaries) {
                do {
                    try await createDatabase()
                    if result == .alreadyRunning {
                        logger.info("embedded PostgreSQL is already running", metadata: ["cluster": "\(clusterDirectory)"])
                    }
                    return result
                } catch {
                    guard ContinuousClock.now < deadline else {
                        throw Failure(message: "embedded PostgreSQL runs but does not accept connections: \(DatabaseErrorText.describe(error))")
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
            } else {
                try await startServer(binaries: binaries)
                result = .started
            }
        }
    }

    public func stop() async throws {
        let binaries = try Self.binaryDirectory()
        guard try await isRunning(binaries: binaries) else { return }
        let output = try await ChildProcess.run(binaries + "/pg_ctl", ["stop", "-D", clusterDirectory, "-m", "fast", "-w", "-t", "60", "-s"],
                                                asUser: serverUser)
        guard output.status == 0 else {
            throw Failure(message: "stopping embedded PostgreSQL failed: \(output.text)")
        }
        logger.info("embedded PostgreSQL stopped")
    }

    public func isRunning() async throws -> Bool {
        try await isRunning(binaries: try Self.binaryDirectory())
    }

    // MARK: Steps

    private func isRunning(binaries: String) async throws -> Bool {
        guard FileManager.default.fileExists(atPath: clusterDirectory + "/PG_VERSION") else { return false }
        let output = try await ChildProcess.run(binaries + "/pg_ctl", ["status", "-D", clusterDirectory], asUser: serverUser)
        return output.status == 0
    }

    private func prepareDirectories() throws {
        let socketPath = socketDirectory + "/.s.PGSQL.5432"
        guard socketPath.utf8.count < 104 else {
            throw Failure(message: "the data directory path is too long for a Unix socket (\(socketPath) is \(socketPath.utf8.count) bytes; at most 103): use a shorter --data-dir")
        }
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for path in [clusterDirectory, socketDirectory] where !files.fileExists(atPath: path) {
            try files.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
        guard let user = serverUser, let account = getpwnam(user) else { return }
        // PostgreSQL's user must be able to pass through the data directory to reach its own.
        var info = stat()
        if stat(directory, &info) == 0, info.st_mode & 0o001 == 0 {
            chmod(directory, (info.st_mode & 0o7777) | 0o001)
        }
        for path in [clusterDirectory, socketDirectory] {
            guard chown(path, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                throw Failure(message: "cannot give \(path) to user \(user): \(String(cString: strerror(errno)))")
            }
        }
    }

    private func initialise(binaries: String) async throws {
        if let user = serverUser {
            let check = try await ChildProcess.run("/usr/bin/test", ["-w", clusterDirectory], asUser: user)
            guard check.status == 0 else {
                throw Failure(message: "user \(user) cannot reach \(clusterDirectory): a directory above it is not searchable by others; choose a --data-dir elsewhere (for example under /var/lib)")
            }
        }
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["cluster": "\(clusterDirectory)"])
        let output = try await ChildProcess.run(binaries + "/initdb", [
            "-D", clusterDirectory, "-U", Self.roleName, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions",
        ], asUser: serverUser)
        guard output.status == 0 else {
            throw Failure(message: "initdb failed:\n\(output.text)")
        }
    }

    /// Writes `pillarbox.conf` and makes sure `postgresql.conf` includes it (checked at every
    /// start, so a crash right after initdb cannot leave a cluster listening on TCP).
    private func writeSettings() throws {
        let mainPath = clusterDirectory + "/postgresql.conf"
        let include = "include_if_exists = 'pillarbox.conf'"
        let main = try String(contentsOfFile: mainPath, encoding: .utf8)
        if !main.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == include }) {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: mainPath))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("\n# Pillarbox's settings, rewritten at every start.\n\(include)\n".utf8))
            try handle.close()
        }
        let quotedSocketDirectory = socketDirectory.replacingOccurrences(of: "'", with: "''")
        let settings = """
            # Written by Pillarbox at every start; edit postgresql.conf to override.
            listen_addresses = ''
            unix_socket_directories = '\(quotedSocketDirectory)'
            unix_socket_permissions = 0700
            synchronous_commit = on
            fsync = on
            idle_in_transaction_session_timeout = '60s'
            # Old WAL segments are deleted rather than renamed for reuse, so what an erasure
            # removed (README, Encryption and erasure) does not linger in them.
            wal_recycle = off
            # Each serve process pools up to database.maximumConnections (20); room for many
            # processes on one cluster (servers side by side, CLI commands, test suites).
            max_connections = 400
            logging_collector = off

            """
        let path = clusterDirectory + "/pillarbox.conf"
        try Data(settings.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        chmod(path, 0o644)
    }

    private func startServer(binaries: String) async throws {
        // A server killed with SIGKILL leaves backends that exit a moment later, holding its
        // shared memory until they do; PostgreSQL then refuses to start. Try for a while.
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let output = try await ChildProcess.run(binaries + "/pg_ctl", [
                "start", "-D", clusterDirectory, "-l", logFile, "-w", "-t", "120", "-s",
            ], asUser: serverUser)
            if output.status == 0 {
                logger.info("embedded PostgreSQL started", metadata: ["socket": "\(socketDirectory)"])
                return
            }
            if ContinuousClock.now >= deadline {
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                let tail = log.split(separator: "\n").suffix(15).joined(separator: "\n")
                throw Failure(message: "embedded PostgreSQL did not start:\n\(output.text)\n\(logFile):\n\(tail)")
            }
            logger.notice("embedded PostgreSQL did not start yet; retrying", metadata: ["output": "\(output.text)"])
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Connects to the server (which fails while it starts up or recovers) and creates
    /// Pillarbox's database if it is missing.
    private func createDatabase() async throws {
        let configuration = PostgresConnection.Configuration(
            unixSocketPath: socketDirectory + "/.s.PGSQL.5432", username: Self.roleName, password: nil, database: "postgres")
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await ensureDatabase(on: connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private func ensureDatabase(on connection: PostgresConnection) async throws {
        let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(Self.databaseName)", logger: logger)
        var exists = false
        for try await _ in rows { exists = true }
        guard !exists else { return }
        do {
            try await connection.query("CREATE DATABASE \(unescaped: Self.databaseName)", logger: logger)
            logger.info("created database \(Self.databaseName)")
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
            // Created meanwhile by another process starting at the same time.
        }
    }

    /// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.
    public static func binaryDirectory() throws -> String {
        let files = FileManager.default
        if let pgConfig = ["/usr/bin/pg_config", "/usr/local/bin/pg_config"].first(where: files.isExecutableFile(atPath:)) {
            let process = Process()
            let pipe = Pipe()
            process.executableURL = URL(fileURLWithPath: pgConfig)
            process.arguments = ["--bindir"]
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            if (try? process.run()) != nil {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if process.terminationStatus == 0, files.isExecutableFile(atPath: path + "/initdb") { return path }
            }
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? files.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { Int($0) }
            .sorted(by: >)
        for version in versions where files.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw Failure(message: "PostgreSQL's server programs (initdb, pg_ctl) were not found: install Debian's postgresql package, or pass --database-url")
    }
}

/// An exclusive lock file, waited for without blocking a thread.
final class StartLock {
    private let descriptor: Int32

    static func acquire(_ path: String, timeout: Duration = .seconds(120), onWait: () -> Void = {}) async throws -> StartLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw EmbeddedPostgres.Failure(message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + timeout
        var waited = false
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if !waited {
                waited = true
                onWait()
            }
            guard ContinuousClock.now < deadline else {
                close(descriptor)
                throw EmbeddedPostgres.Failure(message: "another process has held \(path) for over \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return StartLock(descriptor: descriptor)
    }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
