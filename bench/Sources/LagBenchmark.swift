import ArgumentParser
import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections
import Synchronization

/// How long after an accepted message commits its row appears in `logdb.messages`, with the
/// LogDB and SMTP stats projections following the log as `serve` runs them, under a load of
/// `--messages` acceptances from `--writers` concurrent writers. The peer, on the same server
/// in the same run: the least a hand-written follower of a table can do — each writer inserts
/// a row and NOTIFYs in one statement, a listener copies new rows into a second table on every
/// notification. Both sides are observed the same way: a reader polling the target table
/// every millisecond notes when each row first shows.
struct LagBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lag", abstract: "Async projection lag under load.")

    @Option(help: "Server to measure on (a fresh database is created and dropped on it).")
    var databaseURL: String
    @Option(help: "Messages accepted during the load.")
    var messages = 10_000
    @Option(help: "Concurrent writers.")
    var writers = 20

    func run() async throws {
        let logger = benchLogger()
        let server = try DatabaseEndpoint(url: databaseURL)
        try await BenchDatabase.with(server, logger: logger) { client in
            let store = EventStore(client: client, logger: logger)
            try await store.whileRunning {
                let engine = ProjectionEngine(store: store, projections: [LogDBProjection(), SMTPStatsProjection()], logger: logger)
                try await engine.prepare()
                // Both sides are observed through a serial column filled as rows are written: each
                // target table has one writer, so its order is the order rows become visible.
                try await client.query("ALTER TABLE logdb.messages ADD COLUMN observed bigserial", logger: logger)
                let pillarbox = try await withThrowingTaskGroup(of: Void.self) { group in
                    for projection in engine.projections {
                        group.addTask { try await ProjectionRunner(engine: engine, projection: projection).run() }
                    }
                    let result = try await measure(client: client, logger: logger, write: { key, index in
                        let event = Self.accepted(key: key, index: index)
                        try await store.append([EventData(event)], to: try StreamName(category: MessageAccepted.category, id: key),
                                               expectedVersion: .noStream)
                    }, observe: { last in
                        try await Self.keys(client.query("""
                            SELECT observed, messagekey FROM logdb.messages WHERE observed > \(last) ORDER BY observed
                            """, logger: logger))
                    })
                    group.cancelAll()
                    return result
                }

                try await client.query("CREATE TABLE raw_source (id bigserial PRIMARY KEY, key text NOT NULL, payload jsonb NOT NULL)",
                                       logger: logger)
                try await client.query("CREATE TABLE raw_copy (id bigint PRIMARY KEY, key text NOT NULL, observed bigserial)",
                                       logger: logger)
                let raw = try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await Self.copier(client: client, logger: logger) }
                    let result = try await measure(client: client, logger: logger, write: { key, index in
                        let json = String(decoding: try JSONEncoder().encode(Self.accepted(key: key, index: index)), as: UTF8.self)
                        try await client.query("""
                            WITH i AS (INSERT INTO raw_source (key, payload) VALUES (\(key), \(json)::jsonb) RETURNING id)
                            SELECT pg_notify('raw_source', '') FROM i
                            """, logger: logger)
                    }, observe: { last in
                        try await Self.keys(client.query("SELECT observed, key FROM raw_copy WHERE observed > \(last) ORDER BY observed",
                                                         logger: logger))
                    })
                    group.cancelAll()
                    return result
                }
                print("# \(messages) messages from \(writers) writers; lag = commit to the row being visible to a reader")
                print("side       p50 ms  p95 ms  p99 ms  max ms  load s")
                for (name, result) in [("raw", raw), ("pillarbox", pillarbox)] {
                    print(name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: "  %6.1f  %6.1f  %6.1f  %6.1f  %6.2f", result.percentile(0.50),
                                 result.percentile(0.95), result.percentile(0.99), result.percentile(1.0), result.loadSeconds))
                }
                print(String(format: "ratio (pillarbox / raw), p50: %.2f  p95: %.2f", pillarbox.percentile(0.50) / raw.percentile(0.50),
                             pillarbox.percentile(0.95) / raw.percentile(0.95)))
            }
        }
    }

    struct Result {
        let lags: [Double]
        let loadSeconds: Double
        func percentile(_ p: Double) -> Double {
            let sorted = lags.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
    }

    /// Writes `messages` rows from `writers` loops, noting each commit time, while a reader
    /// notes when each row first shows; returns the lags in milliseconds.
    func measure(client: PostgresClient, logger: Logger, write: @escaping @Sendable (String, Int) async throws -> Void,
                 observe: @escaping @Sendable (Int64) async throws -> [(Int64, String)]) async throws -> Result {
        let committed = Commits()
        let next = Counter()
        let start = ContinuousClock.now
        let total = messages
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<writers {
                group.addTask {
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < total else { return }
                        let key = String(format: "%024x", index)
                        try await write(key, index)
                        let now = ContinuousClock.now
                        committed.times.withLock { $0[key] = now }
                    }
                }
            }
            var seen: [String: ContinuousClock.Instant] = [:]
            var last: Int64 = 0
            let deadline = ContinuousClock.now + .seconds(600)
            while seen.count < total && ContinuousClock.now < deadline {
                let rows = try await observe(last)
                let now = ContinuousClock.now
                for (id, key) in rows {
                    last = max(last, id)
                    if seen[key] == nil { seen[key] = now }
                }
                if rows.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
            }
            try await group.waitForAll()
            let load = (committed.times.withLock { $0.values.max() } ?? start) - start
            let lags = committed.times.withLock { commits in
                commits.compactMap { key, commit in seen[key].map { max(0, Self.milliseconds($0 - commit)) } }
            }
            return Result(lags: lags, loadSeconds: Self.milliseconds(load) / 1_000)
        }
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    final class Commits: Sendable {
        let times = Mutex<[String: ContinuousClock.Instant]>([:])
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
    }

    static func keys(_ rows: PostgresRowSequence) async throws -> [(Int64, String)] {
        var result: [(Int64, String)] = []
        for try await (id, key) in rows.decode((Int64, String).self) { result.append((id, key)) }
        return result
    }

    /// The peer's follower: on every notification, copies the rows it has not copied among the
    /// last thousand ids (serial ids commit out of order: a row may show after higher ones).
    static func copier(client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: "raw_source") { notifications in
                for try await _ in notifications {
                    _ = try await connection.query("""
                        INSERT INTO raw_copy (id, key)
                        SELECT id, key FROM raw_source WHERE id > (SELECT coalesce(max(id), 0) FROM raw_copy) - 1000 ORDER BY id
                        ON CONFLICT (id) DO NOTHING
                        """, logger: logger)
                }
            }
        }
    }

    /// An accepted message shaped like the SMTP gateway's: two local recipients, one refused.
    static func accepted(key: String, index: Int) -> MessageAccepted {
        MessageAccepted(
            messageID: key, sessionID: String(format: "%012x", index / 3), service: "smtp", clientIP: "192.0.2.\(index % 250 + 1)",
            helo: "mail\(index % 97).example.net", tls: "TLSv1.3", authUser: nil, reversePath: "sender\(index % 500)@example.net",
            recipients: [.init(address: "alice@example.com", route: .local, user: "alice"),
                         .init(address: "bob@example.com", route: .local, user: "bob")],
            body: "8BITMIME", smtpUTF8: false, ret: nil, envelopeID: nil, mailAuth: nil, size: 4_096,
            blob: BlobID.of(Array(key.utf8)), returnPathLength: 40, subject: "Report \(index)",
            refused: [RefusedRecipient(address: "nobody\(index % 7)@example.com", reason: .unknownLocal, reply: "550 5.1.1")],
            processingTime: 0.002)
    }
}
