import Commands
import Crypto
import EventLog
import Foundation
import Logging
import PostgresNIO
import Projections
import TestSupport
import Testing

/// A `pillarbox serve` on a fresh test database with its listeners on loopback port 0, the
/// CLI pointed at the same database, and Python scripts run as real mail clients.
final class MailServerHarness: @unchecked Sendable {
    let endpoint: DatabaseEndpoint
    let dataDirectory: String
    /// The server runs its own PostgreSQL under the data directory (instead of a database of
    /// the test cluster), so a test may stop and start it.
    let embedded: Bool
    var process: RunningProcess?
    var ports: [String: Int] = [:]
    /// Where the keys live when not under the data directory.
    var keyDirectory: String?

    init(endpoint: DatabaseEndpoint) throws {
        self.endpoint = endpoint
        dataDirectory = "/tmp/pbx-smtp-\(UUID().uuidString.prefix(8).lowercased())"
        embedded = false
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    }

    /// A second `serve` process on `other`'s database, with its own data directory and
    /// `other`'s keys (as a second machine would have them).
    init(sharingDatabaseWith other: MailServerHarness) throws {
        precondition(!other.embedded, "a second process needs a database it can reach")
        endpoint = other.endpoint
        dataDirectory = other.dataDirectory + "-2"
        embedded = false
        keyDirectory = other.dataDirectory + "/keys"
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    }

    /// A harness whose server runs its own embedded cluster.
    init(embeddedIn directory: String) throws {
        dataDirectory = directory
        embedded = true
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        endpoint = EmbeddedPostgres(directory: directory, logger: TestDatabase.logger).endpoint
    }

    /// The server works as a role that may append to the log but not rewrite it; the test
    /// cluster's superuser owns the log and runs the migrations.
    var databaseArguments: [String] {
        if embedded { return ["--data-dir", dataDirectory] }
        var serving = endpoint
        serving.username = DatabaseRoles.embeddedServingRole
        return ["--database-url", serving.redactedURL, "--database-owner-url", endpoint.redactedURL, "--data-dir", dataDirectory]
            + (keyDirectory.map { ["--key-dir", $0] } ?? [])
    }

    /// As `with`, the server running its own embedded PostgreSQL, stopped and removed after.
    static func withEmbedded(_ body: @Sendable (MailServerHarness) async throws -> Void) async throws {
        let harness = try MailServerHarness(embeddedIn: "/tmp/pbx-emb-\(UUID().uuidString.prefix(8).lowercased())")
        do {
            try await body(harness)
            await harness.stop()
        } catch {
            if let process = harness.process { print("server log:\n\(process.errors.suffix(6_000))") }
            await harness.stop()
            _ = try? await PillarboxBinary.run(["db", "stop", "--data-dir", harness.dataDirectory])
            try? FileManager.default.removeItem(atPath: harness.dataDirectory)
            throw error
        }
        _ = try? await PillarboxBinary.run(["db", "stop", "--data-dir", harness.dataDirectory])
        try? FileManager.default.removeItem(atPath: harness.dataDirectory)
    }

    /// Runs `body` with a harness on a new database, stopping the server and cleaning up after.
    static func with(_ body: @Sendable (MailServerHarness) async throws -> Void) async throws {
        try await TestDatabase.withDatabase { endpoint in
            let harness = try MailServerHarness(endpoint: endpoint)
            do {
                // Tests reach only loopback: SPF, DKIM and DMARC checks (which ask the system's
                // DNS) are on only where a test turns them on with its own DNS server.
                try await harness.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false",
                                       "smtp.dmarc_policy", "off"])
                try await body(harness)
                await harness.stop()
            } catch {
                if let process = harness.process { print("server log:\n\(process.errors.suffix(6_000))") }
                await harness.stop()
                throw error
            }
            try? FileManager.default.removeItem(atPath: harness.dataDirectory)
        }
    }

    /// Starts the server and waits until every listener reports its port: the SMTP ones, and
    /// POP3's when `pop3`, IMAP's when `imap`, the web admin's (plain HTTP) when `admin`.
    /// `arguments` go to `serve` as well.
    func start(pop3: Bool = false, imap: Bool = false, admin: Bool = false, arguments: [String] = []) async throws {
        let pop3Address = pop3 ? "127.0.0.1:0" : ""
        let imapAddress = imap ? "127.0.0.1:0" : ""
        let expected = 3 + (pop3 ? 2 : 0) + (imap ? 2 : 0) + (admin ? 1 : 0)
        let process = try RunningProcess(executable: try PillarboxBinary.path, arguments: [
            "serve", "--log-level", "info", "--hostname", "mx.test.example",
            "--smtp", "127.0.0.1:0", "--submission", "127.0.0.1:0", "--smtps", "127.0.0.1:0",
            "--pop3", pop3Address, "--pop3s", pop3Address, "--imap", imapAddress, "--imaps", imapAddress, "--admin", admin ? "127.0.0.1:0" : "",
        ] + arguments + databaseArguments)
        self.process = process
        try await process.waitForLog("pillarbox is ready")
        ports = try await eventually(within: .seconds(30), "the SMTP listeners' ports") {
            var found: [String: Int] = [:]
            for line in process.errors.split(separator: "\n") where line.contains("listening") {
                guard let address = line.split(separator: " ").first(where: { $0.hasPrefix("address=") }),
                      let listener = line.split(separator: " ").first(where: { $0.hasPrefix("listener=") }),
                      let port = Int(address.split(separator: ":").last ?? "") else { continue }
                found[String(listener.dropFirst("listener=".count))] = port
            }
            return found.count == expected ? found : nil
        }
    }

    func kill() async throws {
        guard let process else { return }
        process.signal(SIGKILL)
        _ = try await process.wait(timeout: .seconds(30))
        self.process = nil
    }

    func stop() async {
        guard let process else { return }
        process.signal(SIGTERM)
        _ = try? await process.wait(timeout: .seconds(60))
        self.process = nil
    }

    var log: String { process?.errors ?? "" }

    /// Runs a `pillarbox` command against the database; fails the test when it fails.
    @discardableResult
    func cli(_ arguments: [String], input: String? = nil) async throws -> String {
        let result = try await PillarboxBinary.run(arguments + databaseArguments, input: input)
        #expect(result.status == 0, "pillarbox \(arguments.joined(separator: " ")): \(result.errors)\(result.output.suffix(4_000))")
        return result.output
    }

    /// The usual test directory: example.com, alice and bob (passwords alice-pass, bob-pass;
    /// alice has APOP, bob CRAM-MD5), carol who may not send to the internet, and a few aliases.
    func createStandardDirectory() async throws {
        try await cli(["domain", "add", "example.com"])
        try await cli(["settings", "set", "security.scrypt_log_n", "10"])
        try await cli(["settings", "set", "auth.cram_md5_allowed", "true"])
        try await cli(["user", "add", "postmaster", "--admin", "--password-stdin"], input: "postmaster-pass\n")
        try await cli(["user", "add", "alice", "--apop", "--password-stdin"], input: "alice-pass\n")
        try await cli(["user", "add", "bob", "--cram-md5", "--password-stdin"], input: "bob-pass\n")
        try await cli(["user", "add", "carol", "--local-only", "--password-stdin"], input: "carol-pass\n")
        try await cli(["alias", "add", "sales@example.com", "alice"])
        try await cli(["alias", "add", "void@example.com", "No-one"])
        try await cli(["alias", "add", "elsewhere@example.com", "*REMOTE"])
    }

    struct PythonResult {
        let status: Int32
        let output: String
        let errors: String
        /// The last line of output parsed as a JSON object.
        var json: [String: Any] {
            get throws {
                let line = output.split(separator: "\n").last.map(String.init) ?? "{}"
                return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(output)\n\(errors)")
            }
        }
    }

    /// Runs a Python 3 script with the SMTP ports as PORTS (a dict) and `arguments` as sys.argv[1:].
    func python(_ script: String, _ arguments: [String] = [], timeout: Duration = .seconds(120)) async throws -> PythonResult {
        let process = try startPython(script, arguments)
        let status = try await process.wait(timeout: timeout)
        let result = PythonResult(status: status, output: process.output, errors: process.errors)
        #expect(status == 0, "python failed:\n\(result.output)\n\(result.errors)")
        return result
    }

    func startPython(_ script: String, _ arguments: [String] = []) throws -> RunningProcess {
        let path = dataDirectory + "/script-\(UUID().uuidString.prefix(8)).py"
        let portsJSON = String(decoding: try JSONSerialization.data(withJSONObject: ports), as: UTF8.self)
        try ("import json, sys\nPORTS = json.loads('\(portsJSON)')\n" + script).write(toFile: path, atomically: true, encoding: .utf8)
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        return try RunningProcess(executable: python, arguments: [path] + arguments)
    }

    /// Starts a Python peer that prints `{"port": N}` as its first line once listening, and
    /// waits for that port.
    func startPeer(_ script: String, _ arguments: [String] = []) async throws -> (process: RunningProcess, port: Int) {
        let peer = try startPython(script, arguments)
        do {
            let port = try await eventually(within: .seconds(30), "the peer listening") { () -> Int? in
                guard let line = peer.output.split(separator: "\n").first,
                      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return object["port"] as? Int
            }
            return (peer, port)
        } catch {
            peer.signal(SIGKILL)
            throw error
        }
    }

    /// Runs a command-line tool (swaks, curl) to completion.
    func tool(_ executable: String, _ arguments: [String], input: String? = nil,
              timeout: Duration = .seconds(60)) async throws -> ProcessResult {
        var inputPath: String?
        if let input {
            inputPath = dataDirectory + "/input-\(UUID().uuidString.prefix(8))"
            try input.write(toFile: inputPath!, atomically: true, encoding: .utf8)
        }
        let process = try RunningProcess(executable: executable, arguments: arguments, inputPath: inputPath)
        let status = try await process.wait(timeout: timeout)
        return ProcessResult(status: status, output: process.output, errors: process.errors)
    }

    // MARK: Looking at mailboxes

    /// Each message in `user`'s INBOX as the client sent it (the server's Return-Path and
    /// Received lines removed), read straight from the database.
    func inbox(_ user: String) async throws -> [[UInt8]] {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: 4),
                                    backgroundLogger: TestDatabase.logger)
        return try await client.whileRunning {
            let store = EventStore(client: client, keys: KeyDirectory(path: keyDirectory ?? dataDirectory + "/keys"),
                                   logger: TestDatabase.logger)
            let engine = ProjectionEngine(store: store, projections: PillarboxProjections.all, logger: TestDatabase.logger)
            let mail = MailStore(engine: engine)
            guard let inbox = try await mail.reader.mailbox(user, named: "INBOX") else { return [] }
            var messages: [[UInt8]] = []
            for message in try await mail.reader.messages(user, mailboxID: inbox.id) {
                let stored = try #require(try await store.blob(message.blob))
                messages.append(Self.withoutTraceHeaders(stored))
            }
            return messages
        }
    }

    /// The rows of `sql`, each column as text (null as an empty string).
    func query(_ sql: String) async throws -> [[String]] {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: 2),
                                    backgroundLogger: TestDatabase.logger)
        return try await client.whileRunning {
            var result: [[String]] = []
            for try await row in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger) {
                var cells: [String] = []
                for cell in row { cells.append(try cell.decode(String?.self) ?? "") }
                result.append(cells)
            }
            return result
        }
    }

    /// The number of pieces the largest stored body was written in.
    func largestBlobChunks() async throws -> Int {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: 2),
                                    backgroundLogger: TestDatabase.logger)
        return try await client.whileRunning {
            var result = 0
            let rows = try await client.query("SELECT coalesce(max(chunks), 0)::bigint FROM eventlog.blobs", logger: TestDatabase.logger)
            for try await value in rows.decode(Int64.self) { result = Int(value) }
            return result
        }
    }

    /// `user`'s INBOX once it holds at least `count` messages (the delivery agent follows the log).
    func awaitInbox(_ user: String, count: Int, within timeout: Duration = .seconds(60)) async throws -> [[UInt8]] {
        try await eventually(within: timeout, pollingEvery: .milliseconds(100), "\(count) messages in \(user)'s INBOX") {
            let messages = try await self.inbox(user)
            return messages.count >= count ? messages : nil
        }
    }

    /// The outgoing queue, finished recipients included, once `predicate` holds for its JSON
    /// listing (the queue follows the log; the scheduler may have sent or failed a message by then).
    func awaitQueue(_ predicate: @escaping @Sendable (String) -> Bool) async throws -> String {
        try await eventually(within: .seconds(60), pollingEvery: .milliseconds(200), "the outgoing queue") {
            let queue = try await self.cli(["mail", "queue", "list", "--all", "--json"])
            return predicate(queue) ? queue : nil
        }
    }

    /// Drops the leading `Return-Path:` field and the first `Received:` field (with its folded lines).
    static func withoutTraceHeaders(_ message: [UInt8]) -> [UInt8] {
        var index = 0
        func skipField() {
            while index < message.count {
                guard let end = message[index...].firstIndex(of: 0x0A) else { index = message.count; return }
                index = end + 1
                if index < message.count && (message[index] == 0x20 || message[index] == 0x09) { continue }
                return
            }
        }
        if message.starts(with: Array("Return-Path:".utf8)) { skipField() }
        if message[index...].starts(with: Array("Received:".utf8)) { skipField() }
        return Array(message[index...])
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

/// The code of a `[code, text]` reply as the Python scripts print it.
func replyCode(_ value: Any?) -> Int? {
    (value as? [Any])?.first as? Int
}
