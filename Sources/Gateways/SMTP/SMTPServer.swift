import Facts
import Foundation
import Logging
import NIOSSL
import Projections
import Routing
import ServiceLifecycle
import SMTPWire
import WireCore

/// The SMTP listeners (MX, submission, implicit TLS) as one service: before a session starts,
/// blocked clients, too many sessions and clients that talk before the greeting are refused.
public final class SMTPServer: Service, Sendable {
    public struct Listener: Sendable {
        public let service: SMTPSessionContext.Service
        public let host: String
        public let port: Int
        public init(service: SMTPSessionContext.Service, host: String, port: Int) {
            self.service = service
            self.host = host
            self.port = port
        }
    }

    let intake: SMTPIntake
    let logger: Logger
    private let listeners: GatewayListeners

    public init(listeners: [Listener], intake: SMTPIntake, settings: LiveSettings, tls: NIOSSLContext?,
                sessions: LiveSessions = LiveSessions(), logger: Logger) {
        self.intake = intake
        self.logger = logger
        let endpoints = listeners.map {
            GatewayEndpoint(name: $0.service.rawValue, host: $0.host, port: $0.port, implicitTLS: $0.service == .smtps)
        }
        let limiter = ConnectionLimiter()
        let metrics = Dictionary(endpoints.map { ($0.name, ProtocolMetrics.smtp($0.name)) }) { first, _ in first }
        self.listeners = GatewayListeners(endpoints: endpoints, tls: tls,
                                          idleTimeout: { settings.value(SettingKey<Int>.smtpIdleTimeout) },
                                          sessions: sessions, logger: logger) { connection in
            await Self.session(connection, intake: intake, limiter: limiter, metrics: metrics[connection.endpoint.name], logger: logger)
        }
    }

    public func run() async throws {
        try await listeners.run()
    }

    static func session(_ connection: GatewayConnection, intake: SMTPIntake, limiter: ConnectionLimiter, metrics: ProtocolMetrics?,
                        logger: Logger) async {
        let address = connection.clientAddress
        let sessionID = String(intake.makeNonce().prefix(12))
        var logger = logger
        logger[metadataKey: "session"] = "\(sessionID)"
        connection.live.identify(sessionID: sessionID)
        let service = SMTPSessionContext.Service(rawValue: connection.endpoint.name) ?? .smtp
        if intake.isBlocked(address) {
            logger.info("refused a blocked client", metadata: ["client": "\(address)"])
            await connection.write(SMTPReply.c421Blocked.bytes)
            return
        }
        let policy = intake.policy()
        let slot: ConnectionSlot
        switch limiter.slot(address, maxTotal: policy.maxSessions, maxPerAddress: policy.maxSessionsPerIP) {
        case .success(let taken): slot = taken
        case .failure(let refusal):
            await connection.write((refusal == .tooManyFromAddress ? SMTPReply.c421TooManyFromIP : .c421TooManySessions).bytes)
            return
        }
        defer { slot.release() }
        var context = SMTPSessionContext(id: sessionID, service: service, clientIP: address)
        if policy.greetingPause > .zero { try? await Task.sleep(for: policy.greetingPause) }
        // A client that talks before the greeting is not waiting for replies (RFC 5321 §4.3.1).
        if await connection.clientSpokeFirst() {
            await connection.write(SMTPReply.c554PreGreeting.bytes)
            await intake.record(.syntaxError, details: "commands sent before the greeting", session: context, append: true)
            return
        }
        if connection.endpoint.implicitTLS {
            guard let version = await connection.awaitHandshake() else { return }
            context.tls = version
        }
        let session = SMTPSession(transport: connection.client, backend: intake, context: context, logger: logger)
        session.onClose = { slot.release() }
        session.live = connection.live
        session.metrics = metrics
        await session.run()
    }
}
