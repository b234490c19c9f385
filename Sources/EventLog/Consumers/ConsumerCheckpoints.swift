import Logging
import PostgresNIO

/// Where each consumer of the log has got to (`eventlog.consumer_checkpoints`). A consumer saves
/// its cursor in the same transaction as the rows it writes, so after a crash it resumes exactly
/// after the last event whose effects committed.
public enum ConsumerCheckpoints {
    public static func load(_ consumer: String, on connection: PostgresConnection, logger: Logger) async throws -> LogCursor {
        let rows = try await connection.query("""
            SELECT (tx_id::text)::bigint, global_position FROM eventlog.consumer_checkpoints WHERE consumer = \(consumer)
            """, logger: logger)
        for try await (transaction, position) in rows.decode((Int64, Int64).self) {
            return LogCursor(transaction: UInt64(bitPattern: transaction), position: position)
        }
        return .start
    }

    public static func load(_ consumer: String, client: PostgresClient, logger: Logger) async throws -> LogCursor {
        try await client.withConnection { try await load(consumer, on: $0, logger: logger) }
    }

    public static func save(_ consumer: String, cursor: LogCursor, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO eventlog.consumer_checkpoints (consumer, tx_id, global_position, updated_at)
            VALUES (\(consumer), \(String(cursor.transaction))::xid8, \(cursor.position), now())
            ON CONFLICT (consumer) DO UPDATE
               SET tx_id = excluded.tx_id, global_position = excluded.global_position, updated_at = excluded.updated_at
            """, logger: logger)
    }
}
