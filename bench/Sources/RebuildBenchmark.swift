import ArgumentParser
import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections

/// Rebuilds the mailbox projection from a generated log and compares the time with PostgreSQL
/// loading the rebuilt rows with `COPY FROM` into empty tables with the same indexes (the write
/// limit for that output) and with PostgreSQL reading the same payloads raw
/// (`COPY (SELECT payload …) TO '/dev/null'`), on the same data in the same run.
struct RebuildBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rebuild", abstract: "Mailbox projection rebuild speed.")

    @Option(help: "Server to measure on (a fresh database is created and dropped on it).")
    var databaseURL: String
    @Option(help: "Events to generate.")
    var events = 1_000_000
    @Option(help: "Mail accounts the events are spread over.")
    var users = 1_000
    @Option(help: "Rebuilds to time; the median is reported.")
    var repeats = 3

    func run() async throws {
        let logger = benchLogger()
        let server = try DatabaseEndpoint(url: databaseURL)
        try await BenchDatabase.with(server, logger: logger) { client in
            let store = EventStore(client: client, logger: logger)
            try await store.whileRunning {
                let engine = ProjectionEngine(store: store, projections: [MailboxProjection()], logger: logger)
                try await engine.prepare()
                let started = ContinuousClock.now
                let generated = try await generate(store, logger: logger)
                print("generated \(generated) events for \(users) accounts in \(ContinuousClock.now - started)")

                var raw: [Double] = []
                var rebuilds: [Double] = []
                for _ in 0..<repeats {
                    raw.append(try await seconds {
                        try await client.query("""
                            COPY (SELECT e.payload FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                                  WHERE s.category = 'mailbox') TO '/dev/null'
                            """, logger: logger)
                    })
                    rebuilds.append(try await seconds { try await engine.rebuild(MailboxProjection()) })
                }
                let loads = try await copyLoads(client: client, logger: logger)
                let rawTime = median(raw), rebuildTime = median(rebuilds), loadTime = median(loads)
                func line(_ label: String, _ time: Double) -> String {
                    label.padding(toLength: 34, withPad: " ", startingAt: 0)
                        + String(format: "%8.2f s  %10.0f events/s", time, Double(generated) / time)
                }
                print(line("raw COPY of payloads TO /dev/null", rawTime))
                print(line("COPY FROM of the rebuilt rows", loadTime))
                print(line("mailbox rebuild", rebuildTime))
                print(String(format: "ratio (rebuild speed / COPY FROM of its rows): %.3f  (goal ≥ 0.5)", loadTime / rebuildTime))
                print(String(format: "ratio (rebuild speed / raw read speed): %.3f", rawTime / rebuildTime))
            }
        }
    }

    /// The write limit of PostgreSQL for what a rebuild produces: the rebuilt tables' own rows,
    /// exported once, loaded with `COPY FROM` into empty tables with the same indexes (timed,
    /// `repeats` times).
    private func copyLoads(client: PostgresClient, logger: Logger) async throws -> [Double] {
        let projection = MailboxProjection()
        let directory = "/tmp/pillarbox-bench-copy-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tables = projection.tables.map(\.name)
        for table in tables {
            try await client.query(PostgresQuery(unsafeSQL:
                "COPY \(projection.schema).\(table) TO '\(directory)/\(table)' (FORMAT binary)"), logger: logger)
        }
        var loads: [Double] = []
        for _ in 0..<repeats {
            try await client.query("DROP SCHEMA IF EXISTS bench_copy CASCADE", logger: logger)
            try await client.query("CREATE SCHEMA bench_copy", logger: logger)
            for table in tables {
                try await client.query(PostgresQuery(unsafeSQL:
                    "CREATE TABLE bench_copy.\(table) (LIKE \(projection.schema).\(table) INCLUDING ALL)"), logger: logger)
            }
            loads.append(try await seconds {
                for table in tables {
                    try await client.query(PostgresQuery(unsafeSQL:
                        "COPY bench_copy.\(table) FROM '\(directory)/\(table)' (FORMAT binary)"), logger: logger)
                }
            })
        }
        try await client.query("DROP SCHEMA IF EXISTS bench_copy CASCADE", logger: logger)
        return loads
    }

    private func seconds(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Per account: opened, then deliveries (70 %), flag changes (20 %) and expunges (10 %),
    /// each carrying the UIDs, MODSEQs and sizes a real writer would have decided.
    private func generate(_ store: EventStore, logger: Logger) async throws -> Int {
        let samples = (0..<50).map { number -> (BlobData, MessageSummary) in
            var text = "From: Sender \(number) <s\(number)@example.net>\r\nTo: someone@example.com\r\n"
                + "Subject: sample message \(number)\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
                + "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
            for line in 0..<(number % 20 + 5) { text += "line \(line) of a sample body\r\n" }
            text += "--b--\r\n"
            let bytes = Array(text.utf8)
            return (BlobData(bytes), MIMEParser.summarise(bytes))
        }
        let perUser = events / users
        let workers = 8
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    for user in stride(from: worker, to: users, by: workers) {
                        let stream = try StreamName(category: "mailbox", id: "user\(user)")
                        var pending: [EventData] = [try EventData(MailAccountOpened(user: "user\(user)", mailboxes: [
                            MailboxSpec(mailboxID: 1, name: "INBOX", uidValidity: 1, specialUse: nil),
                        ]))]
                        var uids: [UInt32: Int64] = [:]
                        var nextUID: UInt32 = 1
                        var modSeq: Int64 = 1
                        var version: Int64 = -1
                        var blobsSent = Set<Int>()
                        for _ in 1..<perUser {
                            modSeq += 1
                            let roll = Int.random(in: 0..<10, using: &random)
                            if roll < 7 || uids.isEmpty {
                                let index = Int.random(in: 0..<samples.count, using: &random)
                                let (blob, summary) = samples[index]
                                let message = StoredMessage(mailboxID: 1, uid: nextUID, modSeq: modSeq, flags: [],
                                                            internalDate: Date(timeIntervalSince1970: 1_790_000_000),
                                                            size: Int64(blob.bytes.count), blob: blob.id)
                                let first = worker == 0 && blobsSent.insert(index).inserted
                                pending.append(try EventData(MessageDelivered(message: message, summary: summary),
                                                             blobs: first ? [blob] : []))
                                uids[nextUID] = Int64(blob.bytes.count)
                                nextUID += 1
                            } else if roll < 9 {
                                let chosen = Array(uids.keys.shuffled(using: &random).prefix(3)).sorted()
                                pending.append(try EventData(MessageFlagsChanged(mailboxID: 1, modSeq: modSeq, changes: chosen.map {
                                    .init(uid: $0, flags: ["\\Seen"])
                                })))
                            } else {
                                let chosen = Array(uids.keys.shuffled(using: &random).prefix(2)).sorted()
                                let bytes = chosen.reduce(Int64(0)) { $0 + uids[$1]! }
                                for uid in chosen { uids[uid] = nil }
                                pending.append(try EventData(MessagesExpunged(mailboxID: 1, modSeq: modSeq, uids: chosen, bytes: bytes)))
                            }
                            if pending.count == 200 {
                                let result = try await store.append(pending, to: stream,
                                                                    expectedVersion: version < 0 ? .noStream : .exactly(version))
                                version = result.streamVersion
                                pending = []
                            }
                        }
                        if !pending.isEmpty {
                            _ = try await store.append(pending, to: stream, expectedVersion: version < 0 ? .noStream : .exactly(version))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        // Blobs were only attached by the first worker; make sure every sample is stored.
        for (blob, _) in samples {
            _ = try await store.append([EventData(type: "bench_blob", typeVersion: 1, json: Array("{}".utf8), blobs: [blob])],
                                       to: try StreamName(category: "benchblobs", id: "x"))
        }
        return perUser * users
    }
}
