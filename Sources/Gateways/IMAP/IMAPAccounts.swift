import EventLog
import Foundation
import Logging
import NIOSSL
import Projections
import ServiceLifecycle

/// The IMAP bounds on untrusted input, from RFC 9051 and the runtime settings.
public struct IMAPLimits: Sendable {
    /// RFC 9051 §4: servers should accept command lines of at least 8192 octets.
    public var lineLength = 65_536
    /// APPEND's literal: the message size setting.
    public var literalSize = 50 * 1024 * 1024
    /// Parentheses nesting in SEARCH and body sections.
    public var depth = 16
    /// Ranges in one sequence set.
    public var ranges = 1_000
    public var maxFailedLogins = 3
    public var maxErrors = 50

    public init() {}
}

/// Everything an IMAP session needs from the server: the mail store, the directory, the login
/// IPS, the settings and the log's wake-ups (for IDLE).
public final class IMAPAccounts: Sendable {
    public let hostname: String
    let mail: MailStore
    let settings: LiveSettings
    let authenticator: Authenticator
    let logins: LoginProtection
    let logger: Logger

    public init(hostname: String, engine: ProjectionEngine, settings: LiveSettings, directory: LiveDirectory,
                logins: LoginProtection, logger: Logger) {
        self.hostname = hostname
        self.mail = MailStore(engine: engine)
        self.settings = settings
        self.authenticator = Authenticator(directory: directory, settings: settings)
        self.logins = logins
        self.logger = logger
    }

    var store: EventStore { mail.engine.store }

    func limits() -> IMAPLimits {
        var limits = IMAPLimits()
        limits.literalSize = settings.value(SettingKey<Int>.maxMessageSize)
        limits.maxFailedLogins = settings.value(SettingKey<Int>.imapMaxFailedLogins)
        return limits
    }

    var authWithoutTLS: Bool { settings.value(SettingKey<Bool>.imapAuthWithoutTLS) }
    var cramMD5: Bool { settings.value(SettingKey<Bool>.cramMD5Allowed) }

    func makeNonce() -> String { RandomText.hex(16) }

    func bodies(_ blobs: [BlobID]) async throws -> [BlobID: [UInt8]] {
        let store = self.store
        return try await store.client.withConnection { try await store.blobs(blobs, on: $0) }
    }
}

/// The IMAP listeners (`imap` with STARTTLS, `imaps` with implicit TLS).
public final class IMAPServer: Service, Sendable {
    private let listeners: GatewayListeners

    public init(endpoints: [GatewayEndpoint], accounts: IMAPAccounts, tls: NIOSSLContext?, logger: Logger) {
        let settings = accounts.settings
        listeners = GatewayListeners(endpoints: endpoints, tls: tls,
                                     idleTimeout: { settings.value(SettingKey<Int>.imapIdleTimeout) },
                                     logger: logger) { connection in
            if accounts.logins.isBlocked(connection.clientAddress) {
                await connection.write(Array("* BYE [UNAVAILABLE] Server access temporarily blocked! Please try again later\r\n".utf8))
                return
            }
            var tlsVersion: String?
            if connection.endpoint.implicitTLS {
                guard let version = await connection.awaitHandshake() else { return }
                tlsVersion = version
            }
            let session = IMAPSession(transport: connection.client, accounts: accounts, id: String(accounts.makeNonce().prefix(12)),
                                      service: connection.endpoint.name, clientIP: connection.clientAddress, tls: tlsVersion,
                                      logger: logger)
            await session.run()
        }
    }

    public func run() async throws {
        try await listeners.run()
    }
}
