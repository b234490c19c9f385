import Facts
import IMAPWire
import Logging
import NIOSSL
import Projections
import ServiceLifecycle

/// The IMAP listeners (`imap` with STARTTLS, `imaps` with implicit TLS).
public final class IMAPServer: Service, Sendable {
    private let listeners: GatewayListeners

    public init(endpoints: [GatewayEndpoint], accounts: IMAPAccounts, tls: NIOSSLContext?, sessions: LiveSessions = LiveSessions(),
                logger: Logger) {
        let settings = accounts.settings
        let limits = SessionLimits()
        let metrics = Dictionary(endpoints.map { ($0.name, ProtocolMetrics.imap($0.name)) }) { first, _ in first }
        listeners = GatewayListeners(endpoints: endpoints, tls: tls,
                                     idleTimeout: { settings.value(SettingKey<Int>.imapIdleTimeout) },
                                     sessions: sessions, logger: logger) { connection in
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
            session.live = connection.live
            session.metrics = metrics[connection.endpoint.name]
            connection.live.identify(sessionID: session.id)
            await session.run()
        }
    }

    public func run() async throws {
        try await listeners.run()
    }
}
