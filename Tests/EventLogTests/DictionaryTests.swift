import EventLog
import Foundation
import Testing
import TestSupport

@Suite("Compression dictionaries")
struct DictionaryTests {
    static func typicalNote(_ index: Int) throws -> EventData {
        try note("delivery attempt to mx\(index % 7).example.net for user\(index % 13)@example.com: 250 2.0.0 Ok queued as \(index * 7919)", index)
    }

    @Test("new appends use the newest dictionary; rows written earlier keep decoding with theirs")
    func versionedDictionaries() async throws {
        try await TestDatabase.withStore { store in
            for chunk in stride(from: 0, to: 600, by: 100) {
                try await store.append(try (chunk..<chunk + 100).map(Self.typicalNote), to: try stream("delivery-\(chunk)"))
            }
            try await store.awaitReadable()
            let first = try await DictionaryTrainer(store: store, logger: TestDatabase.logger).train(samples: 600, capacity: 8_192)
            #expect(first.bytesWith < first.bytesWithout)
            try await store.append(try (600..<650).map(Self.typicalNote), to: try stream("delivery-600"))

            let second = try await DictionaryTrainer(store: store, logger: TestDatabase.logger).train(samples: 650, capacity: 8_192)
            #expect(second.id > first.id)
            try await store.append(try (650..<700).map(Self.typicalNote), to: try stream("delivery-650"))

            var dictionaries: [Int32?: Int] = [:]
            let rows = try await store.client.query("SELECT dict_id, count(*) FROM eventlog.events GROUP BY dict_id")
            for try await (id, count) in rows.decode((Int32?, Int).self) { dictionaries[id] = count }
            #expect(dictionaries == [nil: 600, first.id: 50, second.id: 50])

            // A store that has never seen either dictionary reads everything back.
            try await store.awaitReadable()
            let fresh = EventStore(client: store.client, logger: TestDatabase.logger)
            let all = try await fresh.read(after: .start, limit: 1_000)
            #expect(all.count == 700)
            #expect(try all.map { try $0.decode(as: NoteWritten.self).number } == Array(0..<700))
        }
    }
}
