import Facts
import Logging
import NIOSSL
import POP3Wire
import Projections
import ServiceLifecycle

/// The POP3 listeners (`pop3` with STLS, `pop3s` with implicit TLS).
public final class POP3Server: Service, Sendable {
    private let listeners: GatewayListeners

    public init(endpoints: [GatewayEndpoint], backend: POP3Maildrops, tls: NIOSSLContext?, sessions: LiveSessions = LiveSessions(),
                logger: Logger) {
        let settings = backend.settings
        let limits = SessionLimits()
        let metrics = Dictionary(endpoints.map { ($0.name, ProtocolMetrics.pop3($0.name)) }) { first, _ in first }
        listeners = GatewayListeners(endpoints: endpoints, tls: tls,
                                     idleTimeout: { settings.value(SettingKey<Int>.pop3IdleTimeout) },
                                     sessions: sessions, sessionsOnEventLoop: true, logger: logger) { connection in
            await Self.session(connection, backend: backend, limits: limits, metrics: metrics[connection.endpoint.name], logger: logger)
        }
    }

    public func run() async throws {
        try await listeners.run()
    }

    static func session(_ connection: GatewayConnection, backend: POP3Maildrops, limits: SessionLimits, metrics: ProtocolMetrics?,
                        logger: Logger) async {
        guard let ticket = await limits.admit(connection, blocked: backend.logins.isBlocked(connection.clientAddress),
                                              bounds: backend.sessionBounds, reply: { turnaway in
            switch turnaway {
            case .blocked: POP3Reply.blocked.bytes
            case .refused(.tooMany): POP3Reply.tooManySessions.bytes
            case .refused: POP3Reply.tooManyFromAddress.bytes
            }
        }) else { return }
        defer { ticket.release() }
        var context = POP3SessionContext(id: String(backend.makeNonce().prefix(12)), service: ServiceKind(rawValue: connection.endpoint.name) ?? .pop3,
                                          clientIP: connection.clientAddress)
        if connection.endpoint.implicitTLS {
            guard let version = await connection.awaitHandshake() else { return }
            context.tls = version
        }
        let session = POP3Session(transport: connection.client, backend: backend, context: context, logger: logger)
        session.ticket = ticket
        session.live = connection.live
        session.metrics = metrics
        connection.live.identify(sessionID: context.id)
        session.userSessionBound = backend.sessionBounds.perUserAndAddress
        await session.run()
    }
}
