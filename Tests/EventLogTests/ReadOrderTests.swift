@testable import EventLog
import Foundation
import PostgresNIO
import Testing
import TestSupport

@Suite("Reading the whole log")
struct ReadOrderTests {
    @Test("an event whose transaction commits later with a lower position is not skipped")
    func lateCommitIsNotSkipped() async throws {
        try await TestDatabase.withStore { store in
            try await store.append([note("before")], to: try stream("notes-0"))
            try await store.awaitReadable()
            try await store.client.withConnection { slow in
                try await store.client.withConnection { fast in
                    // The slow transaction takes the lower position, then waits.
                    try await slow.query("BEGIN", logger: TestDatabase.logger)
                    let low = try await store.append([StreamAppend(stream: try stream("notes-slow"), events: [try note("slow")])], on: slow)
                    // The fast one takes a higher position and commits first.
                    try await fast.query("BEGIN", logger: TestDatabase.logger)
                    let high = try await store.append([StreamAppend(stream: try stream("notes-fast"), events: [try note("fast")])], on: fast)
                    try await fast.query("COMMIT", logger: TestDatabase.logger)
                    #expect(low[0].positions[0] < high[0].positions[0])

                    // A reader that went by position alone would now move past the slow event.
                    // The log's read holds the fast event back while the slow transaction runs.
                    let early = try await store.read(after: .start)
                    #expect(!early.map(\.stream).contains("notes-fast"))

                    try await slow.query("COMMIT", logger: TestDatabase.logger)
                    let cursor = early.last?.cursor ?? .start
                    #expect(early.map(\.stream) == ["notes-0"])
                    let late = try await eventually("both late events readable") {
                        let events = try await store.read(after: cursor)
                        return events.count == 2 ? events : nil
                    }
                    #expect(late.map(\.stream) == ["notes-slow", "notes-fast"])
                }
            }
            try await store.awaitReadable()
            let all = try await store.read(after: .start)
            #expect(all.map(\.stream) == ["notes-0", "notes-slow", "notes-fast"])
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.cursor < $1.cursor })
        }
    }

    @Test("reads filter by category and page by cursor")
    func categoriesAndPaging() async throws {
        try await TestDatabase.withStore { store in
            for index in 0..<10 {
                try await store.append([note("n\(index)", index)], to: try stream(index.isMultiple(of: 2) ? "even-\(index)" : "odd-\(index)"))
            }
            try await store.awaitReadable()
            var cursor = LogCursor.start
            var seen: [Int] = []
            while true {
                let page = try await store.read(after: cursor, category: "even", limit: 2)
                guard let last = page.last else { break }
                seen += try page.map { try $0.decode(as: NoteWritten.self).number }
                cursor = last.cursor
            }
            #expect(seen == [0, 2, 4, 6, 8])
            let byPosition = try await store.read(positions: 3...5)
            #expect(byPosition.map(\.position) == [3, 4, 5])
            let oneStream = try await store.read(positions: 1...Int64.max, stream: try stream("odd-7"))
            #expect(try oneStream.map { try $0.decode(as: NoteWritten.self).number } == [7])
        }
    }

    @Test("a subscription is woken by NOTIFY from another client and sees every event once")
    func subscriptionWakesOnNotify() async throws {
        try await TestDatabase.withClient { client, endpoint in
            let reader = EventStore(client: client, logger: TestDatabase.logger)
            // A second client stands in for another process appending.
            let otherClient = PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: 4), backgroundLogger: TestDatabase.logger)
            let writer = EventStore(client: otherClient, logger: TestDatabase.logger)
            try await otherClient.whileRunning { try await reader.whileRunning { try await writer.whileRunning {
                let received = try await withThrowingTaskGroup(of: [Int].self) { inner in
                    inner.addTask {
                        var numbers: [Int] = []
                        for try await event in reader.subscribe(after: .start) {
                            numbers.append(try event.decode(as: NoteWritten.self).number)
                            if numbers.count == 20 { break }
                        }
                        return numbers
                    }
                    inner.addTask {
                        // A notification with no new events is only a wake-up: nothing is read twice.
                        try await client.query("SELECT pg_notify('pillarbox_events', 'nothing new')")
                        for index in 0..<20 {
                            try await writer.append([note("n", index)], to: try stream("notes-\(index % 3)"))
                        }
                        return []
                    }
                    var result: [Int] = []
                    for try await numbers in inner { result += numbers }
                    return result
                }
                #expect(received == Array(0..<20))

                // The wake-ups came from PostgreSQL's NOTIFY: the reader's notifier counted them.
                let before = reader.notifier.generation
                try await writer.append([note("one more")], to: try stream("notes-0"))
                _ = try await eventually("a NOTIFY reaching the reader") {
                    reader.notifier.generation > before ? true : nil
                }
            } } }
        }
    }
}
