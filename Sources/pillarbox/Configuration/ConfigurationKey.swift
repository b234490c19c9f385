import EventLog
import Foundation
import Gateways
import Logging
import MailCore

/// A configuration value as it arrives: text from the environment or a flag, JSON from the file.
enum ConfigurationValue {
    case text(String)
    case json(JSONValue)
}

struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// Where the bad value came from: `config file /etc/pillarbox.json`, `PILLARBOX_SMTP`, `--smtp`.
    var source: String
    var key: String
    var message: String

    var description: String { "\(key) (from \(source)): \(message)" }
}

/// One setting of the bootstrap configuration: its place in the file, its environment variable,
/// its flag, and how a value is checked and applied.
struct ConfigurationKey: Sendable {
    typealias Apply = @Sendable (inout BootstrapConfiguration, ConfigurationValue) throws(ConfigurationFailure) -> Void

    /// A value's problem; the loader adds the key and the source.
    struct ConfigurationFailure: Error {
        let message: String
    }

    let path: String
    let environment: String
    /// The command-line flag, for keys that have one.
    let flag: String?
    let summary: String
    let apply: Apply
    let current: @Sendable (BootstrapConfiguration) -> String?

    static let all: [ConfigurationKey] = [
        text("dataDirectory", "PILLARBOX_DATA_DIR", flag: "data-dir",
             "Directory for the embedded PostgreSQL cluster, certificates and files.",
             set: { $0.dataDirectory = $1 }, get: { $0.dataDirectory }),
        optionalText("databaseURL", "PILLARBOX_DATABASE_URL", flag: "database-url",
                     "postgres:// URL of an existing server; when unset, the embedded cluster is used.",
                     check: { _ = try DatabaseEndpoint(url: $0) },
                     set: { $0.databaseURL = $1 }, get: { $0.databaseURL.map(redactPassword) }),
        optionalText("database.ownerURL", "PILLARBOX_DATABASE_OWNER_URL", flag: "database-owner-url",
                     "postgres:// URL of the role that owns the log and runs migrations, when the databaseURL role only serves.",
                     check: { _ = try DatabaseEndpoint(url: $0) },
                     set: { $0.database.ownerURL = $1 }, get: { $0.database.ownerURL.map(redactPassword) }),
        optionalText("keyDirectory", "PILLARBOX_KEY_DIR", flag: "key-dir",
                     "Directory of the keys kept outside the database (sealed secrets, ledger signing); default DATA-DIR/keys.",
                     set: { $0.keyDirectory = $1 }, get: { $0.keyDirectory ?? "" }),
        text("hostname", "PILLARBOX_HOSTNAME", flag: "hostname",
             "The server's host name in greetings and Received: headers.",
             set: { configuration, value throws(ConfigurationFailure) in
                 do { configuration.hostname = try DomainName(value) } catch { throw ConfigurationFailure(message: "\(error)") }
             }, get: { $0.hostname.value }),
        text("logLevel", "PILLARBOX_LOG_LEVEL", flag: "log-level",
             "trace, debug, info, notice, warning, error or critical.",
             set: { configuration, value throws(ConfigurationFailure) in
                 guard let level = Logger.Level(rawValue: value.lowercased()) else {
                     throw ConfigurationFailure(message: "\"\(value)\" is not one of trace, debug, info, notice, warning, error, critical")
                 }
                 configuration.logLevel = level
             }, get: { $0.logLevel.rawValue }),
        optionalText("tls.certificate", "PILLARBOX_TLS_CERT", flag: "tls-cert",
                     "PEM certificate chain for STARTTLS and implicit TLS.",
                     set: { $0.tls.certificate = $1 }, get: { $0.tls.certificate }),
        optionalText("tls.key", "PILLARBOX_TLS_KEY", flag: "tls-key",
                     "PEM private key for tls.certificate.",
                     set: { $0.tls.key = $1 }, get: { $0.tls.key }),
        text("tls.admin", "PILLARBOX_TLS_ADMIN", flag: "tls-admin",
             "auto: the admin listener serves HTTPS except on a loopback address; always: HTTPS there too.",
             set: { configuration, value throws(ConfigurationFailure) in
                 switch value.lowercased() {
                 case "auto": configuration.tls.adminOnLoopback = false
                 case "always": configuration.tls.adminOnLoopback = true
                 default: throw ConfigurationFailure(message: "\"\(value)\" is not auto or always")
                 }
             }, get: { $0.tls.adminOnLoopback ? "always" : "auto" }),
    ] + ListenerConfiguration.Kind.allCases.map(listener) + [
        integer("eventLog.groupCommitMaxWaitMicroseconds", "PILLARBOX_GROUP_COMMIT_MAX_WAIT_US", range: 0...100_000,
                "Longest wait for more appends before a batch commits, in microseconds.",
                set: { $0.eventLog.groupCommitMaxWait = .microseconds($1) },
                get: { Int($0.eventLog.groupCommitMaxWait / .microseconds(1)) }),
        integer("eventLog.groupCommitMaxEvents", "PILLARBOX_GROUP_COMMIT_MAX_EVENTS", range: 1...100_000,
                "Most events committed in one batch.",
                set: { $0.eventLog.groupCommitMaxEvents = $1 }, get: { $0.eventLog.groupCommitMaxEvents }),
        integer("eventLog.groupCommitMaxBytes", "PILLARBOX_GROUP_COMMIT_MAX_BYTES", range: 65_536...1 << 30,
                "Most stored bytes (payloads and message bodies) committed in one batch.",
                set: { $0.eventLog.groupCommitMaxBytes = $1 }, get: { $0.eventLog.groupCommitMaxBytes }),
        integer("eventLog.groupCommitConnectionDeadlineSeconds", "PILLARBOX_GROUP_COMMIT_CONNECTION_DEADLINE", range: 1...3_600,
                "Longest a batch of appends waits for a database connection before its writers get an error.",
                set: { $0.eventLog.groupCommitConnectionDeadline = .seconds($1) },
                get: { Int($0.eventLog.groupCommitConnectionDeadline.components.seconds) }),
        integer("eventLog.groupCommitStatementDeadlineSeconds", "PILLARBOX_GROUP_COMMIT_STATEMENT_DEADLINE", range: 1...3_600,
                "Longest a batch of appends may run before its connection is closed and its writers get an error.",
                set: { $0.eventLog.groupCommitStatementDeadline = .seconds($1) },
                get: { Int($0.eventLog.groupCommitStatementDeadline.components.seconds) }),
        integer("eventLog.compressionLevel", "PILLARBOX_COMPRESSION_LEVEL", range: 1...19,
                "zstd level for event payloads.",
                set: { $0.eventLog.compressionLevel = Int32($1) }, get: { Int($0.eventLog.compressionLevel) }),
        integer("eventLog.blobCompressionLevel", "PILLARBOX_BLOB_COMPRESSION_LEVEL", range: 1...19,
                "zstd level for message bodies.",
                set: { $0.eventLog.blobCompressionLevel = Int32($1) }, get: { Int($0.eventLog.blobCompressionLevel) }),
        boolean("eventLog.sealBodies", "PILLARBOX_SEAL_BODIES",
                "Store new message bodies sealed under keys that erasing a user destroys (AES-256-GCM).",
                set: { $0.eventLog.sealBodies = $1 }, get: { $0.eventLog.sealBodies }),
        integer("ledger.signIntervalSeconds", "PILLARBOX_LEDGER_SIGN_INTERVAL", range: 1...86_400,
                "Seconds between signed ledger heads while events keep coming.",
                set: { $0.ledgerSignIntervalSeconds = $1 }, get: { $0.ledgerSignIntervalSeconds }),
        integer("database.maximumConnections", "PILLARBOX_DATABASE_MAX_CONNECTIONS", range: 2...1_000,
                "Most connections in Pillarbox's PostgreSQL pool.",
                set: { $0.database.maximumConnections = $1 }, get: { $0.database.maximumConnections }),
        integer("database.idleInTransactionTimeoutSeconds", "PILLARBOX_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", range: 1...3_600,
                "Seconds a transaction may sit idle before PostgreSQL ends it (bounds how long one stuck writer holds readers back).",
                set: { $0.database.idleInTransactionTimeoutSeconds = $1 }, get: { $0.database.idleInTransactionTimeoutSeconds }),
    ]

    static func named(_ path: String) -> ConfigurationKey? {
        all.first { $0.path == path }
    }

    // MARK: Kinds of key

    private static func text(_ path: String, _ environment: String, flag: String? = nil, _ summary: String,
                             set: @escaping @Sendable (inout BootstrapConfiguration, String) throws(ConfigurationFailure) -> Void,
                             get: @escaping @Sendable (BootstrapConfiguration) -> String) -> ConfigurationKey {
        ConfigurationKey(path: path, environment: environment, flag: flag, summary: summary, apply: { configuration, value throws(ConfigurationFailure) in
            guard let text = try value.text(), !text.isEmpty else { throw ConfigurationFailure(message: "cannot be empty") }
            try set(&configuration, text)
        }, current: get)
    }

    private static func optionalText(_ path: String, _ environment: String, flag: String? = nil, _ summary: String,
                                     check: @escaping @Sendable (String) throws -> Void = { _ in },
                                     set: @escaping @Sendable (inout BootstrapConfiguration, String?) -> Void,
                                     get: @escaping @Sendable (BootstrapConfiguration) -> String?) -> ConfigurationKey {
        ConfigurationKey(path: path, environment: environment, flag: flag, summary: summary, apply: { configuration, value throws(ConfigurationFailure) in
            let text = try value.text().flatMap { $0.isEmpty ? nil : $0 }
            if let text {
                do { try check(text) } catch { throw ConfigurationFailure(message: "\(error)") }
            }
            set(&configuration, text)
        }, current: get)
    }

    private static func integer(_ path: String, _ environment: String, range: ClosedRange<Int>, _ summary: String,
                                set: @escaping @Sendable (inout BootstrapConfiguration, Int) -> Void,
                                get: @escaping @Sendable (BootstrapConfiguration) -> Int) -> ConfigurationKey {
        ConfigurationKey(path: path, environment: environment, flag: nil, summary: summary, apply: { configuration, value throws(ConfigurationFailure) in
            let number: Int?
            switch value {
            case .text(let text): number = Int(text.trimmingCharacters(in: .whitespaces))
            case .json(.number(let double)): number = double.rounded() == double && abs(double) < 1e15 ? Int(double) : nil
            case .json: number = nil
            }
            guard let number else { throw ConfigurationFailure(message: "must be a whole number") }
            guard range.contains(number) else {
                throw ConfigurationFailure(message: "\(number) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            set(&configuration, number)
        }, current: { String(get($0)) })
    }

    private static func boolean(_ path: String, _ environment: String, _ summary: String,
                                set: @escaping @Sendable (inout BootstrapConfiguration, Bool) -> Void,
                                get: @escaping @Sendable (BootstrapConfiguration) -> Bool) -> ConfigurationKey {
        ConfigurationKey(path: path, environment: environment, flag: nil, summary: summary, apply: { configuration, value throws(ConfigurationFailure) in
            let flag: Bool?
            switch value {
            case .text(let text):
                switch text.trimmingCharacters(in: .whitespaces).lowercased() {
                case "true", "on", "yes", "1": flag = true
                case "false", "off", "no", "0": flag = false
                default: flag = nil
                }
            case .json(.bool(let value)): flag = value
            case .json: flag = nil
            }
            guard let flag else { throw ConfigurationFailure(message: "must be true or false") }
            set(&configuration, flag)
        }, current: { get($0) ? "true" : "false" })
    }

    private static func listener(_ kind: ListenerConfiguration.Kind) -> ConfigurationKey {
        ConfigurationKey(
            path: "listeners.\(kind.rawValue)", environment: "PILLARBOX_\(kind.rawValue.uppercased())", flag: kind.rawValue,
            summary: "HOST:PORT for the \(kind.rawValue) listener; empty disables it.",
            apply: { configuration, value throws(ConfigurationFailure) in
                guard let text = try value.text(), !text.isEmpty else {
                    configuration.listeners[kind] = nil
                    return
                }
                do { configuration.listeners[kind] = try ListenAddress(parsing: text) } catch {
                    throw ConfigurationFailure(message: "\(error)")
                }
            },
            current: { $0.listeners[kind]?.description ?? "" })
    }

    private static func redactPassword(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "…"
        return components.string ?? url
    }
}

extension ConfigurationValue {
    /// The value as text; nil for JSON null.
    func text() throws(ConfigurationKey.ConfigurationFailure) -> String? {
        switch self {
        case .text(let text): return text
        case .json(.string(let text)): return text
        case .json(.null): return nil
        case .json: throw ConfigurationKey.ConfigurationFailure(message: "must be a string")
        }
    }
}
