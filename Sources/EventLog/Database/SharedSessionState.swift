import Foundation
import Logging
import PostgresNIO

/// Session state shared by every `serve` process on the database (`runtime.recent_claims`,
/// `runtime.ips_scores`). Not facts: the log never refers to these rows, and losing them costs
/// no more than a fresh count.
extension EventStore {
    /// Claims IMAP's \Recent in a mailbox up to `highest` and returns the boundary the caller's
    /// share starts after: the UIDs above it (up to `highest`) are recent for the caller alone.
    /// One statement, so two sessions in two processes never both get a message.
    public func claimRecent(owner: String, mailbox: Int64, uidValidity: UInt32, highest: UInt32) async throws -> UInt32 {
        let claim = RecentClaimStatement(owner: owner, mailbox: mailbox, uidValidity: Int64(uidValidity), highest: Int64(highest))
        for try await previous in try await client.execute(claim, logger: logger) { return UInt32(clamping: previous) }
        return 0
    }

    /// The highest UID claimed as recent in a mailbox so far (0 when none).
    public func recentBoundary(owner: String, mailbox: Int64, uidValidity: UInt32) async throws -> UInt32 {
        try await client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT highest FROM runtime.recent_claims
                WHERE owner = \(owner) AND mailbox_id = \(mailbox) AND uid_validity = \(Int64(uidValidity))
                """, logger: logger)
            for try await highest in rows.decode(Int64.self) { return UInt32(clamping: highest) }
            return 0
        }
    }

    /// Adds an incident of `score` for `address` at `now` and returns the address's total of
    /// `kind` since `since`, this one included. Incidents before `since` are pruned on the way.
    public func addIntrusionScore(_ score: Int, address: String, kind: String, at now: Date, since: Date) async throws -> Int {
        try await client.withConnection { connection in
            let rows = try await connection.query("""
                WITH pruned AS (
                    DELETE FROM runtime.ips_scores WHERE address = \(address) AND kind = \(kind) AND at <= \(since)
                ), added AS (
                    INSERT INTO runtime.ips_scores (address, kind, at, score) VALUES (\(address), \(kind), \(now), \(Int32(clamping: score)))
                    RETURNING score
                )
                SELECT (SELECT COALESCE(sum(score), 0) FROM runtime.ips_scores
                        WHERE address = \(address) AND kind = \(kind) AND at > \(since))::bigint
                       + (SELECT score FROM added)::bigint
                """, logger: logger)
            for try await total in rows.decode(Int64.self) { return Int(total) }
            return score
        }
    }

    /// Forgets `address`'s incidents of `kind` (once it is blocked, the count starts again).
    public func clearIntrusionScore(address: String, kind: String) async throws {
        _ = try await client.withConnection { connection in
            try await connection.query("DELETE FROM runtime.ips_scores WHERE address = \(address) AND kind = \(kind)", logger: logger)
        }
    }

    /// Removes incidents older than `before` for every address (addresses that never return).
    public func pruneIntrusionScores(before: Date) async throws {
        _ = try await client.withConnection { connection in
            try await connection.query("DELETE FROM runtime.ips_scores WHERE at < \(before)", logger: logger)
        }
    }
}

/// `claimRecent`'s statement, run for every IMAP SELECT and change seen: prepared once per
/// connection.
struct RecentClaimStatement: PostgresPreparedStatement {
    static let sql = """
        INSERT INTO runtime.recent_claims AS r (owner, mailbox_id, uid_validity, highest, previous)
        VALUES ($1, $2, $3, $4, 0)
        ON CONFLICT (owner, mailbox_id, uid_validity)
        DO UPDATE SET highest = GREATEST(r.highest, EXCLUDED.highest), previous = r.highest
        RETURNING previous
        """
    typealias Row = Int64
    let owner: String
    let mailbox: Int64
    let uidValidity: Int64
    let highest: Int64

    func makeBindings() throws -> PostgresBindings { .parameters(owner, mailbox, uidValidity, highest) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
}
