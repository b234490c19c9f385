import NIOCore
import NIOSSL
import NIOTLS

/// What a connection's pipeline hands the session task.
enum ConnectionInput: Sendable {
    case bytes(ByteBuffer)
    /// The TLS handshake finished: everything after this arrived encrypted.
    case tlsStarted(version: String?)
    /// The read timeout passed without input.
    case timedOut
}

/// The last handler before the session: turns reads, the TLS handshake and the idle timer into
/// one ordered stream, and notes whether the client spoke before the greeting. Because the
/// handshake marker is ordered with the reads, plain-text bytes sent after STARTTLS can never be
/// mistaken for input from inside TLS.
final class InputGate: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ConnectionInput

    // Touched on the channel's event loop only.
    private var greeted = false
    private var spokeEarly = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !greeted { spokeEarly = true }
        context.fireChannelRead(wrapInboundOut(.bytes(unwrapInboundIn(data))))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireChannelRead(wrapInboundOut(.timedOut))
            context.fireChannelReadComplete() // the async channel hands over reads on read-complete
            return
        }
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            let version = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).tlsVersion
            context.fireChannelRead(wrapInboundOut(.tlsStarted(version: version.map(Self.name))))
            context.fireChannelReadComplete()
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Marks the greeting as sent; true when input arrived before it. Event loop only.
    func markGreeted() -> Bool {
        greeted = true
        return spokeEarly
    }

    static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}
