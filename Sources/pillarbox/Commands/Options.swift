import ArgumentParser
import Foundation
import Logging

/// Options every command takes: where the configuration and the database are.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "JSON configuration file (or PILLARBOX_CONFIG).")
    var configFile: String?

    @Option(name: .customLong("data-dir"), help: "Data directory holding the embedded PostgreSQL (or PILLARBOX_DATA_DIR). Default /var/lib/pillarbox.")
    var dataDirectory: String?

    @Option(name: .customLong("database-url"), help: "postgres:// URL of an existing server instead of the embedded one (or PILLARBOX_DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("database-owner-url"), help: "postgres:// URL of the role owning the log, when --database-url only serves (or PILLARBOX_DATABASE_OWNER_URL).")
    var databaseOwnerURL: String?

    @Option(name: .customLong("key-dir"), help: "Directory of the keys kept outside the database (or PILLARBOX_KEY_DIR). Default DATA-DIR/keys.")
    var keyDirectory: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (or PILLARBOX_LOG_LEVEL).")
    var logLevel: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["dataDirectory"] = dataDirectory
        flags["databaseURL"] = databaseURL
        flags["database.ownerURL"] = databaseOwnerURL
        flags["keyDirectory"] = keyDirectory
        flags["logLevel"] = logLevel
        return flags
    }

    /// Loads the configuration with these flags (and `extra` ones) and sets up logging.
    /// Commands other than `serve` log warnings and worse unless a level is asked for.
    func load(extra: [String: String] = [:], defaultLevel: Logger.Level? = .warning) throws -> (BootstrapConfiguration, Logger) {
        let configuration = try ConfigurationLoader().load(file: configFile, flags: flags.merging(extra) { $1 })
        let explicit = logLevel != nil || ProcessInfo.processInfo.environment["PILLARBOX_LOG_LEVEL"] != nil
        let level = explicit ? configuration.logLevel : (defaultLevel ?? configuration.logLevel)
        // Logging goes to standard error; standard output is kept for what commands print.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "pillarbox")
        logger.logLevel = level
        return (configuration, logger)
    }
}

/// The listener and identity flags of `serve`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Host name used in greetings and Received: headers (or PILLARBOX_HOSTNAME).")
    var hostname: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain (or PILLARBOX_TLS_CERT).")
    var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key (or PILLARBOX_TLS_KEY).")
    var tlsKey: String?
    @Option(name: .customLong("tls-admin"), help: "auto (HTTPS for the admin except on loopback) or always (or PILLARBOX_TLS_ADMIN).")
    var tlsAdmin: String?
    @Option(help: "HOST:PORT for incoming SMTP (MX); empty disables. Default 0.0.0.0:25.")
    var smtp: String?
    @Option(help: "HOST:PORT for SMTP submission; empty disables. Default 0.0.0.0:587.")
    var submission: String?
    @Option(help: "HOST:PORT for submission over implicit TLS; empty disables. Default 0.0.0.0:465.")
    var smtps: String?
    @Option(help: "HOST:PORT for POP3; empty disables. Default 0.0.0.0:110.")
    var pop3: String?
    @Option(help: "HOST:PORT for POP3 over implicit TLS; empty disables. Default 0.0.0.0:995.")
    var pop3s: String?
    @Option(help: "HOST:PORT for IMAP; empty disables. Default 0.0.0.0:143.")
    var imap: String?
    @Option(help: "HOST:PORT for IMAP over implicit TLS; empty disables. Default 0.0.0.0:993.")
    var imaps: String?
    @Option(help: "HOST:PORT for the web admin; empty disables. Default 127.0.0.1:8080.")
    var admin: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["hostname"] = hostname
        flags["tls.certificate"] = tlsCertificate
        flags["tls.key"] = tlsKey
        flags["tls.admin"] = tlsAdmin
        flags["listeners.smtp"] = smtp
        flags["listeners.submission"] = submission
        flags["listeners.smtps"] = smtps
        flags["listeners.pop3"] = pop3
        flags["listeners.pop3s"] = pop3s
        flags["listeners.imap"] = imap
        flags["listeners.imaps"] = imaps
        flags["listeners.admin"] = admin
        return flags
    }
}
