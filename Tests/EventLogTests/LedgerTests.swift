import Crypto
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
        try await LedgerVerifier(store: store, batchSize: 7, logger: TestDatabase.logger).verify()
    }

    static func verify(_ store: EventStore, _ options: LedgerVerifier.Options) async throws -> LedgerVerifier.Report {
        try await LedgerVerifier(store: store, batchSize: 7, logger: TestDatabase.logger).verify(options)
    }

    /// Rewrites event `victim`'s payload and recomputes its content hash with the database's own
    /// `eventlog.event_hash`, as the forger did.
    static func forge(_ store: EventStore, _ victim: Int64) async throws {
        try await tamper(store, """
            UPDATE eventlog.events e SET payload = '\\x00'::bytea || e.payload,
                content_hash = eventlog.event_hash(e.event_id, s.stream_key, e.stream_version, e.type, e.type_version, e.codec,
                    e.dict_id, e.correlation_id, e.causation_id, (extract(epoch FROM e.recorded_at) * 1000000)::bigint,
                    '\\x00'::bytea || e.payload)
            FROM eventlog.streams s WHERE s.stream_id = e.stream_id AND e.global_position = \(victim)
            """)
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

    @Test("a rewritten event with a recomputed hash and a re-chained ledger fails against the signed heads")
    func rechainedForgery() async throws {
        try await TestDatabase.withStore { store in
            let key = Curve25519.Signing.PrivateKey()
            let sealer = LedgerSealer(store: store, signing: .init(key: key, interval: .seconds(3_600)), logger: TestDatabase.logger)
            let positions = try await Self.fill(store)
            let kept = try #require(try await sealer.signHead())
            #expect(kept.seq == 30 && kept.hasValidSignature)
            #expect(try await Self.verify(store, .init(trustedKey: Array(key.publicKey.rawRepresentation))).failure == nil)

            try await Self.forge(store, positions[12])
            try await LedgerForgery.rechain(store.client, from: positions[12])
            // Without the signed heads the forgery holds together.
            try await store.client.withConnection { connection in
                try await connection.query("ALTER TABLE eventlog.ledger_checkpoints DISABLE TRIGGER ledger_checkpoints_append_only", logger: TestDatabase.logger)
                try await connection.query("DELETE FROM eventlog.ledger_checkpoints", logger: TestDatabase.logger)
                try await connection.query("ALTER TABLE eventlog.ledger_checkpoints ENABLE TRIGGER ledger_checkpoints_append_only", logger: TestDatabase.logger)
            }
            #expect(try await Self.verify(store).failure == nil)
            // The head an auditor kept outside the database catches it.
            let failure = try #require(try await Self.verify(store, .init(head: kept)).failure)
            #expect(failure.reason.contains("signed"), "\(failure)")
            #expect(failure.reason.contains("re-chained"), "\(failure)")
        }
    }

    @Test("a signed head stored in the database catches a re-chained forgery before it")
    func storedHeadCatchesForgery() async throws {
        try await TestDatabase.withStore { store in
            let key = Curve25519.Signing.PrivateKey()
            let sealer = LedgerSealer(store: store, signing: .init(key: key, interval: .zero), logger: TestDatabase.logger)
            let positions = try await Self.fill(store)
            try await sealer.signHead()
            try await Self.forge(store, positions[3])
            try await LedgerForgery.rechain(store.client, from: positions[3])
            let failure = try #require(try await Self.verify(store).failure)
            #expect(failure.reason.contains("re-chained"), "\(failure)")
            // A head signed by another key (one the forger made) is refused outright.
            let forger = Curve25519.Signing.PrivateKey()
            let rows = try await store.client.query("SELECT seq, global_position, chain_hash FROM eventlog.ledger ORDER BY seq DESC LIMIT 1")
            for try await (seq, position, hash) in rows.decode((Int64, Int64, ByteBuffer).self) {
                let forged = try LedgerHead.sign(seq: seq, position: position, chainHash: Array(hash.readableBytesView), at: Date(),
                                                 key: forger)
                let check = try await Self.verify(store, .init(trustedKey: Array(key.publicKey.rawRepresentation), head: forged))
                #expect(check.failure?.reason.contains("not the server's key") == true)
            }
        }
    }

    @Test("a ledger head reads back from its JSON line and refuses a changed field")
    func headJSON() throws {
        let key = Curve25519.Signing.PrivateKey()
        let head = try LedgerHead.sign(seq: 7, position: 42, chainHash: Array(repeating: 9, count: 32), at: Date(), key: key)
        let parsed = try LedgerHead(json: "noise\n" + head.json + "\n")
        #expect(parsed == head)
        #expect(parsed.hasValidSignature)
        let altered = LedgerHead(seq: 8, position: 42, chainHash: head.chainHash, signedMicros: head.signedMicros,
                                 publicKey: head.publicKey, signature: head.signature)
        #expect(!altered.hasValidSignature)
        #expect(throws: LedgerHead.ParseError.self) { try LedgerHead(json: "{\"seq\": 1}") }
    }
}
