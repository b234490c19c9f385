import EventLog
import Foundation
import NIOCore
import PostgresNIO
import Testing
import TestSupport

@Suite("Blobs")
struct BlobTests {
    @Test("a body referenced by many events is stored once, compressed, and reads back exactly")
    func storedOnce() async throws {
        try await TestDatabase.withStore { store in
            let line = Array("Subject: quarterly figures\r\nThe figures are in the attachment.\r\n".utf8)
            let body = BlobData(Array((0..<2_000).flatMap { _ in line }))
            let event = BodyStored(body: body.id)
            // One event per recipient mailbox, all in one atomic append, plus a later one.
            try await store.append((0..<50).map { index in
                StreamAppend(stream: try stream("mailbox-user\(index)"), events: [try EventData(event, blobs: [body])])
            })
            try await store.append([try EventData(event, blobs: [body, body])], to: try stream("mailbox-late"))

            let rows = try await store.client.query("SELECT count(*), sum(octet_length(data)), max(size) FROM eventlog.blobs")
            for try await (count, storedBytes, size) in rows.decode((Int, Int, Int64).self) {
                #expect(count == 1)
                #expect(size == Int64(body.bytes.count))
                #expect(storedBytes < body.bytes.count / 10, "zstd-compressed")
            }
            #expect(try await store.blob(body.id) == body.bytes)
            let recorded = try await store.read(stream: try stream("mailbox-user7"))
            #expect(try recorded[0].decode(as: BodyStored.self).body == body.id)
            #expect(try await store.blob(BlobID.of(Array("absent".utf8))) == nil)
        }
    }

    @Test("a failed append stores none of its blobs; a successful one does")
    func failedAppendStoresNothing() async throws {
        try await TestDatabase.withStore { store in
            let notes = try stream("mailbox-x")
            try await store.append([try note("first")], to: notes)
            let body = BlobData(Array("never stored".utf8))
            await #expect(throws: WrongExpectedVersion.self) {
                try await store.append([try EventData(BodyStored(body: body.id), blobs: [body])], to: notes, expectedVersion: .noStream)
            }
            #expect(try await store.blob(body.id) == nil)

            // The same append at the right version stores it.
            let stored = try await store.append([try EventData(BodyStored(body: body.id), blobs: [body])], to: notes, expectedVersion: .exactly(0))
            #expect(stored.streamVersion == 1)
            #expect(try await store.blob(body.id) == body.bytes)
        }
    }

    @Test("blobs refuse DELETE and TRUNCATE; a swapped body is never returned and verify names it")
    func swappedBody() async throws {
        try await TestDatabase.withStore { store in
            let body = BlobData(Array("Subject: the real one\r\n\r\npay invoice 17\r\n".utf8))
            let position = try await store.append([try EventData(BodyStored(body: body.id), blobs: [body])],
                                                  to: try stream("mailbox-victim")).positions[0]
            let key = ByteBuffer(bytes: body.id.bytes)
            await #expect(throws: PSQLError.self) { try await store.client.query("DELETE FROM eventlog.blobs WHERE sha256 = \(key)") }
            await #expect(throws: PSQLError.self) { try await store.client.query("TRUNCATE eventlog.blobs CASCADE") }
            await #expect(throws: PSQLError.self) { try await store.client.query("TRUNCATE eventlog.blob_chunks") }
            await #expect(throws: PSQLError.self) { try await store.client.query("UPDATE eventlog.blobs SET size = 1 WHERE sha256 = \(key)") }

            // As a superuser would: triggers off, the body replaced under the same address.
            let fake = Array("Subject: the real one\r\n\r\npay invoice 17 to account 666\r\n".utf8)
            try await store.client.withConnection { connection in
                try await connection.query("ALTER TABLE eventlog.blobs DISABLE TRIGGER USER", logger: TestDatabase.logger)
                try await connection.query("DELETE FROM eventlog.blobs WHERE sha256 = \(key)", logger: TestDatabase.logger)
                try await connection.query("""
                    INSERT INTO eventlog.blobs (sha256, size, codec, dict_id, data)
                    VALUES (\(key), \(Int64(fake.count)), 0, NULL, \(ByteBuffer(bytes: fake)))
                    """, logger: TestDatabase.logger)
                try await connection.query("ALTER TABLE eventlog.blobs ENABLE TRIGGER USER", logger: TestDatabase.logger)
            }
            await #expect(throws: BlobTampered(blob: body.id)) { try await store.blob(body.id) }
            let verifier = LedgerVerifier(store: store, logger: TestDatabase.logger)
            let failure = try #require(try await verifier.verify().failure)
            #expect(failure.reason.contains(body.id.hex))
            #expect(failure.position == position)
            #expect(try await verifier.verify(.init(checkBlobs: false)).failure == nil)
        }
    }
}
