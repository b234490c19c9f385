import Facts
import IMAPWire
import Logging
import NIOSSL
import Projections
import ServiceLifecycle

/// The IMAP listeners (`imap` with STARTTLS, `imaps` with implicit TLS).
public final class IMAPServer: Service, Sendable {
    private let listeners: GatewayListeners

    public init(endpoints: [GatewayEndpoint], accounts: IMAPAccounts, tls: NIOSSLContext?, logger: Logger) {
        let settings = accounts.settings
        let limits = SessionLimits()
        listeners = GatewayListeners(endpoints: endpoints, tls: tls,
                                     idleTimeout: { settings.value(SettingKey<Int>.imapIdleTimeout) },
                                     logger: logger) { connection in
            guard let ticket = await limits.admit(connection, blocked: accounts.logins.isBlocked(connection.clientAddress),
                                                  bounds: accounts.sessionBounds, reply: { turnaway in
                let status: IMAPStatus = switch turnaway {
                case .blocked: .blockedAtConnect
                case .refused(.tooMany): .tooManyConnections
                case .refused: .tooManyFromAddress
                }
                return Array("* \(status)\r\n".utf8)
            }) else { return }
            defer { ticket.release() }
            var tlsVersion: String?
            if connection.endpoint.implicitTLS {
                guard let version = await connection.awaitHandshake() else { return }
                tlsVersion = version
            }
            let session = IMAPSession(transport: connection.client, accounts: accounts, id: String(accounts.makeNonce().prefix(12)),
                                      service: ServiceKind(rawValue: connection.endpoint.name) ?? .imap, clientIP: connection.clientAddress, tls: tlsVersion,
                                      logger: logger)
            session.ticket = ticket
            await session.run()
        }
    }

    public func run() async throws {
        try await listeners.run()
    }
}
