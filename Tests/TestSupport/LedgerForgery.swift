import EventLog
import NIOCore
import PostgresNIO

/// What a forger holding the database does after editing an event and its content hash:
/// recompute every ledger link from that event on, so the chain agrees with itself again.
public enum LedgerForgery {
    /// Re-chains from the event at `victim`; returns false when that event was not sealed yet.
    @discardableResult
    public static func rechain(_ client: PostgresClient, from victim: Int64) async throws -> Bool {
        try await client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT l.seq, l.global_position, e.content_hash, l.chain_hash FROM eventlog.ledger l
                JOIN eventlog.events e USING (global_position) ORDER BY l.seq
                """, logger: TestDatabase.logger)
            var previous = LedgerChain.genesis
            var updates: [(Int64, [UInt8])] = []
            var reached = false
            for try await (seq, position, contentHash, chainHash) in rows.decode((Int64, Int64, ByteBuffer, ByteBuffer).self) {
                if position == victim { reached = true }
                let link = LedgerChain.link(previous: previous, sequence: seq, position: position,
                                            contentHash: Array(contentHash.readableBytesView))
                if reached && link != Array(chainHash.readableBytesView) { updates.append((seq, link)) }
                previous = reached ? link : Array(chainHash.readableBytesView)
            }
            try await connection.query("ALTER TABLE eventlog.ledger DISABLE TRIGGER USER", logger: TestDatabase.logger)
            for (seq, link) in updates {
                try await connection.query("UPDATE eventlog.ledger SET chain_hash = \(ByteBuffer(bytes: link)) WHERE seq = \(seq)",
                                           logger: TestDatabase.logger)
            }
            try await connection.query("ALTER TABLE eventlog.ledger ENABLE TRIGGER USER", logger: TestDatabase.logger)
            return reached
        }
    }
}
