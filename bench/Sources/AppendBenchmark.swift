import ArgumentParser
import EventLog
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Durable appends of 1 KiB events through the event store, against raw PostgreSQL inserts of
/// the same bytes from the same number of connections, on the same server in the same run:
/// `BEGIN; INSERT; COMMIT` per row (an application writing one durable row per transaction),
/// and a single autocommit `INSERT` per row (the least a durable row can cost a client). All
/// commit with `synchronous_commit = on`.
struct AppendBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "append", abstract: "Durable append throughput.")

    @Option(help: "Server to measure on (a fresh database is created and dropped on it).")
    var databaseURL: String
    @Option(help: "Concurrent writers, comma-separated.")
    var writers = "1,16,64"
    @Option(help: "Seconds per measurement.")
    var seconds = 10
    @Option(help: "Payload size in bytes.")
    var size = 1_024
    @Option(help: "Measurements of each side, alternating; the median is reported.")
    var repeats = 3
    @Flag(help: "Also print the client process's CPU time per operation.")
    var cpu = false

    func run() async throws {
        let writerCounts = writers.split(separator: ",").compactMap { Int($0) }
        let logger = benchLogger()
        let server = try DatabaseEndpoint(url: databaseURL)
        try await BenchDatabase.with(server, logger: logger) { client in
            try await client.query("CREATE TABLE raw_inserts (id bigserial PRIMARY KEY, payload bytea NOT NULL)", logger: logger)
            let store = EventStore(client: client, logger: logger)
            try await store.whileRunning {
                print("writers  INSERT+COMMIT/s  autocommit INSERT/s  pillarbox append/s  vs INSERT+COMMIT  vs autocommit")
                for count in writerCounts {
                    var transactions: [Measurement] = []
                    var autocommit: [Measurement] = []
                    var pillarbox: [Measurement] = []
                    for _ in 0..<repeats {
                        transactions.append(try await measure(writers: count) { writer, index in
                            try await client.withTransaction(logger: logger) { connection in
                                _ = try await connection.query("INSERT INTO raw_inserts (payload) VALUES (\(payload(writer, index)))", logger: logger)
                            }
                        })
                        autocommit.append(try await measure(writers: count) { writer, index in
                            try await client.query("INSERT INTO raw_inserts (payload) VALUES (\(payload(writer, index)))", logger: logger)
                        })
                        pillarbox.append(try await measure(writers: count) { writer, index in
                            let event = EventData(type: "bench_payload", typeVersion: 1, json: jsonPayload(writer, index))
                            try await store.append([event], to: try StreamName(category: "bench", id: "w\(writer)"))
                        })
                    }
                    let transactionRate = median(transactions.map(\.rate))
                    let autocommitRate = median(autocommit.map(\.rate))
                    let storeRate = median(pillarbox.map(\.rate))
                    print(String(format: "%7d  %15.0f  %19.0f  %18.0f  %15.2f×  %11.2f×", count, transactionRate, autocommitRate,
                                 storeRate, storeRate / transactionRate, storeRate / autocommitRate))
                    if cpu {
                        print(String(format: "         client CPU µs/op: INSERT+COMMIT %.1f, autocommit %.1f, pillarbox %.1f",
                                     median(transactions.map(\.cpuMicroseconds)), median(autocommit.map(\.cpuMicroseconds)),
                                     median(pillarbox.map(\.cpuMicroseconds))))
                    }
                }
            }
        }
    }

    struct Measurement {
        let rate: Double
        let cpuMicroseconds: Double
    }

    /// Runs `writers` loops for `seconds`; returns completed operations per second.
    func measure(writers: Int, _ operation: @escaping @Sendable (Int, Int) async throws -> Void) async throws -> Measurement {
        let cpuBefore = processCPUSeconds()
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        try await operation(writer, done)
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        let cpu = processCPUSeconds() - cpuBefore
        return Measurement(rate: Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18),
                           cpuMicroseconds: cpu * 1e6 / Double(max(total, 1)))
    }

    func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Bytes that compress poorly, so both sides store about `size` bytes.
    func payload(_ writer: Int, _ index: Int) -> ByteBuffer {
        ByteBuffer(bytes: jsonPayload(writer, index))
    }

    func jsonPayload(_ writer: Int, _ index: Int) -> [UInt8] {
        var generator = SplitMix(seed: UInt64(writer) << 32 | UInt64(index))
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let filler = (0..<max(size - 12, 0)).map { _ in alphabet[Int(generator.next() % 64)] }
        return Array(#"{"data":""#.utf8) + filler + Array(#""}"#.utf8)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh database for one benchmark run, migrated, dropped afterwards.
enum BenchDatabase {
    static func with(_ server: DatabaseEndpoint, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let name = "pillarbox_bench_\(UInt32.random(in: 0...UInt32.max))"
        let admin = PostgresClient(configuration: server.with(database: "postgres").clientConfiguration(maximumConnections: 2),
                                   backgroundLogger: logger)
        try await admin.whileRunning {
            try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
            let client = PostgresClient(configuration: server.with(database: name).clientConfiguration(maximumConnections: 80),
                                        backgroundLogger: logger)
            do {
                try await client.whileRunning {
                    try await MigrationRunner(logger: logger).migrate(client: client)
                    try await body(client)
                }
            } catch {
                _ = try? await admin.query("DROP DATABASE \(unescaped: name) WITH (FORCE)", logger: logger)
                throw error
            }
            try await admin.query("DROP DATABASE \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }
}
