@testable import EventLog
import Foundation
import NIOCore
import PostgresNIO
import Testing
import TestSupport

@Suite("Ledger")
struct LedgerTests {
    static func fill(_ store: EventStore) async throws -> [Int64] {
        var positions: [Int64] = []
        for index in 0..<30 {
            positions += try await store.append([note("entry", index)], to: try stream("notes-\(index % 3)")).positions
        }
        try await store.awaitReadable()
        #expect(try await LedgerSealer(store: store, logger: TestDatabase.logger).sealPending() == 30)
        return positions
    }

    static func verify(_ store: EventStore) async throws -> LedgerVerifier.Report {
        try await LedgerVerifier(client: store.client, batchSize: 7, logger: TestDatabase.logger).verify()
    }

    /// History can only change with the append-only triggers switched off, as a superuser would.
    static func tamper(_ store: EventStore, _ sql: PostgresQuery) async throws {
        try await store.client.withConnection { connection in
            try await connection.query("ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only", logger: TestDatabase.logger)
            try await connection.query(sql, logger: TestDatabase.logger)
            try await connection.query("ALTER TABLE eventlog.events ENABLE TRIGGER events_append_only", logger: TestDatabase.logger)
        }
    }

    @Test("an intact log verifies, sealed and unsealed parts alike")
    func intact() async throws {
        try await TestDatabase.withStore { store in
            _ = try await Self.fill(store)
            try await store.append([note("not sealed yet")], to: try stream("notes-0"))
            let report = try await Self.verify(store)
            #expect(report.failure == nil)
            #expect(report.sealed == 30)
            #expect(report.unsealed == 1)
        }
    }

    @Test("one altered payload byte is found, at that event")
    func alteredPayload() async throws {
        try await TestDatabase.withStore { store in
            let positions = try await Self.fill(store)
            let victim = positions[17]
            try await Self.tamper(store, """
                UPDATE eventlog.events SET payload = set_byte(payload, 3, get_byte(payload, 3) # 1)
                WHERE global_position = \(victim)
                """)
            let failure = try #require(try await Self.verify(store).failure)
            #expect(failure.position == victim)
            #expect(failure.description.contains("position \(victim)"))
        }
    }

    @Test("a payload altered together with its content hash breaks the chain at that event")
    func alteredPayloadAndHash() async throws {
        try await TestDatabase.withStore { store in
            let positions = try await Self.fill(store)
            let victim = positions[4]
            // A careful forger recomputes the content hash of the altered row as well.
            let original = try #require(try await store.read(positions: victim...victim).first)
            let rows = try await store.client.query("""
                SELECT e.codec, e.dict_id, e.payload, (extract(epoch FROM e.recorded_at) * 1000000)::bigint
                FROM eventlog.events e WHERE e.global_position = \(victim)
                """)
            for try await (codec, dictionaryID, payload, micros) in rows.decode((Int16, Int32?, ByteBuffer, Int64).self) {
                let forged = [UInt8](repeating: 0, count: 1) + Array(payload.readableBytesView)
                let hash = EventContentHash(
                    eventID: original.eventID, streamKey: original.stream, streamVersion: original.streamVersion,
                    type: original.type, typeVersion: original.typeVersion, codec: codec, dictionaryID: dictionaryID,
                    correlationID: nil, causationID: nil, recordedAtMicroseconds: micros, payload: forged).digest
                try await Self.tamper(store, """
                    UPDATE eventlog.events SET payload = \(ByteBuffer(bytes: forged)), content_hash = \(ByteBuffer(bytes: hash))
                    WHERE global_position = \(victim)
                    """)
            }
            let failure = try #require(try await Self.verify(store).failure)
            #expect(failure.position == victim)
            #expect(failure.reason.contains("chain"))
        }
    }

    @Test("a deleted event and the append-only triggers")
    func deletedEvent() async throws {
        try await TestDatabase.withStore { store in
            let positions = try await Self.fill(store)
            await #expect(throws: PSQLError.self) {
                try await store.client.query("DELETE FROM eventlog.events WHERE global_position = \(positions[0])")
            }
            await #expect(throws: PSQLError.self) {
                try await store.client.query("UPDATE eventlog.events SET type = 'x' WHERE global_position = \(positions[0])")
            }
            try await Self.tamper(store, "DELETE FROM eventlog.events WHERE global_position = \(positions[9])")
            let failure = try #require(try await Self.verify(store).failure)
            #expect(failure.position == positions[9])
        }
    }

    @Test("the sealer keeps up as a service and the chain stays dense")
    func sealerService() async throws {
        try await TestDatabase.withStore { store in
            let sealer = LedgerSealer(store: store, batchSize: 4, logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await sealer.run() }
                defer { group.cancelAll() }
                for index in 0..<10 {
                    try await store.append([note("n", index)], to: try stream("notes-x"))
                }
                _ = try await eventually("ten events sealed") {
                    let rows = try await store.client.query("SELECT count(*), max(seq) FROM eventlog.ledger")
                    for try await (count, top) in rows.decode((Int, Int64?).self) where count == 10 && top == 10 { return true }
                    return nil
                }
            }
            let report = try await Self.verify(store)
            #expect(report.failure == nil)
            #expect(report.sealed == 10)
        }
    }
}
