import Foundation
import Synchronization

/// The connections open in this process, for the admin's Sessions page and status counts:
/// each with its number, listener, client, start time, user once logged in and what it is
/// doing now, and a way to end it. Also the listeners that are bound. Nothing here is
/// durable: a connection's record in the log is its `session_ended` fact.
public final class LiveSessions: Sendable {
    /// One open connection as the admin sees it.
    public struct Entry: Sendable {
        /// Counts up from 1 in this process; VPOP3 shows it beside the session's type.
        public let number: Int
        /// The listener it came in on (`smtp`, `submission`, `imaps`, ...).
        public let listener: String
        public let clientAddress: String
        public let started: Date
        /// The session id its log lines and its `session_ended` fact carry.
        public var sessionID = ""
        /// The user once logged in.
        public var user = ""
        /// What the session is doing: its last command's name, the mailbox selected, ... never
        /// an argument that could hold a credential.
        public var detail = ""
        public var tls = ""
    }

    /// A listener that is bound.
    public struct Listening: Sendable {
        public let name: String
        public let address: String
        public let port: Int
    }

    private struct State {
        var next = 1
        var entries: [Int: Entry] = [:]
        var closers: [Int: @Sendable () -> Void] = [:]
        var listening: [Listening] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers a new connection; `close` ends it (from any thread).
    func open(listener: String, clientAddress: String, started: Date = Date(), close: @escaping @Sendable () -> Void) -> LiveSession {
        state.withLock { state in
            let number = state.next
            state.next += 1
            state.entries[number] = Entry(number: number, listener: listener, clientAddress: clientAddress, started: started)
            state.closers[number] = close
            return LiveSession(number: number, registry: self)
        }
    }

    func closed(_ number: Int) {
        state.withLock { state in
            state.entries[number] = nil
            state.closers[number] = nil
        }
    }

    func update(_ number: Int, _ change: (inout Entry) -> Void) {
        state.withLock { state in
            guard var entry = state.entries[number] else { return }
            change(&entry)
            state.entries[number] = entry
        }
    }

    func bound(_ listening: Listening) {
        state.withLock { $0.listening.append(listening) }
    }

    /// The open connections, oldest first.
    public func snapshot() -> [Entry] {
        state.withLock { $0.entries.values.sorted { $0.number < $1.number } }
    }

    /// The listeners bound, in the order they were.
    public func listeners() -> [Listening] {
        state.withLock { $0.listening }
    }

    /// The open connections by listener.
    public func counts() -> [String: Int] {
        state.withLock { state in
            state.entries.values.reduce(into: [:]) { $0[$1.listener, default: 0] += 1 }
        }
    }

    /// Closes connection `number`; false when it is not open. The session sees its input end
    /// and finishes as for a client that went away (its `session_ended` is recorded).
    public func end(_ number: Int) -> Bool {
        guard let close = state.withLock({ $0.closers[number] }) else { return false }
        close()
        return true
    }
}

/// One connection's place in `LiveSessions`, kept by its session to say who it is and what
/// it is doing.
public final class LiveSession: Sendable {
    public let number: Int
    private let registry: LiveSessions?

    init(number: Int, registry: LiveSessions) {
        self.number = number
        self.registry = registry
    }

    /// A place registered nowhere (sessions driven without a listener, in tests).
    public init() {
        number = 0
        registry = nil
    }

    func identify(sessionID: String) {
        registry?.update(number) { $0.sessionID = sessionID }
    }

    func loggedIn(_ user: String) {
        registry?.update(number) { $0.user = user }
    }

    func loggedOut() {
        registry?.update(number) { $0.user = "" }
    }

    func doing(_ detail: String) {
        registry?.update(number) { $0.detail = detail }
    }

    func secured(_ tls: String) {
        registry?.update(number) { $0.tls = tls }
    }

    func closed() {
        registry?.closed(number)
    }

    /// The name of the command on a line a client sent: its first word's letters, upper-cased,
    /// at most 12 (nothing after it, which may be an address or a credential).
    static func verb<Bytes: Collection>(_ line: Bytes) -> String where Bytes.Element == UInt8 {
        var name = ""
        for byte in line {
            guard (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A), name.count < 12 else { break }
            name.append(Character(Unicode.Scalar(byte & ~0x20)))
        }
        return name
    }
}
