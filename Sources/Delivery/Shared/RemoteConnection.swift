import DNS
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SMTPClient
import SMTPWire
import Synchronization

/// What a connection to another server hands its reader.
enum ConnectionInput: Sendable {
    case bytes(ByteBuffer)
    case tlsEstablished
    case failed(String)
    case closed
    /// The deadline of read number `n` passed.
    case timedOut(UInt64)
}

/// A TCP connection to another server (an MX host, a relay, an ISP's POP3 server), read with a
/// deadline per read. The SwiftNIO side of `SMTPClientStateMachine` and of the POP3
/// collector: it only moves bytes and installs TLS.
/// `@unchecked`: the iterator is used by the one delivery task that owns the connection.
final class RemoteConnection: @unchecked Sendable {
    let channel: any Channel
    let peer: String
    private let inbound: AsyncStream<ConnectionInput>
    private let feed: AsyncStream<ConnectionInput>.Continuation
    private var iterator: AsyncStream<ConnectionInput>.AsyncIterator
    private let reads = Atomic<UInt64>(0)

    private init(channel: any Channel, peer: String, inbound: AsyncStream<ConnectionInput>,
                 feed: AsyncStream<ConnectionInput>.Continuation) {
        self.channel = channel
        self.peer = peer
        self.inbound = inbound
        self.feed = feed
        self.iterator = inbound.makeAsyncIterator()
    }

    struct ConnectFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to `address` on `port` within `timeout`.
    static func connect(to address: IPAddress, port: Int, timeout: Duration,
                        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RemoteConnection {
        try await connect(host: address.description, port: port, timeout: timeout, group: group)
    }

    /// Connects to `host` (a name the system resolves, or an address) on `port` within `timeout`.
    static func connect(host: String, port: Int, timeout: Duration,
                        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RemoteConnection {
        let (stream, feed) = AsyncStream.makeStream(of: ConnectionInput.self, bufferingPolicy: .unbounded)
        let (seconds, attoseconds) = timeout.components
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Forwarder(feed: feed))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            feed.finish()
            throw ConnectFailed(description: Self.describe(error))
        }
        return RemoteConnection(channel: channel, peer: host, inbound: stream, feed: feed)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? ChannelError, case .connectTimeout = error { return "connection timed out" }
        if let error = error as? IOError { return "connection failed: \(error.description)" }
        if let error = error as? NIOConnectionError {
            return "connection failed: " + (error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)")
        }
        return "connection failed: \(error)"
    }

    /// The next input, or `.timedOut` once `timeout` passes without any.
    func read(timeout: Duration) async -> ConnectionInput {
        let number = reads.add(1, ordering: .relaxed).newValue
        let feed = self.feed
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                                     + timeout.components.attoseconds / 1_000_000_000)) {
            feed.yield(.timedOut(number))
        }
        defer { timer.cancel() }
        while true {
            guard let input = await iterator.next() else { return .closed }
            // A deadline of an earlier read that fired after its input came is passed over.
            if case .timedOut(let which) = input, which != number { continue }
            return input
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func write(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer)
    }

    /// How a TLS client checks the server: not at all (RFC 7435's opportunistic TLS, for MX
    /// hosts), or against the system's trust roots plus, optionally, a PEM file of more (a
    /// relay's private CA), with the host name matched.
    enum Verification: Sendable, Hashable {
        case none
        case full(extraTrust: String?)
        /// RFC 7672: the chain is checked against the host's TLSA records alone.
        case dane(DANEPolicy)
    }

    /// One client context per way of verifying: loading the trust roots is not free. DANE's
    /// is shared: its check is made per connection, by the callback.
    private static let contexts = Mutex<[Verification: NIOSSLContext]>([:])

    static func context(_ verification: Verification) throws -> NIOSSLContext {
        let key: Verification = if case .dane = verification { .dane(DANEPolicy.any) } else { verification }
        if let cached = contexts.withLock({ $0[key] }) { return cached }
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch verification {
        case .none:
            configuration.certificateVerification = .none
        case .full(let extraTrust):
            configuration.certificateVerification = .fullVerification
            configuration.minimumTLSVersion = .tlsv12
            if let extraTrust { configuration.additionalTrustRoots = [.file(extraTrust)] }
        case .dane:
            // Verified, so that the callback is asked; it alone decides.
            configuration.certificateVerification = .noHostnameVerification
            configuration.minimumTLSVersion = .tlsv12
        }
        let context = try NIOSSLContext(configuration: configuration)
        contexts.withLock { $0[key] = context }
        return context
    }

    /// Installs a TLS client in front of the connection; `.tlsEstablished` or `.failed` follows
    /// on the input once the handshake ends.
    func startTLS(serverName: String?, verification: Verification = .none) async throws {
        let context = try Self.context(verification)
        let name = serverName.flatMap { IPAddress($0) == nil ? $0 : nil }
        let channel = self.channel
        let feed = self.feed
        try await channel.eventLoop.submit {
            let handler: NIOSSLClientHandler
            if case .dane(let policy) = verification {
                handler = try NIOSSLClientHandler(context: context, serverHostname: name) { certificates, promise in
                    let chain = certificates.compactMap { certificate -> DANEPolicy.Presented? in
                        guard let der = try? certificate.toDERBytes(), let spki = try? certificate.extractPublicKey().toSPKIBytes() else {
                            return nil
                        }
                        return DANEPolicy.Presented(der: der, spki: spki)
                    }
                    Task {
                        if let failure = await policy.check(chain, now: Date()) {
                            // Ahead of the handshake's own error, so the reader sees why.
                            feed.yield(.failed("DANE: \(failure)"))
                            promise.succeed(.failed)
                        } else {
                            promise.succeed(.certificateVerified)
                        }
                    }
                }
            } else {
                handler = try NIOSSLClientHandler(context: context, serverHostname: name)
            }
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }

    /// The TLS version in use, once established.
    func tlsVersion() async -> String? {
        guard let version = try? await channel.nioSSL_tlsVersion().get() else { return nil }
        return switch version {
        case .tlsv13: "TLSv1.3"
        case .tlsv12: "TLSv1.2"
        case .tlsv11: "TLSv1.1"
        case .tlsv1: "TLSv1"
        }
    }

    func close() async {
        try? await channel.close()
        feed.finish()
    }

    /// Hands the channel's input to the reader's stream.
    private final class Forwarder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let feed: AsyncStream<ConnectionInput>.Continuation

        init(feed: AsyncStream<ConnectionInput>.Continuation) {
            self.feed = feed
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            feed.yield(.bytes(unwrapInboundIn(data)))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event { feed.yield(.tlsEstablished) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            feed.yield(.failed("\(error)"))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            feed.yield(.closed)
            feed.finish()
        }
    }
}
