import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Projections
import ServiceLifecycle
import Synchronization

/// The SMTP listeners (MX, submission, implicit TLS) as one service: binds them, runs a
/// session per connection, and on shutdown stops accepting and closes open sessions.
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

    let listeners: [Listener]
    let intake: SMTPIntake
    let settings: LiveSettings
    let tls: NIOSSLContext?
    let limiter = ConnectionLimiter()
    let logger: Logger
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let stopping = Mutex(false)

    public init(listeners: [Listener], intake: SMTPIntake, settings: LiveSettings, tls: NIOSSLContext?, logger: Logger) {
        self.listeners = listeners
        self.intake = intake
        self.settings = settings
        self.tls = tls
        self.logger = logger
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for listener in listeners {
                let server = try await bind(listener)
                group.addTask { try await self.serve(server, listener) }
            }
        }
    }

    typealias Connection = NIOAsyncChannel<ConnectionInput, ByteBuffer>
    typealias ServerChannel = NIOAsyncChannel<(Connection, InputGate), Never>

    private func bind(_ listener: Listener) async throws -> ServerChannel {
        let tls = self.tls
        let idle = settings.value(SettingKey<Int>.smtpIdleTimeout)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: listener.host, port: listener.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if listener.service == .smtps {
                        guard let tls else { throw ChannelError.operationUnsupported }
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(Int64(idle))))
                    let gate = InputGate()
                    try channel.pipeline.syncOperations.addHandler(gate)
                    return (try Connection(wrappingChannelSynchronously: channel), gate)
                }
            }
        let address = server.channel.localAddress
        logger.notice("listening", metadata: [
            "listener": "\(listener.service.rawValue)", "address": "\(address?.ipAddress ?? listener.host):\(address?.port ?? 0)",
        ])
        return server
    }

    private func serve(_ server: ServerChannel, _ listener: Listener) async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await (connection, gate) in inbound {
                        group.addTask { await self.handle(connection, gate: gate, listener: listener) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            server.channel.close(promise: nil)
            for channel in self.open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
        }
    }

    private func handle(_ connection: Connection, gate: InputGate, listener: Listener) async {
        let channel = connection.channel
        let key = ObjectIdentifier(channel)
        open.withLock { $0[key] = channel }
        defer { _ = open.withLock { $0.removeValue(forKey: key) } }
        if stopping.withLock({ $0 }) { channel.close(promise: nil) }
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let sessionID = String(intake.makeNonce().prefix(12))
        var logger = self.logger
        logger[metadataKey: "session"] = "\(sessionID)"
        do {
            try await connection.executeThenClose { inbound, _ in
                func refuse(_ reply: SMTPReply) async throws {
                    try await channel.writeAndFlush(ByteBuffer(bytes: reply.bytes))
                }
                if intake.isBlocked(address) {
                    logger.info("refused a blocked client", metadata: ["client": "\(address)"])
                    try await refuse(.c421Blocked)
                    return
                }
                let policy = intake.policy()
                if let refusal = limiter.acquire(address, maxTotal: policy.maxSessions, maxPerAddress: policy.maxSessionsPerIP) {
                    try await refuse(refusal == .tooManyFromAddress ? .c421TooManyFromIP : .c421TooManySessions)
                    return
                }
                defer { limiter.release(address) }
                var context = SMTPSessionContext(id: sessionID, service: listener.service, clientIP: address,
                                                 tls: listener.service == .smtps ? "TLS" : nil)
                if policy.greetingPause > .zero { try? await Task.sleep(for: policy.greetingPause) }
                // A client that talks before the greeting is not waiting for replies (RFC 5321 §4.3.1).
                if try await channel.eventLoop.submit({ gate.markGreeted() }).get() {
                    try await refuse(.c554PreGreeting)
                    await intake.record(.syntaxError, details: "commands sent before the greeting", session: context)
                    return
                }
                let transport = ChannelTransport(channel: channel, inbound: inbound.makeAsyncIterator(),
                                                 tls: listener.service == .smtps ? nil : tls)
                if listener.service == .smtps {
                    // Wait for the handshake so the session knows the TLS version.
                    if case .tlsStarted(let version) = await transport.read() { context.tls = version ?? "TLS" } else { return }
                }
                let session = SMTPSession(transport: transport, backend: intake, context: context, logger: logger)
                await session.run()
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }
}

/// The session's view of a NIO channel. Reads come from the async inbound stream; writes go
/// straight to the channel; STARTTLS writes its reply and installs TLS in one event-loop turn.
final class ChannelTransport: SMTPTransport, @unchecked Sendable {
    let channel: any Channel
    // Used only by the session's task.
    private var inbound: NIOAsyncChannelInboundStream<ConnectionInput>.AsyncIterator
    let tls: NIOSSLContext?

    init(channel: any Channel, inbound: NIOAsyncChannelInboundStream<ConnectionInput>.AsyncIterator, tls: NIOSSLContext?) {
        self.channel = channel
        self.inbound = inbound
        self.tls = tls
    }

    var tlsAvailable: Bool { tls != nil }

    func read() async -> SMTPTransportInput {
        do {
            guard let next = try await inbound.next() else { return .closed }
            switch next {
            case .bytes(var buffer): return .bytes(buffer.readBytes(length: buffer.readableBytes) ?? [])
            case .tlsStarted(let version): return .tlsStarted(version: version)
            case .timedOut: return .timedOut
            }
        } catch {
            return .closed
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func startTLS(reply: [UInt8]) async throws {
        guard let tls else { throw ChannelError.operationUnsupported }
        let channel = self.channel
        try await channel.eventLoop.submit {
            channel.writeAndFlush(ByteBuffer(bytes: reply), promise: nil)
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        }.get()
    }

    func close() async {
        try? await channel.close()
    }
}
