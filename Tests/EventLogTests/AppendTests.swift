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
            for round in 0..<2 {
                let outcomes = Outcomes()
                let writers = (0..<3).map { writer in
                    Task {
                        let outcome: String
                        do {
                            try await store.append([note("x")], to: try stream("deadline-\(round)-\(writer)"))
                            outcome = "appended"
                        } catch {
                            outcome = "\(error)"
                        }
                        outcomes.list.withLock { $0.append(outcome) }
                    }
                }
                let ended = try await eventually(within: .seconds(120), pollingEvery: .milliseconds(100), "round \(round)'s appends to end") {
                    outcomes.list.withLock { $0.count == 3 ? $0 : nil }
                }
                for writer in writers { await writer.value }
                #expect(ended.allSatisfy { $0.contains("no database connection within 1 s") }, "\(ended)")
            }
        }
    }
}
