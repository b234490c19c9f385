import Foundation
import Metrics
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// One address a protocol listens on.
public struct GatewayEndpoint: Sendable {
    /// The listener's name in logs (`smtp`, `pop3s`, ...).
    public let name: String
    public let host: String
    public let port: Int
    /// TLS from the first byte (RFC 8314) instead of STARTTLS/STLS.
    public let implicitTLS: Bool

    public init(name: String, host: String, port: Int, implicitTLS: Bool) {
        self.name = name
        self.host = host
        self.port = port
        self.implicitTLS = implicitTLS
    }
}

/// An accepted connection, handed to the protocol's handler.
public final class GatewayConnection: Sendable {
    public let endpoint: GatewayEndpoint
    /// The client's address as text (`192.0.2.1`, `2001:db8::1`).
    public let clientAddress: String
    let channel: any Channel
    let gate: InputGate
    let transport: ChannelTransport
    /// The connection's entry on the admin's Sessions page.
    public let live: LiveSession

    init(endpoint: GatewayEndpoint, channel: any Channel, gate: InputGate, transport: ChannelTransport, live: LiveSession) {
        self.endpoint = endpoint
        self.channel = channel
        self.gate = gate
        self.transport = transport
        self.live = live
        clientAddress = channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The session's transport. With implicit TLS, wait for `awaitHandshake()` first.
    public var client: ClientTransport { transport }

    /// Writes bytes before a session exists (a refusal at connect).
    public func write(_ bytes: [UInt8]) async {
        try? await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Marks the greeting as about to be sent; true when the client already sent something.
    public func clientSpokeFirst() async -> Bool {
        (try? await channel.eventLoop.submit { self.gate.markGreeted() }.get()) ?? true
    }

    /// With implicit TLS: waits for the handshake; the TLS version, or nil when it failed.
    public func awaitHandshake() async -> String? {
        guard case .tlsStarted(let version) = await transport.read() else { return nil }
        live.secured(version ?? "TLS")
        return version ?? "TLS"
    }
}

/// Listeners for one protocol: binds each endpoint, runs `handler` for every connection in a
/// discarding task group, and on graceful shutdown stops accepting and closes open connections.
public final class GatewayListeners: Sendable {
    public typealias Handler = @Sendable (GatewayConnection) async -> Void

    let endpoints: [GatewayEndpoint]
    let tls: NIOSSLContext?
    let idleTimeout: @Sendable () -> Int
    let logger: Logger
    let handler: Handler
    let sessions: LiveSessions
    /// Whether each session's task runs on its connection's event loop (`EventLoopTaskExecutor`)
    /// rather than on Swift's thread pool.
    let sessionsOnEventLoop: Bool
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let stopping = Mutex(false)

    /// `idleTimeout` is read for each new connection, in seconds; every connection is listed in
    /// `sessions` while it is open. `sessionsOnEventLoop` suits a protocol whose sessions mostly
    /// move bytes in lock step with the client (POP3: a command, a message, the next command):
    /// on the loop, a reply is written and the next command read without a hand-over between
    /// threads. Sessions that spend their time computing are better spread over the pool.
    public init(endpoints: [GatewayEndpoint], tls: NIOSSLContext?, idleTimeout: @escaping @Sendable () -> Int,
                sessions: LiveSessions, sessionsOnEventLoop: Bool = false, logger: Logger, handler: @escaping Handler) {
        self.sessions = sessions
        self.sessionsOnEventLoop = sessionsOnEventLoop
        self.endpoints = endpoints
        self.tls = tls
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.handler = handler
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for endpoint in endpoints {
                let server = try await bind(endpoint)
                group.addTask { try await self.serve(server, endpoint) }
            }
        }
    }

    typealias Connection = NIOAsyncChannel<ConnectionInput, ByteBuffer>
    typealias ServerChannel = NIOAsyncChannel<(Connection, InputGate), Never>

    private func bind(_ endpoint: GatewayEndpoint) async throws -> ServerChannel {
        let tls = self.tls
        let idleTimeout = self.idleTimeout
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if endpoint.implicitTLS {
                        guard let tls else { throw ChannelError.operationUnsupported }
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(Int64(idleTimeout()))))
                    let gate = InputGate()
                    try channel.pipeline.syncOperations.addHandler(gate)
                    return (try Connection(wrappingChannelSynchronously: channel), gate)
                }
            }
        let address = server.channel.localAddress
        sessions.bound(.init(name: endpoint.name, address: address?.ipAddress ?? endpoint.host, port: address?.port ?? endpoint.port))
        logger.notice("listening", metadata: [
            "listener": "\(endpoint.name)", "address": "\(address?.ipAddress ?? endpoint.host):\(address?.port ?? 0)",
        ])
        return server
    }

    private func serve(_ server: ServerChannel, _ endpoint: GatewayEndpoint) async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await (connection, gate) in inbound {
                        let executor = sessionsOnEventLoop ? EventLoopTaskExecutor(connection.channel.eventLoop) : nil
                        group.addTask(executorPreference: executor) { await self.handle(connection, gate: gate, endpoint: endpoint) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            server.channel.close(promise: nil)
            for channel in self.open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
        }
    }

    private func handle(_ connection: Connection, gate: InputGate, endpoint: GatewayEndpoint) async {
        let channel = connection.channel
        let key = ObjectIdentifier(channel)
        open.withLock { $0[key] = channel }
        Counter(label: "pillarbox_sessions_total", dimensions: [("listener", endpoint.name)]).increment()
        let openSessions = Meter(label: "pillarbox_sessions_open", dimensions: [("listener", endpoint.name)])
        openSessions.increment()
        let live = sessions.open(listener: endpoint.name, clientAddress: channel.remoteAddress?.ipAddress ?? "unknown") {
            channel.close(promise: nil)
        }
        defer {
            _ = open.withLock { $0.removeValue(forKey: key) }
            openSessions.decrement()
            live.closed()
        }
        if stopping.withLock({ $0 }) { channel.close(promise: nil) }
        do {
            try await connection.executeThenClose { inbound, _ in
                let transport = ChannelTransport(channel: channel, inbound: inbound.makeAsyncIterator(),
                                                 tls: endpoint.implicitTLS ? nil : tls)
                await handler(GatewayConnection(endpoint: endpoint, channel: channel, gate: gate, transport: transport, live: live))
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }
}

/// A session's view of a NIO channel. Reads come from the async inbound stream; writes go
/// straight to the channel; STARTTLS writes its reply and installs TLS in one event-loop turn.
final class ChannelTransport: ClientTransport, @unchecked Sendable {
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

    func read() async -> ClientInput {
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
