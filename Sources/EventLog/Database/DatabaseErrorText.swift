import PostgresNIO

/// A database error as a person can read it. postgres-nio's `PSQLError` prints a generic text
/// on purpose (its details may hold data); this takes the server's own message, detail and
/// hint, or the connection's failure, and never a password (the client's configuration, which
/// holds it, is not part of any of these).
public enum DatabaseErrorText {
    public static func describe(_ error: any Error) -> String {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError ?? transaction.rollbackError {
                return describe(inner)
            }
        }
        guard let error = error as? PSQLError else { return String(describing: error) }
        if let info = error.serverInfo, let message = info[.message] {
            var text = message
            if let detail = info[.detail] { text += " (\(detail))" }
            if let hint = info[.hint] { text += "; hint: \(hint)" }
            if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
            return text
        }
        var text: String
        switch error.code {
        case .connectionError: text = "cannot connect to PostgreSQL"
        case .serverClosedConnection: text = "PostgreSQL closed the connection"
        case .clientClosedConnection: text = "the connection to PostgreSQL was closed"
        case .poolClosed: text = "the connection pool is closed"
        case .queryCancelled: text = "the query was cancelled"
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError: text = "PostgreSQL refused the login"
        default: text = "PostgreSQL error (\(error.code))"
        }
        if let underlying = error.underlying { text += ": \(underlying)" }
        return text
    }

    /// True when the error says the server could not be reached or went away (rather than that
    /// it refused the statement).
    public static func isUnavailable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        if let state = error.serverInfo?[.sqlState] {
            // 57P01–57P03: admin shutdown, crash shutdown, cannot connect now (starting up).
            return ["57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"].contains(state)
        }
        return [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(error.code)
    }
}
