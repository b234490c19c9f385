import Logging
import PostgresNIO

/// Applies the binary's migrations in order, each in its own transaction, recording them in
/// `public.pillarbox_migrations`. Running it again is a no-op; processes starting together
/// serialise on an advisory lock. This is the only code in Pillarbox that runs SQL text that is
/// not a parameterised query.
public struct MigrationRunner: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case changedAfterApplying(version: Int, name: String)
        case newerThanBinary(version: Int)
        case failed(version: Int, name: String, reason: String)

        public var description: String {
            switch self {
            case .changedAfterApplying(let version, let name):
                "migration \(version) (\(name)) was changed after it was applied; migrations are forward-only: add a new one"
            case .newerThanBinary(let version):
                "the database has migration \(version), newer than this pillarbox binary knows: upgrade the binary"
            case .failed(let version, let name, let reason):
                "migration \(version) (\(name)) failed and was rolled back: \(reason)"
            }
        }
    }

    let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration] = Migration.all, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Returns the migrations this call applied.
    @discardableResult
    public func migrate(client: PostgresClient) async throws -> [Migration] {
        try await client.withConnection { try await migrate(connection: $0) }
    }

    public func migrate(connection: PostgresConnection) async throws -> [Migration] {
        try await connection.query("SELECT pg_advisory_lock(hashtextextended('pillarbox migrations', 0))", logger: logger)
        do {
            let applied = try await applyPending(connection: connection)
            try await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox migrations', 0))", logger: logger)
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox migrations', 0))", logger: logger)
            throw error
        }
    }

    private func applyPending(connection: PostgresConnection) async throws -> [Migration] {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS public.pillarbox_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var applied: [Int: String] = [:]
        let rows = try await connection.query("SELECT version, checksum FROM public.pillarbox_migrations", logger: logger)
        for try await (version, checksum) in rows.decode((Int, String).self) { applied[version] = checksum }

        if let newest = applied.keys.max(), newest > migrations.count {
            throw Failure.newerThanBinary(version: newest)
        }
        for migration in migrations {
            if let checksum = applied[migration.version], checksum != migration.checksum {
                throw Failure.changedAfterApplying(version: migration.version, name: migration.name)
            }
        }
        let pending = migrations.filter { applied[$0.version] == nil }
        guard !pending.isEmpty else { return [] }

        // Extended-protocol queries hold one statement; a migration file holds many. A session
        // function runs the whole file, passed as a bind parameter, through EXECUTE.
        try await connection.query("""
            CREATE OR REPLACE FUNCTION pg_temp.pillarbox_run_migration(sql text) RETURNS void
            LANGUAGE plpgsql AS $$ BEGIN EXECUTE sql; END $$
            """, logger: logger)
        for migration in pending {
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT pg_temp.pillarbox_run_migration(\(migration.sql))", logger: logger)
                    try await connection.query("""
                        INSERT INTO public.pillarbox_migrations (version, name, checksum)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                        """, logger: logger)
                }
            } catch {
                let underlying = (error as? PostgresTransactionError)?.closureError ?? error
                let reason = (underlying as? PSQLError)?.serverInfo?[.message] ?? String(reflecting: underlying)
                throw Failure.failed(version: migration.version, name: migration.name, reason: reason)
            }
            logger.info("applied migration \(migration.version) (\(migration.name))")
        }
        return pending
    }
}
