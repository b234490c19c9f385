import EventLog
import Foundation
import PostgresNIO
import Testing
import TestSupport

@Suite("Consumers and checkpoints")
struct ConsumerTests {
    /// A consumer that copies note numbers into a table in its own transaction.
    static func consumer(_ store: EventStore, name: String = "copier", failOn: Int? = nil) -> LogConsumer {
        LogConsumer(name: name, store: store, registry: EventTypeRegistry([NoteWritten.self]), batchSize: 7,
                    logger: TestDatabase.logger) { batch, connection in
            for item in batch.items {
                let number = (item.event as! NoteWritten).number
                if number == failOn { throw TestFailure() }
                try await connection.query("INSERT INTO copied (position, number) VALUES (\(item.recorded.position), \(number))", logger: TestDatabase.logger)
            }
        }
    }

    struct TestFailure: Error {}

    static func copied(_ store: EventStore) async throws -> [Int] {
        var numbers: [Int] = []
        for try await number in try await store.client.query("SELECT number FROM copied ORDER BY position").decode(Int.self) {
            numbers.append(number)
        }
        return numbers
    }

    @Test("a consumer resumes after its checkpoint, which commits with its rows")
    func resumesFromCheckpoint() async throws {
        try await TestDatabase.withStore { store in
            try await store.client.query("CREATE TABLE copied (position bigint PRIMARY KEY, number int)")
            for index in 0..<20 {
                try await store.append([note("n", index)], to: try stream("notes-\(index % 4)"))
            }
            try await store.awaitReadable()
            #expect(try await Self.consumer(store).catchUp() == 20)
            #expect(try await Self.copied(store) == Array(0..<20))

            // Nothing new: nothing handled twice.
            #expect(try await Self.consumer(store).catchUp() == 0)
            for index in 20..<25 {
                try await store.append([note("n", index)], to: try stream("notes-0"))
            }
            try await store.awaitReadable()
            #expect(try await Self.consumer(store).catchUp() == 5)
            #expect(try await Self.copied(store) == Array(0..<25))

            let checkpoint = try await ConsumerCheckpoints.load("copier", client: store.client, logger: TestDatabase.logger)
            let last = try #require(try await store.read(after: .start, limit: 100).last)
            #expect(checkpoint == last.cursor)
        }
    }

    @Test("a batch that fails rolls back its rows and its checkpoint together")
    func failureRollsBackBoth() async throws {
        try await TestDatabase.withStore { store in
            try await store.client.query("CREATE TABLE copied (position bigint PRIMARY KEY, number int)")
            for index in 0..<10 {
                try await store.append([note("n", index)], to: try stream("notes-1"))
            }
            try await store.awaitReadable()
            // Batches of 7: the first commits, the second fails on number 9.
            await #expect(throws: TestFailure.self) {
                try await Self.consumer(store, failOn: 9).catchUp()
            }
            #expect(try await Self.copied(store) == Array(0..<7))
            // Fixed and run again: it carries on from 7, each row exactly once.
            #expect(try await Self.consumer(store).catchUp() == 3)
            #expect(try await Self.copied(store) == Array(0..<10))
        }
    }

    @Test("events of unknown types or newer schema versions are skipped, not fatal")
    func unknownTypesAreSkipped() async throws {
        try await TestDatabase.withStore { store in
            try await store.client.query("CREATE TABLE copied (position bigint PRIMARY KEY, number int)")
            try await store.append([
                try note("known", 1),
                EventData(type: "invented_later", typeVersion: 1, json: Array(#"{"whatever":true}"#.utf8)),
                EventData(type: NoteWritten.eventType, typeVersion: 9, json: Array(#"{"reshaped":1}"#.utf8)),
                EventData(type: NoteWritten.eventType, typeVersion: 1, json: Array(#"{"not":"a note"}"#.utf8)),
                try note("known", 2),
            ], to: try stream("notes-1"))
            try await store.awaitReadable()
            #expect(try await Self.consumer(store).catchUp() == 5)
            #expect(try await Self.copied(store) == [1, 2])
        }
    }

    @Test("a running consumer service follows appends as they commit")
    func followsTheLog() async throws {
        try await TestDatabase.withStore { store in
            try await store.client.query("CREATE TABLE copied (position bigint PRIMARY KEY, number int)")
            let consumer = Self.consumer(store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await consumer.run() }
                defer { group.cancelAll() }
                for index in 0..<12 {
                    try await store.append([note("n", index)], to: try stream("notes-\(index % 2)"))
                }
                _ = try await eventually("the consumer to copy 12 notes") {
                    try await Self.copied(store).count == 12 ? true : nil
                }
            }
            #expect(try await Self.copied(store) == Array(0..<12))
        }
    }
}
