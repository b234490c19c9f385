import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// Where the database is, parsed from a libpq-style URL:
///
///     postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-full]
///     postgres://USER@/DATABASE?host=/path/to/socket/dir[&port=5432]
///
/// Every connection Pillarbox opens runs with `synchronous_commit = on` (nothing is acknowledged
/// before it is durable) and `idle_in_transaction_session_timeout`, so a stuck transaction cannot
/// hold the log's read fence for long.
public struct DatabaseEndpoint: Sendable, Equatable {
    public enum Location: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(directory: String, port: Int)
    }

    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "database URL: \(message)" }
    }

    public var location: Location
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Seconds a transaction may sit idle before PostgreSQL ends it. Default 60.
    public var idleInTransactionTimeout: Int = 60

    public init(location: Location, username: String, password: String? = nil, database: String, tls: TLSMode = .disable) {
        self.location = location
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    public init(url text: String) throws {
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw ParseError(message: "\"\(Self.redacted(text))\" is not a postgres:// URL")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let known: Set = ["host", "port", "sslmode", "user", "password", "dbname"]
        if let unknown = query.keys.first(where: { !known.contains($0) }) {
            throw ParseError(message: "unknown parameter \"\(unknown)\"")
        }
        let port: Int
        if let portText = query["port"] {
            guard let value = Int(portText), (1...65535).contains(value) else { throw ParseError(message: "bad port \"\(portText)\"") }
            port = value
        } else {
            port = components.port ?? 5432
        }
        let host = query["host"] ?? components.host ?? ""
        if host.hasPrefix("/") {
            location = .unixSocket(directory: host, port: port)
        } else if !host.isEmpty {
            location = .tcp(host: host, port: port)
        } else {
            location = .unixSocket(directory: "/var/run/postgresql", port: port)
        }
        username = query["user"] ?? components.user ?? "postgres"
        password = query["password"] ?? components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = query["dbname"] ?? (path.isEmpty ? username : path)
        if let mode = query["sslmode"] {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw ParseError(message: "sslmode must be disable, prefer, require or verify-full, not \"\(mode)\"")
            }
            tls = parsed
        } else {
            tls = if case .tcp(let host, _) = location, !["localhost", "127.0.0.1", "::1"].contains(host) { .prefer } else { .disable }
        }
    }

    /// The endpoint as a URL with the password left out, for logs and `pillarbox db url`.
    public var redactedURL: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.path = "/" + database
        switch location {
        case .tcp(let host, let port):
            components.host = host
            components.port = port
            components.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)]
        case .unixSocket(let directory, let port):
            components.queryItems = [URLQueryItem(name: "host", value: directory)]
            if port != 5432 { components.queryItems?.append(URLQueryItem(name: "port", value: String(port))) }
        }
        return components.string ?? "postgres://\(username)@/\(database)"
    }

    /// The same server, another database.
    public func with(database: String) -> DatabaseEndpoint {
        var copy = self
        copy.database = database
        return copy
    }

    /// TLS for `prefer`, `require` and `verify-full`; only `verify-full` checks the certificate.
    private var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls != .verifyFull { configuration.certificateVerification = .none }
        return configuration
    }

    public func clientConfiguration(maximumConnections: Int = 20, applicationName: String = "pillarbox") -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch location {
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            case .require, .verifyFull: .require(tlsConfiguration)
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .unixSocket(let directory, let port):
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username,
                                  password: password, database: database)
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.additionalStartupParameters = [
            ("application_name", applicationName),
            ("synchronous_commit", "on"),
            ("idle_in_transaction_session_timeout", "\(idleInTransactionTimeout)s"),
        ]
        return configuration
    }

    /// For one connection outside a pool: it fails at once when the server cannot be reached,
    /// where a pool keeps retrying for a minute.
    public func connectionConfiguration(applicationName: String = "pillarbox") throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch location {
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(try .init(configuration: tlsConfiguration))
            case .require, .verifyFull: .require(try .init(configuration: tlsConfiguration))
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        case .unixSocket(let directory, let port):
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username,
                                  password: password, database: database)
        }
        configuration.options.additionalStartupParameters = [
            ("application_name", applicationName),
            ("synchronous_commit", "on"),
        ]
        return configuration
    }

    /// Runs `body` on one connection of its own, closed after.
    public func withConnection<T: Sendable>(applicationName: String = "pillarbox", logger: Logger,
                                            _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(applicationName: applicationName),
                                                              id: 0, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "…"
        return components.string ?? "(unparseable)"
    }
}
