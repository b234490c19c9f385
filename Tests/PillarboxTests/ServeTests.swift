import Commands
import EventLog
import Foundation
import TestSupport
import Testing

/// `pillarbox serve` and the CLI as an administrator runs them: real processes, a real
/// embedded PostgreSQL under a temporary data directory.
@Suite("pillarbox serve", .serialized)
struct ServeTests {
    /// A short path: the embedded cluster's Unix socket lives inside it.
    static func makeDataDirectory() throws -> String {
        let path = "/tmp/pbx-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func serve(_ dataDirectory: String, _ extra: [String] = []) throws -> RunningProcess {
        try RunningProcess(executable: try PillarboxBinary.path, arguments: [
            "serve", "--data-dir", dataDirectory, "--log-level", "info", "--hostname", "mx.test.example",
            "--smtp", "127.0.0.1:0", "--submission", "", "--smtps", "", "--pop3", "127.0.0.1:0", "--pop3s", "",
            "--imap", "127.0.0.1:0", "--imaps", "", "--admin", "127.0.0.1:0",
        ] + extra)
    }

    static func dump(_ dataDirectory: String) async throws -> [[String: Any]] {
        let result = try await PillarboxBinary.run(["log", "dump", "--data-dir", dataDirectory])
        #expect(result.status == 0, "log dump failed: \(result.errors)")
        return try result.output.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    static func cleanUp(_ dataDirectory: String) async {
        _ = try? await PillarboxBinary.run(["db", "stop", "--data-dir", dataDirectory])
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    @Test("runs its own PostgreSQL, survives SIGKILL, and shuts down cleanly on SIGTERM")
    func embeddedLifecycle() async throws {
        let directory = try Self.makeDataDirectory()
        do {
            try await lifecycle(directory)
            await Self.cleanUp(directory)
        } catch {
            await Self.cleanUp(directory)
            throw error
        }
    }

    func lifecycle(_ directory: String) async throws {

        let first = try Self.serve(directory)
        try await first.waitForLog("pillarbox is ready")
        #expect(FileManager.default.fileExists(atPath: directory + "/pg/PG_VERSION"))
        #expect(FileManager.default.fileExists(atPath: directory + "/run/.s.PGSQL.5432"))

        // The CLI reads the log while the server runs.
        var events = try await Self.dump(directory)
        #expect(events.map { $0["type"] as? String } == ["server_started"])
        let started = try #require(events.first)
        for key in ["position", "stream", "version", "type", "recorded_at", "event_id", "data"] {
            #expect(started[key] != nil, "log dump line lacks \(key)")
        }
        #expect(started["stream"] as? String == "server-mx.test.example")
        #expect((started["data"] as? [String: Any])?["embeddedDatabase"] as? Bool == true)
        let verified = try await PillarboxBinary.run(["log", "verify", "--data-dir", directory])
        #expect(verified.status == 0, "\(verified.output)\(verified.errors)")

        // A second server on the same data directory is refused.
        let second = try Self.serve(directory)
        #expect(try await second.wait(timeout: .seconds(60)) != 0)
        #expect(second.errors.contains("another pillarbox serve is running"))

        // Killed without warning, PostgreSQL left behind: the next start uses it.
        first.signal(SIGKILL)
        _ = try await first.wait(timeout: .seconds(30))
        let restarted = try Self.serve(directory)
        try await restarted.waitForLog("pillarbox is ready")

        // Both killed, PostgreSQL's pid file left stale: the next start recovers.
        let postmasterPID = try #require(Int32(try String(contentsOfFile: directory + "/pg/postmaster.pid", encoding: .utf8)
            .split(separator: "\n")[0]))
        restarted.signal(SIGKILL)
        kill(postmasterPID, SIGKILL)
        _ = try await restarted.wait(timeout: .seconds(30))
        let recovered = try Self.serve(directory)
        try await recovered.waitForLog("pillarbox is ready")

        recovered.signal(SIGTERM)
        #expect(try await recovered.wait(timeout: .seconds(60)) == 0, "\(recovered.errors)")
        #expect(recovered.errors.contains("embedded PostgreSQL stopped"))
        let status = try await PillarboxBinary.run(["db", "status", "--data-dir", directory])
        #expect(status.status == 3, "the embedded cluster stops with the server: \(status.output)")

        // With the server down the CLI starts the cluster for itself, and stops it again.
        events = try await Self.dump(directory)
        #expect(events.map { $0["type"] as? String } == ["server_started", "server_started", "server_started", "server_stopped"])
        #expect(events.map { $0["version"] as? Int } == [0, 1, 2, 3])
        let verifiedAgain = try await PillarboxBinary.run(["log", "verify", "--data-dir", directory])
        #expect(verifiedAgain.status == 0, "\(verifiedAgain.output)\(verifiedAgain.errors)")
        #expect(try await PillarboxBinary.run(["db", "status", "--data-dir", directory]).status == 3)
    }

    @Test("uses an existing server given --database-url")
    func externalDatabase() async throws {
        try await TestDatabase.withDatabase { endpoint in
            let directory = try Self.makeDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let server = try Self.serve(directory, ["--database-url", endpoint.redactedURL])
            try await server.waitForLog("pillarbox is ready")
            #expect(!FileManager.default.fileExists(atPath: directory + "/pg"))
            // One role both owns and serves here: the server says what that allows.
            #expect(server.errors.contains("could rewrite the event log"))

            let dump = try await PillarboxBinary.run(["log", "dump", "--database-url", endpoint.redactedURL, "--category", "server"])
            #expect(dump.output.contains("\"server_started\""), "\(dump.errors)")
            server.signal(SIGINT)
            #expect(try await server.wait(timeout: .seconds(60)) == 0, "\(server.errors)")
        }
    }

    @Test("commands run while the server creates its cluster wait for it and say what they did; --pid-file holds the pid")
    func commandsDuringStart() async throws {
        let directory = try Self.makeDataDirectory()
        do {
            let pidFile = directory + "/serve.pid"
            // The server's first start runs initdb and builds every table; the commands start
            // with it and never see a half-made database.
            let server = try Self.serve(directory, ["--pid-file", pidFile])
            async let domain = PillarboxBinary.run(["domain", "add", "example.com", "--data-dir", directory])
            async let user = PillarboxBinary.run(["user", "add", "alice", "--password-stdin", "--data-dir", directory],
                                                 input: "alice-pass\n")
            let results = try await [domain, user]
            for result in results {
                #expect(result.status == 0, "\(result.output)\(result.errors)")
                #expect(!result.errors.contains("Generic description"), "\(result.errors)")
            }
            #expect(results[0].output == "added domain example.com\n")
            #expect(results[1].output == "added user alice\n")
            try await server.waitForLog("pillarbox is ready")
            let pid = try String(contentsOfFile: pidFile, encoding: .utf8)
            #expect(pid == "\(server.pid)\n")
            let listed = try await PillarboxBinary.run(["user", "list", "--data-dir", directory])
            #expect(listed.output.contains("alice"), "\(listed.errors)")

            // A database error reaches the user as PostgreSQL's message, never postgres-nio's
            // generic text, and never with the password of the URL.
            let refused = try await PillarboxBinary.run(["user", "list", "--database-url",
                                                         "postgres://nobody:secret-pw@127.0.0.1:1/none"])
            #expect(refused.status != 0)
            #expect(!refused.errors.contains("Generic description") && !refused.errors.contains("secret-pw"), "\(refused.errors)")
            #expect(refused.errors.contains("cannot connect to PostgreSQL"), "\(refused.errors)")

            server.signal(SIGTERM)
            #expect(try await server.wait(timeout: .seconds(60)) == 0, "\(server.errors)")
            #expect(!FileManager.default.fileExists(atPath: pidFile))
            await Self.cleanUp(directory)
        } catch {
            await Self.cleanUp(directory)
            throw error
        }
    }

    @Test("a bad setting stops the server before it starts, naming the key")
    func badConfiguration() async throws {
        let result = try await PillarboxBinary.run(["serve", "--data-dir", "/tmp/pbx-never", "--smtp", "localhost"])
        #expect(result.status != 0)
        #expect(result.errors.contains("listeners.smtp"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pbx-never"))
    }
}
