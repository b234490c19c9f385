import Logging
import PostgresNIO

/// POP3 maildrop leases (`runtime.maildrop_leases`): one session at a time holds a user's
/// maildrop, whichever `serve` process it runs in. A lease runs out at `expires_at` unless its
/// holder renews it, so a process that dies frees its maildrops within one lease. Not facts:
/// nothing here is history, and the log never refers to it.
extension EventStore {
    /// Takes `user`'s maildrop for `holder` for `seconds`: true when it was free or its lease ran out.
    public func takeMaildropLease(_ user: String, holder: String, seconds: Int64) async throws -> Bool {
        try await client.withConnection { connection in
            let rows = try await connection.query("""
                INSERT INTO runtime.maildrop_leases (user_id, holder, expires_at)
                VALUES (\(user), \(holder), now() + make_interval(secs => \(Double(seconds))))
                ON CONFLICT (user_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                WHERE runtime.maildrop_leases.expires_at < now()
                RETURNING holder
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    /// Extends `holder`'s lease; false when it no longer holds it.
    public func renewMaildropLease(_ user: String, holder: String, seconds: Int64) async throws -> Bool {
        try await client.withConnection { connection in
            let rows = try await connection.query("""
                UPDATE runtime.maildrop_leases SET expires_at = now() + make_interval(secs => \(Double(seconds)))
                WHERE user_id = \(user) AND holder = \(holder) RETURNING holder
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    public func releaseMaildropLease(_ user: String, holder: String) async throws {
        try await client.withConnection { connection in
            try await connection.query("DELETE FROM runtime.maildrop_leases WHERE user_id = \(user) AND holder = \(holder)",
                                       logger: logger)
        }
    }
}
