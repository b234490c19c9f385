import EventLog
import Foundation
import Gateways
import Logging
import MailCore

/// What `pillarbox` needs before it can reach the database: where its data lives, which
/// database to use, its name, its listeners and its TLS files. Everything an administrator
/// changes at runtime (domains, users, limits, rules) is an event instead.
///
/// Sources, later ones winning: the defaults below, the configuration file (`--config`, JSON),
/// `PILLARBOX_*` environment variables, command-line flags. `ConfigurationKey.all` lists every key.
struct BootstrapConfiguration: Sendable, Equatable {
    struct TLSFiles: Sendable, Equatable {
        /// PEM certificate chain for STARTTLS and implicit TLS. Default: none.
        var certificate: String?
        /// PEM private key for `certificate`. Default: none.
        var key: String?
        /// The admin listener serves HTTPS on a loopback address too (elsewhere it always
        /// does). Default false.
        var adminOnLoopback = false
    }

    struct Database: Sendable, Equatable {
        /// Most connections in Pillarbox's pool. Default 20.
        var maximumConnections = 20
        /// Seconds a transaction may sit idle before PostgreSQL ends it. Default 60.
        var idleInTransactionTimeoutSeconds = 60
        /// With `databaseURL`: the role that owns the log and runs the migrations, when it is not
        /// the role that serves. Default: none (one role does both, and the server warns).
        var ownerURL: String?
    }

    /// Where Pillarbox keeps its embedded PostgreSQL cluster, certificates and files. Default `/var/lib/pillarbox`.
    var dataDirectory = "/var/lib/pillarbox"
    /// An existing PostgreSQL server to use instead of the embedded one. Default: none.
    var databaseURL: String?
    /// The server's host name, used in greetings and `Received:` headers. Default: the system's host name.
    var hostname: DomainName
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`. Default `info`.
    var logLevel: Logger.Level = .info
    var tls = TLSFiles()
    var listeners = ListenerConfiguration.standard
    var eventLog = EventLogConfiguration()
    var database = Database()
    /// Where the keys kept outside the database live (secrets sealing, ledger signing). Default `DATA-DIR/keys`.
    var keyDirectory: String?
    /// Seconds between signed ledger heads while events keep coming. Default 10.
    var ledgerSignIntervalSeconds = 10

    init(hostname: DomainName) {
        self.hostname = hostname
    }

    /// The defaults, with the system's host name (or `localhost` when it is not a valid name).
    static func defaults() -> BootstrapConfiguration {
        let system = ProcessInfo.processInfo.hostName
        let hostname = (try? DomainName(system)) ?? (try! DomainName("localhost"))
        return BootstrapConfiguration(hostname: hostname)
    }

    /// The keys kept outside the database.
    var keys: KeyDirectory { KeyDirectory(path: keyDirectory ?? dataDirectory + "/keys") }

    /// The owner's endpoint when `database.ownerURL` is set.
    func externalOwner() throws -> DatabaseEndpoint? {
        guard let ownerURL = database.ownerURL else { return nil }
        var endpoint = try DatabaseEndpoint(url: ownerURL)
        endpoint.idleInTransactionTimeout = database.idleInTransactionTimeoutSeconds
        return endpoint
    }

    /// The database endpoint when `databaseURL` is set; nil means the embedded cluster.
    func externalDatabase() throws -> DatabaseEndpoint? {
        guard let databaseURL else { return nil }
        var endpoint = try DatabaseEndpoint(url: databaseURL)
        endpoint.idleInTransactionTimeout = database.idleInTransactionTimeoutSeconds
        return endpoint
    }
}
