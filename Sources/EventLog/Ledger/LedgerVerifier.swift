import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Recomputes every event's content hash and the ledger's chain, and names the first event
/// that does not match.
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

    public struct Report: Sendable {
        /// Events covered by the ledger and checked against it.
        public var sealed: Int64 = 0
        /// Events not sealed yet (their content hashes were still checked).
        public var unsealed: Int64 = 0
        /// The first mismatch, or nil when the log is intact.
        public var failure: Failure?
    }

    let client: PostgresClient
    let logger: Logger
    let batchSize: Int

    public init(client: PostgresClient, batchSize: Int = 5_000, logger: Logger) {
        self.client = client
        self.batchSize = batchSize
        self.logger = logger
    }

    private typealias EventColumns = (Int64?, UUID?, String?, Int64?, String?, Int16?, Int16?, Int32?, UUID?, UUID?, Int64?, ByteBuffer?, ByteBuffer?)
    private static let eventColumns = """
        e.global_position, e.event_id, s.stream_key, e.stream_version, e.type, e.type_version, e.codec, e.dict_id,
        e.correlation_id, e.causation_id, (extract(epoch FROM e.recorded_at) * 1000000)::bigint, e.content_hash, e.payload
        """

    public func verify() async throws -> Report {
        var report = Report()
        var sequence: Int64 = 0
        var previous = LedgerChain.genesis
        var lastCursor = LogCursor.start

        // 1. The ledger, link by link, against the events it seals.
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
                report.sealed += 1
            }
            if count < batchSize { break }
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
            if count < batchSize { break }
        }
        return report
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
