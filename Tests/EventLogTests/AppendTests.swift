import EventLog
import Foundation
import Synchronization
import PostgresNIO
import Testing
import TestSupport

@Suite("Appending")
struct AppendTests {
    @Test("a stale expected version throws WrongExpectedVersion and writes nothing")
    func optimisticConcurrency() async throws {
        try await TestDatabase.withStore { store in
            let notes = try stream("notes-1")
            let first = try await store.append([note("a")], to: notes, expectedVersion: .noStream)
            #expect(first.streamVersion == 0)

            await #expect(throws: WrongExpectedVersion(stream: "notes-1", expected: .noStream, actual: 0)) {
                try await store.append([note("b")], to: notes, expectedVersion: .noStream)
            }
            let second = try await store.append([note("b"), note("c")], to: notes, expectedVersion: .exactly(0))
            #expect(second.streamVersion == 2)
            #expect(second.positions.count == 2)

            // Two writers read version 2; the first wins, the second is told the truth.
            try await store.append([note("d")], to: notes, expectedVersion: .exactly(2))
            await #expect(throws: WrongExpectedVersion(stream: "notes-1", expected: .exactly(2), actual: 3)) {
                try await store.append([note("e")], to: notes, expectedVersion: .exactly(2))
            }
            let texts = try await store.read(stream: notes).map { try $0.decode(as: NoteWritten.self).text }
            #expect(texts == ["a", "b", "c", "d"])
            #expect(try await store.version(of: notes) == 3)
            #expect(try await store.version(of: stream("notes-none")) == nil)
        }
    }

    @Test("re-appending the same event id returns the original positions and writes nothing")
    func idempotentByEventID() async throws {
        try await TestDatabase.withStore { store in
            let notes = try stream("notes-2")
            let events = [try note("a"), try note("b")]
            let first = try await store.append(events, to: notes, expectedVersion: .noStream)
            #expect(!first.wasAlreadyAppended)

            // The same append again, even with an expected version that is now stale.
            let again = try await store.append(events, to: notes, expectedVersion: .noStream)
            #expect(again.wasAlreadyAppended)
            #expect(again.positions == first.positions)
            #expect(try await eventCount(store) == 2)

            // An id reused for another stream is a conflict, not a duplicate.
            await #expect(throws: EventLogError.self) {
                try await store.append([events[0]], to: try stream("notes-3"))
            }
            // Half old, half new is a conflict too.
            await #expect(throws: EventLogError.self) {
                try await store.append([events[1], try note("c")], to: notes)
            }
            #expect(try await eventCount(store) == 2)
        }
    }

    @Test("an append across several streams commits all or nothing")
    func multiStreamTransaction() async throws {
        try await TestDatabase.withStore { store in
            let a = try stream("account-a")
            let b = try stream("account-b")
            try await store.append([note("opened")], to: b)

            await #expect(throws: WrongExpectedVersion(stream: "account-b", expected: .noStream, actual: 0)) {
                try await store.append([
                    StreamAppend(stream: a, expectedVersion: .noStream, events: [try note("debit")]),
                    StreamAppend(stream: b, expectedVersion: .noStream, events: [try note("credit")]),
                ])
            }
            #expect(try await store.version(of: a) == nil)
            #expect(try await store.version(of: b) == 0)

            let results = try await store.append([
                StreamAppend(stream: a, expectedVersion: .noStream, events: [try note("debit")]),
                StreamAppend(stream: b, expectedVersion: .exactly(0), events: [try note("credit")]),
            ])
            #expect(results.map(\.streamVersion) == [0, 1])
            let transactions = try await transactionIDs(store, positions: results.flatMap(\.positions))
            #expect(transactions.count == 1, "both streams' events were written by one transaction")
        }
    }

    @Test("concurrent appends share commits, and each returns only after its commit")
    func groupCommit() async throws {
        var configuration = EventLogConfiguration()
        configuration.groupCommitMaxWait = .milliseconds(2)
        try await TestDatabase.withStore(configuration: configuration) { store in
            let writers = 64
            let rounds = 5
            let positions = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var positions: [Int64] = []
                        for round in 0..<rounds {
                            let result = try await store.append([note("w\(writer)", round)], to: try stream("writer-\(writer)"),
                                                                expectedVersion: round == 0 ? .noStream : .exactly(Int64(round - 1)))
                            // Acknowledged means committed: another connection sees it now.
                            let visible = try await store.client.query(
                                "SELECT count(*) FROM eventlog.events WHERE global_position = \(result.positions[0])")
                            for try await count in visible.decode(Int.self) { #expect(count == 1) }
                            positions += result.positions
                        }
                        return positions
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(Set(positions).count == writers * rounds)
            let transactions = try await transactionIDs(store, positions: positions)
            #expect(transactions.count < writers * rounds, "\(transactions.count) transactions for \(writers * rounds) appends")

            let rows = try await store.client.query("SHOW synchronous_commit")
            for try await setting in rows.decode(String.self) { #expect(setting == "on") }
        }
    }

    /// A stranded writer shows as a pause in which no append completes; the whole suite shares
    /// one cluster and one disk, so the total time says nothing, but progress must never stop.
    @Test("many short bursts from many writers: every append completes, none is stranded")
    func noWriterIsStranded() async throws {
        try await TestDatabase.withStore { store in
            let writers = 24
            let appends = 30
            let completed = Completed()
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<appends {
                            try await store.append([note("w\(writer)", index)], to: try stream("burst-\(writer % 5)"))
                            completed.count.add(1, ordering: .relaxed)
                        }
                        return appends
                    }
                }
                // The watchdog: each wait is for one more append to complete; one that lasts 90 s
                // fails the test, naming how far the writers got.
                group.addTask {
                    var seen = 0
                    while seen < writers * appends {
                        let before = seen
                        seen = try await eventually(within: .seconds(90), "an append after \(before) of \(writers * appends)") {
                            let now = completed.count.load(ordering: .relaxed)
                            return now > before ? now : nil
                        }
                    }
                    return 0
                }
                return try await group.reduce(0, +)
            }
            #expect(total == writers * appends)
            #expect(try await eventCount(store) == writers * appends)
        }
    }

    final class Completed: Sendable {
        let count = Atomic<Int>(0)
    }

    @Test("event types and empty appends are checked before anything is sent")
    func rejectsBadInput() async throws {
        try await TestDatabase.withStore { store in
            await #expect(throws: EventLogError.self) {
                try await store.append([], to: try stream("notes-4"))
            }
            await #expect(throws: EventLogError.self) {
                try await store.append([EventData(type: "Not A Type", typeVersion: 1, json: Array("{}".utf8))], to: try stream("notes-4"))
            }
        }
    }
}

func eventCount(_ store: EventStore) async throws -> Int {
    let rows = try await store.client.query("SELECT count(*) FROM eventlog.events")
    for try await count in rows.decode(Int.self) { return count }
    return 0
}

func transactionIDs(_ store: EventStore, positions: [Int64]) async throws -> Set<String> {
    let rows = try await store.client.query(
        "SELECT DISTINCT tx_id::text FROM eventlog.events WHERE global_position = ANY(\(positions))")
    var transactions = Set<String>()
    for try await id in rows.decode(String.self) { transactions.insert(id) }
    return transactions
}

@Suite("Group commit without a database")
struct GroupCommitDeadlineTests {
    final class Outcomes: Sendable {
        let list = Mutex<[String]>([])
    }

    /// Two rounds of three writers appending at once to streams of their own; each round's
    /// outcomes ("appended" or the error's text) once all three have ended.
    static func rounds(of store: EventStore, prefix: String, within limit: Duration) async throws -> [[String]] {
        var rounds: [[String]] = []
        for round in 0..<2 {
            let outcomes = Outcomes()
            let writers = (0..<3).map { writer in
                Task {
                    let outcome: String
                    do {
                        try await store.append([note("x")], to: try stream("\(prefix)-\(round)-\(writer)"))
                        outcome = "appended"
                    } catch {
                        outcome = "\(error)"
                    }
                    outcomes.list.withLock { $0.append(outcome) }
                }
            }
            rounds.append(try await eventually(within: limit, pollingEvery: .milliseconds(100), "round \(round)'s appends to end") {
                outcomes.list.withLock { $0.count == 3 ? $0 : nil }
            })
            for writer in writers { await writer.value }
        }
        return rounds
    }

    @Test("appends that get no connection fail after the deadline, leader and followers alike, and the next ones lead again")
    func connectionDeadline() async throws {
        // Nothing listens on port 1: the pool keeps trying to connect and never has a connection.
        let configuration = PostgresClient.Configuration(host: "127.0.0.1", port: 1, username: "nobody", password: nil,
                                                         database: "nothing", tls: .disable)
        let client = PostgresClient(configuration: configuration, backgroundLogger: TestDatabase.logger)
        var log = EventLogConfiguration()
        log.groupCommitConnectionDeadline = .seconds(1)
        let store = EventStore(client: client, configuration: log, logger: TestDatabase.logger)
        try await client.whileRunning {
            for ended in try await Self.rounds(of: store, prefix: "deadline", within: .seconds(120)) {
                #expect(ended.allSatisfy { $0.contains("no database connection within 1 s") }, "\(ended)")
            }
        }
    }
}

/// A PostgreSQL server that lets clients in and then never answers: it completes the start-up
/// (authentication, backend key, ready for query) and reads whatever comes after without a reply,
/// until the client closes. It counts the connections clients closed.
final class SilentPostgres: Sendable {
    let port: Int
    private let listener: Int32
    private let closedCount = Mutex(0)

    var closed: Int { closedCount.withLock { $0 } }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listener, socketAddress, length) == 0 && listen(listener, 16) == 0
                    && getsockname(listener, socketAddress, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
        self.listener = listener
        self.port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in self.accept() }
    }

    /// Closing the listener ends the accepting thread; connections end when their clients close.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func accept() {
        while true {
            let connection = Foundation.accept(listener, nil, nil)
            guard connection >= 0 else { return }
            Thread.detachNewThread { [self] in self.serve(connection) }
        }
    }

    private func serve(_ connection: Int32) {
        defer {
            close(connection)
            closedCount.withLock { $0 += 1 }
        }
        // The start-up message: a length (itself included), then the rest.
        var header = [UInt8](repeating: 0, count: 4)
        guard read(connection, &header, 4) == 4 else { return }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        var rest = [UInt8](repeating: 0, count: max(length - 4, 0))
        let wanted = rest.count
        var got = 0
        while got < wanted {
            let count = rest.withUnsafeMutableBytes { read(connection, $0.baseAddress! + got, wanted - got) }
            guard count > 0 else { return }
            got += count
        }
        let ready: [UInt8] = [
            UInt8(ascii: "R"), 0, 0, 0, 8, 0, 0, 0, 0,                 // authentication ok
            UInt8(ascii: "K"), 0, 0, 0, 12, 0, 0, 0, 42, 0, 0, 0, 7,   // backend key data
            UInt8(ascii: "Z"), 0, 0, 0, 5, UInt8(ascii: "I"),          // ready for query, idle
        ]
        guard write(connection, ready, ready.count) == ready.count else { return }
        var sink = [UInt8](repeating: 0, count: 4_096)
        while read(connection, &sink, sink.count) > 0 {}
    }
}

extension GroupCommitDeadlineTests {
    @Test("a batch whose statement never returns fails after the statement deadline, its connection is closed, and the next batch leads")
    func statementDeadline() async throws {
        let silent = try SilentPostgres()
        defer { silent.stop() }
        let configuration = PostgresClient.Configuration(host: "127.0.0.1", port: silent.port, username: "nobody", password: nil,
                                                         database: "nothing", tls: .disable)
        let client = PostgresClient(configuration: configuration, backgroundLogger: TestDatabase.logger)
        var log = EventLogConfiguration()
        log.groupCommitConnectionDeadline = .seconds(1)
        log.groupCommitStatementDeadline = .seconds(2)
        let store = EventStore(client: client, configuration: log, logger: TestDatabase.logger)
        try await client.whileRunning {
            for ended in try await Self.rounds(of: store, prefix: "silent", within: .seconds(60)) {
                #expect(ended.allSatisfy { $0.contains("did not answer an append within 2 s") }, "\(ended)")
            }
            _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "the silent connections to be closed") {
                silent.closed >= 2 ? true : nil
            }
        }
    }
}
