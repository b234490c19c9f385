import Logging
import PostgresNIO

/// Where a statement runs: on the pool, or on the caller's connection, inside its transaction.
/// Work done for an append inside a transaction runs on that transaction's connection, so it
/// never waits for a second connection from a pool the waiting transactions may have used up.
enum StatementRunner: Sendable {
    case pool(PostgresClient)
    case connection(PostgresConnection)

    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        switch self {
        case .pool(let client): try await client.query(query, logger: logger)
        case .connection(let connection): try await connection.query(query, logger: logger)
        }
    }
}

extension PostgresBindings {
    /// A prepared statement's parameters, in the order of `$1`, `$2`, …
    public static func parameters<each Value: PostgresDynamicTypeEncodable>(_ values: repeat each Value) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in repeat each values { bindings.append(value) }
        return bindings
    }
}
