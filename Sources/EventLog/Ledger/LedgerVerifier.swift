import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Recomputes every event's content hash and the ledger's chain, checks the chain against the
/// signed heads (those in `eventlog.ledger_checkpoints`, and one kept outside the database when
/// given), re-hashes every message body, and names the first thing that does not match.
public struct LedgerVerifier: Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let position: Int64
        public let eventID: UUID?
        public let stream: String?
        public let reason: String

        public var description: String {
            var text = "event at position \(position)"
            if let stream { text += " (stream \(stream)" + (eventID.map { ", event \($0.uuidString.lowercased())" } ?? "") + ")" }
            return text + ": \(reason)"
        }
    }

    /// What to check besides the chain itself.
    public struct Options: Sendable {
        /// The public key signed heads must carry (the key directory's); nil to accept the key
        /// the signed heads agree on.
        public var trustedKey: [UInt8]?
        /// A head kept outside the database (`pillarbox log head`), which the log must still match.
        public var head: LedgerHead?
        /// Re-hash every stored message body.
        public var checkBlobs = true
        /// The event types that record erased bodies (`ErasureRecord`): an erased body is
        /// checked against the digest its erasure recorded.
        public var erasureTypes: [String] = []
        /// Told, after each batch of events checked, the position the check has reached.
        public var progress: (@Sendable (Int64) -> Void)?

        public init(trustedKey: [UInt8]? = nil, head: LedgerHead? = nil, checkBlobs: Bool = true, erasureTypes: [String] = []) {
            self.trustedKey = trustedKey
            self.head = head
            self.checkBlobs = checkBlobs
            self.erasureTypes = erasureTypes
        }
    }

    public struct Report: Sendable {
        /// Events covered by the ledger and checked against it.
        public var sealed: Int64 = 0
        /// Events not sealed yet (their content hashes were still checked).
        public var unsealed: Int64 = 0
        /// Signed heads the chain was checked against.
        public var signedHeads = 0
        /// The newest signed head in the database.
        public var newestHead: LedgerHead?
        /// Message bodies re-hashed.
        public var blobs: Int64 = 0
        /// Sealed message bodies no key opens any more (erased): their stored bytes checked
        /// against the digest their erasure recorded, when it recorded one.
        public var erasedBlobs: Int64 = 0
        /// Of those, the ones erased before erasures recorded digests: not checkable.
        public var erasedUnrecorded: Int64 = 0
        /// Erased bodies deleted since (`log compact-erased`).
        public var removedBlobs: Int64 = 0
        /// The first mismatch, or nil when the log is intact.
        public var failure: Failure?
    }

    let store: EventStore
    let logger: Logger
    let batchSize: Int

    public init(store: EventStore, batchSize: Int = 5_000, logger: Logger) {
        self.store = store
        self.batchSize = batchSize
        self.logger = logger
    }

    var client: PostgresClient { store.client }

    private typealias EventColumns = (Int64?, UUID?, String?, Int64?, String?, Int16?, Int16?, Int32?, UUID?, UUID?, Int64?, ByteBuffer?, ByteBuffer?)
    private static let eventColumns = """
        e.global_position, e.event_id, s.stream_key, e.stream_version, e.type, e.type_version, e.codec, e.dict_id,
        e.correlation_id, e.causation_id, (extract(epoch FROM e.recorded_at) * 1000000)::bigint, e.content_hash, e.payload
        """

    public func verify(_ options: Options = .init()) async throws -> Report {
        var report = Report()
        let heads: [Int64: LedgerHead]
        switch try await loadHeads(options, report: &report) {
        case .success(let loaded): heads = loaded
        case .failure(let failure):
            report.failure = failure
            return report
        }
        var sequence: Int64 = 0
        var previous = LedgerChain.genesis
        var lastCursor = LogCursor.start
        var lastMatchedHead: Int64 = 0

        // 1. The ledger, link by link, against the events it seals and the signed heads.
        while true {
            let rows = try await client.query("""
                SELECT l.seq, l.global_position, (l.tx_id::text)::bigint, l.chain_hash, (e.tx_id::text)::bigint,
                       \(unescaped: Self.eventColumns)
                FROM eventlog.ledger l
                LEFT JOIN eventlog.events e ON e.global_position = l.global_position
                LEFT JOIN eventlog.streams s ON s.stream_id = e.stream_id
                WHERE l.seq > \(sequence) ORDER BY l.seq LIMIT \(batchSize)
                """, logger: logger)
            var count = 0
            for try await row in rows.decode((Int64, Int64, Int64, ByteBuffer, Int64?, Int64?, UUID?, String?, Int64?, String?, Int16?, Int16?, Int32?, UUID?, UUID?, Int64?, ByteBuffer?, ByteBuffer?).self) {
                count += 1
                let (seq, position, transaction, chainHash, eventTransaction,
                     eventPosition, eventID, stream, version, type, typeVersion, codec, dictionaryID,
                     correlationID, causationID, recordedAt, contentHash, payload) = row
                let event: EventColumns = (eventPosition, eventID, stream, version, type, typeVersion, codec, dictionaryID,
                                           correlationID, causationID, recordedAt, contentHash, payload)
                guard seq == sequence + 1 else {
                    report.failure = Failure(position: position, eventID: eventID, stream: stream,
                                             reason: "ledger sequence jumps from \(sequence) to \(seq): ledger rows were removed")
                    return report
                }
                sequence = seq
                guard eventTransaction != nil else {
                    report.failure = Failure(position: position, eventID: nil, stream: nil,
                                             reason: "sealed in the ledger (seq \(seq)) but missing from eventlog.events")
                    return report
                }
                let cursor = LogCursor(transaction: UInt64(bitPattern: transaction), position: position)
                guard eventTransaction == transaction, cursor > lastCursor else {
                    report.failure = Failure(position: position, eventID: eventID, stream: stream,
                                             reason: "its transaction id differs from the one sealed in the ledger")
                    return report
                }
                lastCursor = cursor
                if let failure = Self.checkContent(event) {
                    report.failure = failure
                    return report
                }
                previous = LedgerChain.link(previous: previous, sequence: seq, position: position,
                                            contentHash: Array(contentHash!.readableBytesView))
                guard previous == Array(chainHash.readableBytesView) else {
                    report.failure = Failure(position: position, eventID: eventID, stream: stream,
                                             reason: "the ledger's chain hash at seq \(seq) does not match its content hash")
                    return report
                }
                if let head = heads[seq] {
                    guard head.chainHash == previous, head.position == position else {
                        report.failure = Failure(
                            position: position, eventID: eventID, stream: stream,
                            reason: "the chain at seq \(seq) differs from the head signed at \(Self.time(head.signedAt)) "
                                + "(key \(head.keyID)): an event sealed at seq \(lastMatchedHead + 1)…\(seq) was rewritten "
                                + "and the ledger re-chained after it")
                        return report
                    }
                    lastMatchedHead = seq
                }
                report.sealed += 1
            }
            options.progress?(lastCursor.position)
            if count < batchSize { break }
        }
        if let beyond = heads.keys.filter({ $0 > sequence }).min(), let head = heads[beyond] {
            report.failure = Failure(position: head.position, eventID: nil, stream: nil,
                                     reason: "a head signed at \(Self.time(head.signedAt)) covers ledger seq \(beyond), but the "
                                         + "ledger ends at seq \(sequence): ledger rows were removed")
            return report
        }

        // 2. No event may hide inside the sealed range without a ledger row.
        let intruders = try await client.query("""
            SELECT \(unescaped: Self.eventColumns)
            FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
            WHERE (e.tx_id, e.global_position) <= (\(String(lastCursor.transaction))::xid8, \(lastCursor.position))
              AND NOT EXISTS (SELECT 1 FROM eventlog.ledger l WHERE l.global_position = e.global_position)
            ORDER BY e.tx_id, e.global_position LIMIT 1
            """, logger: logger)
        for try await event in intruders.decode(EventColumns.self) {
            report.failure = Failure(position: event.0 ?? 0, eventID: event.1, stream: event.2,
                                     reason: "lies inside the sealed part of the log but has no ledger row")
            return report
        }

        // 3. Events not sealed yet: their own hashes at least.
        var cursor = lastCursor
        while true {
            let rows = try await client.query("""
                SELECT (e.tx_id::text)::bigint, \(unescaped: Self.eventColumns)
                FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                WHERE (e.tx_id, e.global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
                ORDER BY e.tx_id, e.global_position LIMIT \(batchSize)
                """, logger: logger)
            var count = 0
            for try await row in rows.decode((Int64, Int64?, UUID?, String?, Int64?, String?, Int16?, Int16?, Int32?, UUID?, UUID?, Int64?, ByteBuffer?, ByteBuffer?).self) {
                count += 1
                let (transaction, position, eventID, stream, version, type, typeVersion, codec, dictionaryID,
                     correlationID, causationID, recordedAt, contentHash, payload) = row
                cursor = LogCursor(transaction: UInt64(bitPattern: transaction), position: position ?? 0)
                if let failure = Self.checkContent((position, eventID, stream, version, type, typeVersion, codec, dictionaryID,
                                                    correlationID, causationID, recordedAt, contentHash, payload)) {
                    report.failure = failure
                    return report
                }
                report.unsealed += 1
            }
            options.progress?(cursor.position)
            if count < batchSize { break }
        }

        // 4. Every message body against its address.
        if options.checkBlobs {
            report.failure = try await checkBlobs(options: options, report: &report)
        }
        return report
    }

    /// The signed heads by ledger seq, each with a valid signature from one trusted key, plus
    /// the head kept outside; a failure when a signature or a key is wrong.
    private func loadHeads(_ options: Options, report: inout Report) async throws -> Result<[Int64: LedgerHead], Failure> {
        var heads: [Int64: LedgerHead] = [:]
        var key = options.trustedKey
        let rows = try await client.query("""
            SELECT seq, global_position, chain_hash, signed_micros, public_key, signature
            FROM eventlog.ledger_checkpoints ORDER BY seq
            """, logger: logger)
        var signed: [LedgerHead] = []
        for try await (seq, position, hash, micros, publicKey, signature) in rows.decode((Int64, Int64, ByteBuffer, Int64, ByteBuffer, ByteBuffer).self) {
            signed.append(LedgerHead(seq: seq, position: position, chainHash: Array(hash.readableBytesView), signedMicros: micros,
                                     publicKey: Array(publicKey.readableBytesView), signature: Array(signature.readableBytesView)))
        }
        if let outside = options.head {
            guard outside.hasValidSignature else {
                return .failure(Failure(position: outside.position, eventID: nil, stream: nil,
                                        reason: "the head given to check against does not carry a valid signature"))
            }
            if key == nil { key = outside.publicKey }
        }
        for head in signed {
            guard head.hasValidSignature else {
                return .failure(Failure(position: head.position, eventID: nil, stream: nil,
                                        reason: "the signed head at ledger seq \(head.seq) has a wrong signature: it was forged or altered"))
            }
            if key == nil { key = head.publicKey }
            guard head.publicKey == key else {
                return .failure(Failure(position: head.position, eventID: nil, stream: nil,
                                        reason: "the head at ledger seq \(head.seq) is signed with key \(head.keyID), not the server's key"))
            }
            heads[head.seq] = head
        }
        if let outside = options.head {
            guard outside.publicKey == key else {
                return .failure(Failure(position: outside.position, eventID: nil, stream: nil,
                                        reason: "the head given to check against is signed with key \(outside.keyID), not the server's key"))
            }
            if let stored = heads[outside.seq], stored != outside {
                return .failure(Failure(position: outside.position, eventID: nil, stream: nil,
                                        reason: "the signed head stored for ledger seq \(outside.seq) differs from the one given: "
                                            + "the stored heads were replaced"))
            }
            heads[outside.seq] = outside
        }
        report.signedHeads = heads.count
        report.newestHead = signed.last
        return .success(heads)
    }

    /// Re-hashes every blob (in pieces for chunked ones), opening sealed ones through any live
    /// wrap; the first mismatch, with the events that refer to it. A sealed body whose every
    /// wrap was destroyed cannot be opened, by this check either: its stored bytes are checked
    /// against the digest its erasure recorded instead.
    private func checkBlobs(options: Options, report: inout Report) async throws -> Failure? {
        var after = ByteBuffer(bytes: [UInt8]())
        var erased: [BlobID] = []
        while true {
            let rows = try await client.query("""
                SELECT \(unescaped: EventStore.storedBlobColumns)
                WHERE b.sha256 > \(after) ORDER BY b.sha256 LIMIT 64
                """, logger: logger)
            var count = 0
            var chunked: [EventStore.StoredBlob] = []
            var bad: BlobID?
            for try await row in rows.decode(EventStore.StoredBlobRow.self) {
                count += 1
                after = row.0
                let stored: EventStore.StoredBlob
                do {
                    stored = try store.storedBlob(row)
                } catch is BlobErased {
                    report.erasedBlobs += 1
                    erased.append(BlobID(digest: Array(row.0.readableBytesView)))
                    continue
                } catch is KeyStore.Failure {
                    if bad == nil { bad = BlobID(digest: Array(row.0.readableBytesView)) }
                    continue
                }
                if stored.chunks > 0 {
                    chunked.append(stored)
                    continue
                }
                report.blobs += 1
                do {
                    let bytes = try await store.decodePiece(of: stored.id, piece: 0, codec: stored.codec,
                                                            dictionaryID: stored.dictionaryID, data: stored.data,
                                                            dataKey: stored.dataKey)
                    if bad == nil, Array(SHA256.hash(data: bytes)) != stored.id.bytes { bad = stored.id }
                } catch is BlobTampered {
                    if bad == nil { bad = stored.id }
                }
            }
            for stored in chunked where bad == nil {
                var hasher = SHA256()
                do {
                    try await client.withConnection { connection in
                        try await store.forEachChunk(of: stored, on: connection) { hasher.update(data: $0) }
                    }
                    if Array(hasher.finalize()) != stored.id.bytes { bad = stored.id }
                } catch is BlobTampered {
                    bad = stored.id
                }
                report.blobs += 1
            }
            if let bad { return try await blobFailure(bad) }
            if count < 64 { break }
        }
        return try await checkErased(erased, options: options, report: &report)
    }

    /// Checks each erased body's stored bytes against the digest its erasure recorded (the
    /// latest erasure naming it, in case it was stored again and erased again), and counts the
    /// recorded ones no longer stored.
    private func checkErased(_ erased: [BlobID], options: Options, report: inout Report) async throws -> Failure? {
        guard !options.erasureTypes.isEmpty else {
            report.erasedUnrecorded = Int64(erased.count)
            return nil
        }
        let recorded = try await store.erasureRecords(types: options.erasureTypes)
        for batch in stride(from: 0, to: erased.count, by: 256).map({ Array(erased[$0..<min($0 + 256, erased.count)]) }) {
            let rows = try await client.query("""
                SELECT sha256, eventlog.stored_digest(sha256) FROM eventlog.blobs
                 WHERE sha256 = ANY(\(batch.map { ByteBuffer(bytes: $0.bytes) }))
                """, logger: logger)
            for try await (key, digest) in rows.decode((ByteBuffer, ByteBuffer).self) {
                let id = BlobID(digest: Array(buffer: key))
                guard let (body, event) = recorded[id] else {
                    report.erasedUnrecorded += 1
                    continue
                }
                guard body.intact else {
                    return Failure(position: event.position, eventID: event.eventID, stream: event.stream,
                                   reason: "message body \(id.hex) had been altered before it was erased")
                }
                guard Array(buffer: digest).hexString == body.stored else {
                    return Failure(position: event.position, eventID: event.eventID, stream: event.stream,
                                   reason: "erased message body \(id.hex) does not match the digest its erasure recorded: "
                                       + "its stored bytes were altered after it was erased")
                }
            }
        }
        // Recorded bodies no longer stored: deleted by `log compact-erased`, or stored again
        // under a live wrap (then checked above as readable).
        let rows = try await client.query("""
            SELECT sha256 FROM eventlog.blobs WHERE sha256 = ANY(\(recorded.keys.map { ByteBuffer(bytes: $0.bytes) }))
            """, logger: logger)
        var stored = Set<BlobID>()
        for try await key in rows.decode(ByteBuffer.self) { stored.insert(BlobID(digest: Array(buffer: key))) }
        report.removedBlobs = Int64(recorded.keys.filter { !stored.contains($0) }.count)
        return nil
    }

    private func blobFailure(_ id: BlobID) async throws -> Failure {
        let referring = try await eventsReferring(to: id, limit: 10)
        let first = referring.first
        let list = referring.map { "\($0.position)" }.joined(separator: ", ")
        return Failure(position: first?.position ?? 0, eventID: first?.eventID, stream: first?.stream,
                       reason: "message body \(id.hex) does not match its SHA-256: its stored bytes were altered"
                           + (referring.isEmpty ? " (no event refers to it)" : "; events referring to it: \(list)"))
    }

    /// Events whose JSON names blob `id`, in position order.
    private func eventsReferring(to id: BlobID, limit: Int) async throws -> [RecordedEvent] {
        let needle = Array("\"\(id.hex)\"".utf8)
        var found: [RecordedEvent] = []
        var next: Int64 = 1
        while found.count < limit {
            let events = try await store.read(positions: next...Int64.max, limit: 2_000)
            guard let last = events.last else { break }
            for event in events where found.count < limit && event.json.firstRange(of: needle) != nil { found.append(event) }
            next = last.position + 1
        }
        return found
    }

    private static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }

    private static func checkContent(_ event: EventColumns) -> Failure? {
        guard let position = event.0, let eventID = event.1, let stream = event.2, let version = event.3,
              let type = event.4, let typeVersion = event.5, let codec = event.6, let recordedAt = event.10,
              let contentHash = event.11, let payload = event.12 else {
            return Failure(position: event.0 ?? 0, eventID: event.1, stream: event.2, reason: "the row is incomplete")
        }
        let expected = EventContentHash(
            eventID: eventID, streamKey: stream, streamVersion: version, type: type, typeVersion: typeVersion,
            codec: codec, dictionaryID: event.7, correlationID: event.8, causationID: event.9,
            recordedAtMicroseconds: recordedAt, payload: Array(payload.readableBytesView)
        ).digest
        if expected != Array(contentHash.readableBytesView) {
            return Failure(position: position, eventID: eventID, stream: stream,
                           reason: "its stored bytes do not match its content hash: the row was altered after it was written")
        }
        return nil
    }
}
