import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The short path for the most common append: one stream that exists, at the expected version,
/// with event ids not seen before. One plain statement instead of `eventlog.append_batch`;
/// when any condition fails it writes nothing and reports a miss, and the caller goes through
/// `append_batch`, which says exactly what went wrong.
struct AppendOneStatement: PostgresPreparedStatement {
    static let sql = """
        WITH s AS (
            SELECT stream_id, stream_key, version FROM eventlog.streams WHERE stream_key = $1 FOR UPDATE
        ), ok AS (
            SELECT stream_id, stream_key, version FROM s
             WHERE ($2 = -2 OR version = $2)
               AND NOT EXISTS (SELECT 1 FROM eventlog.events WHERE event_id = ANY ($3))
        ), ins AS (
            INSERT INTO eventlog.events (stream_id, stream_version, type, type_version, codec, dict_id, event_id,
                                         correlation_id, causation_id, recorded_at, content_hash, payload)
            SELECT ok.stream_id, ok.version + u.ord, u.type, u.type_version, u.codec, nullif(u.dict_id, 0), u.id,
                   nullif(u.correlation_id, $10), nullif(u.causation_id, $10), now(),
                   eventlog.event_hash(u.id, ok.stream_key, ok.version + u.ord, u.type, u.type_version, u.codec,
                                       nullif(u.dict_id, 0), nullif(u.correlation_id, $10), nullif(u.causation_id, $10),
                                       (extract(epoch FROM now()) * 1000000)::bigint, u.payload),
                   u.payload
              FROM ok, unnest($3, $4, $5, $6, $7, $8, $9, $11)
                       WITH ORDINALITY AS u(id, type, type_version, codec, dict_id, correlation_id, causation_id, payload, ord)
             ORDER BY u.ord
            RETURNING global_position
        ), bumped AS (
            UPDATE eventlog.streams t SET version = ok.version + cardinality($3) FROM ok WHERE t.stream_id = ok.stream_id
        ), stored AS (
            INSERT INTO eventlog.blobs (sha256, size, codec, dict_id, data)
            SELECT b.sha256, b.size, b.codec, nullif(b.dict_id, 0), b.data
              FROM unnest($12, $13, $14, $15, $16) AS b(sha256, size, codec, dict_id, data)
             WHERE EXISTS (SELECT 1 FROM ok)
            ON CONFLICT (sha256) DO NOTHING
        )
        SELECT (SELECT version FROM ok) + cardinality($3),
               (SELECT array_agg(global_position ORDER BY global_position) FROM ins),
               (SELECT pg_notify('pillarbox_events', '') FROM ok) IS NULL
        """
    typealias Row = (Int64?, [Int64]?)

    let batch: AppendBatchStatement

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(batch.streamKeys[0])
        bindings.append(batch.expected[0])
        bindings.append(batch.eventIDs)
        bindings.append(batch.types)
        bindings.append(batch.typeVersions)
        bindings.append(batch.codecs)
        bindings.append(batch.dictionaryIDs)
        bindings.append(batch.correlationIDs)
        bindings.append(batch.causationIDs)
        bindings.append(AppendBatchStatement.nilUUID)
        bindings.append(batch.payloads)
        bindings.append(batch.blobHashes)
        bindings.append(batch.blobSizes)
        bindings.append(batch.blobCodecs)
        bindings.append(batch.blobDictionaryIDs)
        bindings.append(batch.blobData)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (version, positions, _) = try row.decode((Int64?, [Int64]?, Bool?).self)
        return (version, positions)
    }
}
