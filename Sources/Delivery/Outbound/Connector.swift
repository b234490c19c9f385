import EventLog
import Facts
import Foundation
import Logging
import Projections
import Synchronization

/// The connector schedule, kept by the delivery scheduler: it starts connection runs when the
/// schedule says (unless paused, or a deny item says no), when an administrator asks
/// (`connection_requested`) and when `CONNECT.NOW` appears in the data directory; it says
/// which connections are online, and ends a run once nothing waiting for it is left to send.
/// Every start, end and next poll is an event on `connection-main`, so the projection shows
/// the schedule without reading a clock.
final class Connector: Sendable {
    struct Run {
        var started: Date
        var messages = 0
    }

    private struct State {
        var runs: [String: Run] = [:]
        var lastTick: Date?
        /// The next poll and paused flag last recorded for each connection.
        var announced: [String: (next: Date?, paused: Bool)] = [:]
        /// The `connection-main` version read up to (requests after it are new).
        var seen: Int64 = -1
        /// The store's append generation for connection streams when they were last read:
        /// the stream is read again only when it may have grown, not on every look.
        var requestsGeneration: UInt64?
        var loaded = false
    }

    static let connectNowFile = "CONNECT.NOW"
    static let connectPauseFile = "CONNECT.PAUSE"

    private let state = Mutex(State())
    private let store: EventStore
    private let settings: LiveSettings
    private let dataDirectory: String?
    private let logger: Logger
    private static let registry = EventTypeRegistry(ConnectionFacts.types, passingOver: EventCatalogue.all)

    init(store: EventStore, settings: LiveSettings, dataDirectory: String?, logger: Logger) {
        self.store = store
        self.settings = settings
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    var connections: MailConnections { MailConnections(settings.value(.connections)) }

    func schedule(_ connections: MailConnections) -> ConnectorSchedule {
        let zone = settings.value(.connectionsTimeZone)
        return ConnectorSchedule(items: settings.value(.schedule), connections: connections,
                                 timeZone: zone.isEmpty ? .current : TimeZone(identifier: zone) ?? .current)
    }

    /// The connections with a run under way.
    var online: [String] { state.withLock { Array($0.runs.keys) } }

    /// Whether mail through `connection` may be sent now: it sends immediately, or it is online.
    func sends(_ connection: MailConnection, senders: MailSenders) -> Bool {
        if connections.sendsImmediately(connection, senders: senders) { return true }
        return state.withLock { $0.runs[connection.name] != nil }
    }

    /// Counts a message sent while `connection` was online.
    func counted(_ connection: String) {
        state.withLock { $0.runs[connection]?.messages += 1 }
    }

    /// When `connection` is next started: its recorded next poll.
    func nextPoll(_ connection: String) -> Date? {
        state.withLock { $0.announced[connection]?.next ?? nil }
    }

    /// Whether `CONNECT.NOW` is waiting in the data directory.
    var connectNowWaiting: Bool {
        guard let dataDirectory else { return false }
        return FileManager.default.fileExists(atPath: dataDirectory + "/" + Self.connectNowFile)
    }

    /// Starts what is due at `now` and records changed next polls. Returns the next time the
    /// schedule needs a look.
    func tick(now: Date) async throws -> Date? {
        var events: [any Event] = []
        let connections = self.connections
        if !state.withLock({ $0.loaded }) { events += try await load(now: now, connections: connections) }
        var starts: [(name: String, trigger: String, request: Int64?)] = []

        // CONNECT.NOW: the default connections, once per file.
        if let dataDirectory, connectNowWaiting {
            do {
                try FileManager.default.removeItem(atPath: dataDirectory + "/" + Self.connectNowFile)
                starts += connections.defaults.map { ($0.name, Self.connectNowFile, nil) }
            } catch {
                logger.warning("could not remove CONNECT.NOW; it is not acted on", metadata: ["error": "\(error)"])
            }
        }
        // Administrators' requests, when an append may have brought one.
        let generation = store.appendGeneration(for: [ConnectionFacts.category])
        let (seen, unchanged) = state.withLock { ($0.seen, $0.requestsGeneration == generation) }
        let stream = try ConnectionFacts.stream
        for recorded in unchanged ? [] : try await store.read(stream: stream, from: seen + 1) {
            state.withLock { $0.seen = max($0.seen, recorded.streamVersion) }
            guard let request = try Self.registry.decode(recorded, logger: logger) as? ConnectionRequested else { continue }
            if let name = request.connection {
                guard let connection = connections.named(name) else {
                    logger.warning("a connection was asked for that does not exist", metadata: ["connection": "\(name)"])
                    continue
                }
                starts.append((connection.name, "requested by \(request.actor)", recorded.streamVersion))
            } else {
                starts += connections.defaults.map { ($0.name, "requested by \(request.actor)", recorded.streamVersion) }
            }
        }
        state.withLock { $0.requestsGeneration = generation }
        // The schedule, from the last look to now (times missed while stopped are not made up).
        let paused = settings.value(.connectionsPaused)
        let schedule = schedule(connections)
        let last = state.withLock { state in defer { state.lastTick = now }; return state.lastTick ?? now }
        if !paused {
            for (name, _) in schedule.due(after: last, through: now).sorted(by: { $0.key < $1.key }) {
                starts.append((name, "schedule", nil))
            }
        }
        for start in starts {
            guard let connection = connections.named(start.name) else { continue }
            if state.withLock({ $0.runs[connection.name] != nil }) { continue }
            events.append(ConnectionStarted(connection: connection.name, trigger: start.trigger, request: start.request, startedAt: now))
            logger.info("connection started", metadata: ["connection": "\(connection.name)", "trigger": "\(start.trigger)"])
            if connection.method == .dialUp {
                // Modelled, not built: nothing here dials a modem.
                let next = paused ? nil : schedule.next(after: now)[connection.name]
                events.append(ConnectionEnded(connection: connection.name, startedAt: now, endedAt: now, result: "failed",
                                              detail: "dial-up connections are not supported", messages: 0, nextPoll: next))
                state.withLock { $0.announced[connection.name] = (next, paused) }
                continue
            }
            state.withLock { $0.runs[connection.name] = Run(started: now) }
        }
        // Next polls, for connections not under way (a run's end records its own).
        let next = paused ? [:] : schedule.next(after: now)
        state.withLock { state in
            for connection in connections.all where state.runs[connection.name] == nil {
                let wanted = (next: next[connection.name], paused: paused)
                // Nothing recorded reads as no next poll, not paused: a server with no schedule records nothing.
                let recorded = state.announced[connection.name] ?? (next: nil, paused: false)
                if recorded.next == wanted.next && recorded.paused == wanted.paused { continue }
                state.announced[connection.name] = wanted
                events.append(ConnectionScheduled(connection: connection.name, nextPoll: wanted.next, paused: paused))
            }
        }
        try await append(events)
        return next.values.min()
    }

    /// Ends every run under way: nothing waiting for them is left to send.
    func endRuns(now: Date) async throws {
        let runs = state.withLock { state in defer { state.runs = [:] }; return state.runs }
        guard !runs.isEmpty else { return }
        let connections = self.connections
        let paused = settings.value(.connectionsPaused)
        let next = paused ? [:] : schedule(connections).next(after: now)
        var events: [any Event] = []
        for (name, run) in runs.sorted(by: { $0.key < $1.key }) {
            events.append(ConnectionEnded(connection: name, startedAt: run.started, endedAt: now, result: "ok", messages: run.messages,
                                          nextPoll: next[name]))
            logger.info("connection ended", metadata: ["connection": "\(name)", "messages": "\(run.messages)"])
            state.withLock { $0.announced[name] = (next[name], paused) }
        }
        try await append(events)
    }

    var hasRuns: Bool { state.withLock { !$0.runs.isEmpty } }

    /// What the stream says at start: requests already answered, next polls recorded, and
    /// runs a stopped server left open (ended now, as failed).
    private func load(now: Date, connections: MailConnections) async throws -> [any Event] {
        let stream = try ConnectionFacts.stream
        let version = try await store.version(of: stream) ?? -1
        var answered: Int64 = -1
        var requests: [Int64] = []
        var open: [String: Date] = [:]
        var announced: [String: (next: Date?, paused: Bool)] = [:]
        var from = max(0, version - 999)
        while from <= version {
            let batch = try await store.read(stream: stream, from: from)
            guard let last = batch.last else { break }
            for recorded in batch {
                switch try Self.registry.decode(recorded, logger: logger) {
                case is ConnectionRequested: requests.append(recorded.streamVersion)
                case let started as ConnectionStarted:
                    if let request = started.request { answered = max(answered, request) }
                    open[started.connection] = started.startedAt
                case let ended as ConnectionEnded:
                    open[ended.connection] = nil
                    announced[ended.connection] = (ended.nextPoll, announced[ended.connection]?.paused ?? false)
                case let scheduled as ConnectionScheduled:
                    announced[scheduled.connection] = (scheduled.nextPoll, scheduled.paused)
                default: break
                }
            }
            from = last.streamVersion + 1
        }
        // Requests not answered yet are read again by the first tick.
        let firstPending = requests.first { $0 > answered }
        state.withLock { state in
            state.loaded = true
            state.announced = announced
            state.seen = (firstPending ?? version + 1) - 1
        }
        return open.sorted(by: { $0.key < $1.key }).map { name, started in
            ConnectionEnded(connection: name, startedAt: started, endedAt: now, result: "failed",
                            detail: "the server stopped during the run", messages: 0, nextPoll: nil)
        }
    }

    private func append(_ events: [any Event]) async throws {
        guard !events.isEmpty else { return }
        try await store.append([StreamAppend(stream: try ConnectionFacts.stream, events: try events.map { try EventData($0) })])
    }
}
