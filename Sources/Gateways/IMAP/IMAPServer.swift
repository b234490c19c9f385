import Facts
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
            if accounts.logins.isBlocked(connection.clientAddress) {
                await connection.write(Array("* BYE [UNAVAILABLE] Server access temporarily blocked! Please try again later\r\n".utf8))
                return
            }
            let ticket: SessionLimits.Ticket
            switch limits.admit(connection.clientAddress, bounds: accounts.sessionBounds) {
            case .success(let admitted): ticket = admitted
            case .failure(let refusal):
                let text = refusal == .tooMany ? "Too many connections, try again later" : "Too many connections from your address"
                await connection.write(Array("* BYE [UNAVAILABLE] \(text)\r\n".utf8))
                return
            }
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
