import Logging
import PostgresNIO

/// Who may do what in Pillarbox's database.
///
/// The log's tables belong to the role that runs the migrations (the owner). The server works
/// as another role, which may read the log and append to it, store blobs, seal the ledger and
/// keep checkpoints, and owns only the projection schemas it builds and swaps; it can neither
/// change nor delete a row of the log, nor disable the triggers that refuse it (that takes the
/// table's owner). The embedded cluster sets this up by itself (`pillarbox` owns,
/// `pillarbox_server` serves); with an external server, `database.ownerURL` names the owner.
public enum DatabaseRoles {
    /// The role the embedded cluster's server connects as.
    public static let embeddedServingRole = "pillarbox_server"

    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Run as the owner after the migrations: creates `role` when it is missing (when the owner
    /// may create roles), grants it what serving needs, and hands it the projection schemas:
    /// any of `projectionSchemas` it does not own yet is dropped, to be rebuilt from the log by
    /// the server under its own name.
    /// Processes starting together (a server and a command run meanwhile) take turns: two
    /// concurrent GRANTs on one object can fail in PostgreSQL.
    public static func prepare(servingRole role: String, projectionSchemas: [String], on connection: PostgresConnection,
                               logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(hashtextextended('pillarbox roles', 0))", logger: logger)
        do {
            try await prepareLocked(servingRole: role, projectionSchemas: projectionSchemas, on: connection, logger: logger)
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox roles', 0))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox roles', 0))", logger: logger)
    }

    private static func prepareLocked(servingRole role: String, projectionSchemas: [String], on connection: PostgresConnection,
                                      logger: Logger) async throws {
        let quoted = identifier(role)
        if try await !roleExists(role, on: connection) {
            do {
                try await connection.query(PostgresQuery(unsafeSQL: """
                    CREATE ROLE \(quoted) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
                    """), logger: logger)
                logger.notice("created the serving database role", metadata: ["role": "\(role)"])
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42710" {
                // Created meanwhile by another process starting at the same time.
            } catch {
                throw Failure(message: "the serving role \(role) does not exist and the owner cannot create it: create it with LOGIN "
                              + "and no other privilege (\(DatabaseErrorText.describe(error)))")
            }
        }
        let database = try await single(String.self, "SELECT current_database()", on: connection, logger: logger)
        let statements = [
            "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE \(identifier(database)) TO \(quoted)",
            "GRANT USAGE ON SCHEMA eventlog, vault TO \(quoted)",
            "GRANT SELECT ON ALL TABLES IN SCHEMA eventlog TO \(quoted)",
            "GRANT INSERT ON eventlog.events, eventlog.streams, eventlog.blobs, eventlog.blob_chunks, eventlog.ledger, "
                + "eventlog.ledger_checkpoints, eventlog.zstd_dicts TO \(quoted)",
            "GRANT UPDATE (version) ON eventlog.streams TO \(quoted)",
            "GRANT INSERT, UPDATE ON eventlog.consumer_checkpoints TO \(quoted)",
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA eventlog TO \(quoted)",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA eventlog TO \(quoted)",
            "GRANT SELECT, INSERT, DELETE ON vault.secrets TO \(quoted)",
            "GRANT USAGE ON SCHEMA keystore TO \(quoted)",
            "GRANT SELECT, INSERT, DELETE ON keystore.holder_keys, keystore.blob_keys TO \(quoted)",
            "GRANT SELECT ON public.pillarbox_migrations TO \(quoted)",
            "GRANT USAGE ON SCHEMA runtime TO \(quoted)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON runtime.maildrop_leases, runtime.recent_claims, runtime.ips_scores TO \(quoted)",
        ]
        for statement in statements {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        let owned = try await connection.query("""
            SELECT n.nspname FROM pg_namespace n
            WHERE n.nspname = ANY(\(projectionSchemas)) AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = \(role))
            """, logger: logger)
        var foreign: [String] = []
        for try await name in owned.decode(String.self) { foreign.append(name) }
        for schema in foreign.sorted() {
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(identifier(schema)) CASCADE"), logger: logger)
            logger.notice("dropped a projection schema the serving role does not own; it is rebuilt from the log",
                          metadata: ["schema": "\(schema)", "role": "\(role)"])
        }
    }

    /// Why the connected role could rewrite the log, or nil when it cannot: for a warning when
    /// one role both owns the log and serves.
    public static func rewriteRisk(on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query("""
            SELECT r.rolsuper, pg_has_role(current_user, c.relowner, 'MEMBER'), current_user::text
            FROM pg_roles r, pg_class c
            WHERE r.rolname = current_user AND c.oid = 'eventlog.events'::regclass
            """, logger: logger)
        for try await (superuser, owns, name) in rows.decode((Bool, Bool, String).self) {
            if superuser { return "the role \(name) is a superuser" }
            if owns { return "the role \(name) owns the event log's tables" }
        }
        return nil
    }

    static func roleExists(_ role: String, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(role)", logger: Logger(label: "roles"))
        for try await _ in rows { return true }
        return false
    }

    private static func single<T: PostgresDecodable>(_ type: T.Type, _ sql: String, on connection: PostgresConnection,
                                                     logger: Logger) async throws -> T {
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(T.self) {
            return value
        }
        throw Failure(message: "no answer to \(sql)")
    }

    /// A quoted SQL identifier.
    static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
