/// What a protocol session reads from its connection.
public enum ClientInput: Sendable {
    case bytes([UInt8])
    /// From here on, input arrives through TLS.
    case tlsStarted(version: String?)
    case timedOut
    case closed
}

/// A client connection as a protocol session sees it (SwiftNIO in the server, a pipe in tests).
public protocol ClientTransport: AnyObject, Sendable {
    var tlsAvailable: Bool { get }
    func read() async -> ClientInput
    func write(_ bytes: [UInt8]) async throws
    /// Writes `reply` in plain text and switches to TLS before reading anything more; the next
    /// read returns `.tlsStarted` after any plain-text bytes that were already received.
    func startTLS(reply: [UInt8]) async throws
    func close() async
}
