import EventLog

/// A `pillarbox serve` process started and is ready. Written by that process on stream
/// `server-<hostname>`; the serve process is the only writer of the `server` category.
public struct ServerStarted: Event {
    public static let eventType = "server_started"

    public var hostname: String
    public var version: String
    public var processID: Int32
    /// The enabled listeners, `kind → HOST:PORT`.
    public var listeners: [String: String]
    /// True when the process runs its own PostgreSQL under the data directory.
    public var embeddedDatabase: Bool

    public init(hostname: String, version: String, processID: Int32, listeners: [String: String], embeddedDatabase: Bool) {
        self.hostname = hostname
        self.version = version
        self.processID = processID
        self.listeners = listeners
        self.embeddedDatabase = embeddedDatabase
    }
}

/// A `pillarbox serve` process shut down gracefully (a crash leaves no such event).
///
/// Owner: the `serve` process itself (`ServerLifecycle`), on stream `server-<hostname>`.
public struct ServerStopped: Event {
    public static let eventType = "server_stopped"

    public var hostname: String
    public var processID: Int32

    public init(hostname: String, processID: Int32) {
        self.hostname = hostname
        self.processID = processID
    }
}
