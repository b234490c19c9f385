@testable import EventLog
import Foundation
import Synchronization
import Testing

/// The followers' shared window over the log, against a log kept in memory.
@Suite("The followers' log window")
struct LogWindowTests {
    /// A log of `count` events, alternately of the categories `mail` and `note`, one per transaction.
    final class MemoryLog: Sendable {
        let events: [RecordedEvent]
        let reads = Mutex<[(after: LogCursor, through: LogCursor, limit: Int)]>([])

        init(count: Int) {
            var events: [RecordedEvent] = []
            let json = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
            for number in 1...count {
                let stream = number % 2 == 0 ? "mail-\(number)" : "note-\(number)"
                events.append(RecordedEvent(position: Int64(number), transaction: UInt64(100 + number), stream: stream,
                                            streamVersion: 0, type: "test", typeVersion: 1, eventID: UUID(), correlationID: nil,
                                            causationID: nil, recordedAt: Date(), json: json))
            }
            self.events = events
        }

        var readCount: Int { reads.withLock { $0.count } }

        func read(after: LogCursor, through: LogCursor, limit: Int) async throws -> [RecordedEvent] {
            reads.withLock { $0.append((after, through, limit)) }
            return Array(events.filter { $0.cursor > after && $0.cursor <= through }.prefix(limit))
        }

        func cursor(_ number: Int) -> LogCursor { number == 0 ? .start : events[number - 1].cursor }

        /// Asks `window` for every category after event `after` up to event `through`: the
        /// positions answered, or nil for "read the database".
        func ask(_ window: LogWindow, after: Int, through: Int) async throws -> [Int64]? {
            try await window.events(after: cursor(after), through: cursor(through), categories: [], limit: 1_000, batch: 500,
                                    read: read)?.events.map(\.position)
        }

        /// What the database itself would answer.
        func expected(after: LogCursor, through: LogCursor, categories: Set<String>, limit: Int) -> [Int64] {
            Array(events.filter { $0.cursor > after && $0.cursor <= through }
                .filter { categories.isEmpty || categories.contains(String($0.stream.prefix(4))) }
                .prefix(limit).map(\.position))
        }
    }

    @Test("followers at different places read the same stretch from the database once")
    func sharedRead() async throws {
        let log = MemoryLog(count: 100)
        let window = LogWindow()
        let horizon = log.cursor(100)
        let first = try #require(try await window.events(after: log.cursor(0), through: horizon, categories: ["mail"], limit: 1_000,
                                                         batch: 500, read: log.read))
        #expect(first.events.map(\.position) == log.expected(after: .start, through: horizon, categories: ["mail"], limit: 1_000))
        #expect(first.next == horizon)
        // A follower a little behind, of the other category, with a small batch.
        let second = try #require(try await window.events(after: log.cursor(10), through: horizon, categories: ["note"], limit: 5,
                                                          batch: 500, read: log.read))
        #expect(second.events.map(\.position) == [11, 13, 15, 17, 19])
        #expect(second.next == log.cursor(19))
        #expect(log.readCount == 1)
    }

    @Test("the window reads on to a newer horizon from its end, never again from the start")
    func readsOn() async throws {
        let log = MemoryLog(count: 100)
        let window = LogWindow()
        _ = try await log.ask(window, after: 0, through: 40)
        #expect(try await log.ask(window, after: 30, through: 70) == Array(31...70))
        let reads = log.reads.withLock { $0 }
        #expect(reads.count == 2)
        #expect(reads[1].after == log.cursor(40) && reads[1].through == log.cursor(70))
    }

    @Test("a read cut short by its batch size leaves the window at its last event, and the next read goes on from there")
    func batchLimit() async throws {
        let log = MemoryLog(count: 100)
        let window = LogWindow()
        let answer = try #require(try await window.events(after: .start, through: log.cursor(100), categories: [], limit: 1_000,
                                                          batch: 30, read: log.read))
        #expect(answer.events.map(\.position) == log.expected(after: .start, through: log.cursor(100), categories: [], limit: 1_000))
        #expect(answer.next == log.cursor(100))
        #expect(log.readCount == 4)
    }

    @Test("a follower behind the window's start is told to read the database itself")
    func behindTheWindow() async throws {
        let log = MemoryLog(count: 100)
        let window = LogWindow(capacity: 20)
        _ = try await log.ask(window, after: 0, through: 100)
        // Only the newest 20 are held.
        #expect(try await log.ask(window, after: 50, through: 100) == nil)
        #expect(try await log.ask(window, after: 80, through: 100) == Array(81...100))
        #expect(log.readCount == 1)
    }

    @Test("a follower ahead of everything held starts the window again at its place")
    func restartAhead() async throws {
        let log = MemoryLog(count: 100)
        let window = LogWindow()
        _ = try await log.ask(window, after: 0, through: 10)
        #expect(try await log.ask(window, after: 60, through: 70) == Array(61...70))
        #expect(try await log.ask(window, after: 5, through: 70) == nil)
    }

    @Test("followers asking at once share one read")
    func concurrentFollowers() async throws {
        let log = MemoryLog(count: 2_000)
        let window = LogWindow()
        let horizon = log.cursor(2_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for follower in 0..<8 {
                    // Each with its own categories and batch size.
                group.addTask {
                    var cursor = LogCursor.start
                    var seen: [Int64] = []
                    let categories: Set<String> = follower % 2 == 0 ? ["mail"] : []
                    while cursor < horizon {
                        let answer = try #require(try await window.events(after: cursor, through: horizon, categories: categories,
                                                                          limit: 50 + follower * 10, batch: 500, read: log.read))
                        seen += answer.events.map(\.position)
                        cursor = answer.next
                    }
                    #expect(seen == log.expected(after: .start, through: horizon, categories: categories, limit: .max))
                }
            }
            try await group.waitForAll()
        }
        #expect(log.readCount == 4)
    }

    @Test("a failed read reaches every follower waiting for it, and the next read tries again")
    func failedRead() async throws {
        let log = MemoryLog(count: 10)
        let window = LogWindow()
        struct Broken: Error {}
        await #expect(throws: Broken.self) {
            try await window.events(after: .start, through: log.cursor(10), categories: [], limit: 100, batch: 500,
                                    read: { _, _, _ in throw Broken() })
        }
        let answer = try #require(try await window.events(after: .start, through: log.cursor(10), categories: [], limit: 100,
                                                          batch: 500, read: log.read))
        #expect(answer.events.count == 10)
    }
}
