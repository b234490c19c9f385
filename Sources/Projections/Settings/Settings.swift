import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// `settings.settings`: each changed setting's current value, who set it and at which position.
public struct SettingsProjection: Projection {
    public let name = "settings"
    public let schema = "settings"
    public let mode = ProjectionMode.inline
    public let version = 1
    public let categories = [Settings.category]

    public init() {}

    public static let settings = ProjectionTable("settings", columns: [
        .init("key", .text), .init("value", .jsonb), .init("changed_by", .text), .init("position", .bigint),
    ], primaryKey: 1)

    public var tables: [ProjectionTable] { [Self.settings] }
    public var eventTypes: [any Event.Type] { [SettingChanged.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        guard let event = event as? SettingChanged else { return }
        rows.insert(into: Self.settings, [.text(event.key), .json(event.new), .text(event.actor), .int(context.position)])
    }
}

/// Reads and changes runtime settings.
public struct Settings: Sendable {
    public static let category = "settings"
    static var stream: StreamName { try! StreamName(category: category, id: "main") }

    public let engine: ProjectionEngine
    public init(engine: ProjectionEngine) { self.engine = engine }

    /// The current value, or the default when never set.
    public func value<Value>(_ key: SettingKey<Value>) async throws -> Value {
        guard let json = try await json(key.name), let value = SettingJSON.decode(Value.self, from: json) else {
            return key.defaultValue
        }
        return value
    }

    /// The stored JSON of a setting, nil when never set.
    public func json(_ name: String) async throws -> String? {
        let rows = try await engine.client.query("SELECT value::text FROM settings.settings WHERE key = \(name)",
                                                 logger: engine.logger)
        for try await value in rows.decode(String.self) { return value }
        return nil
    }

    /// Every known setting with its value (the default when never set).
    public func list() async throws -> [(key: AnySettingKey, json: String, isDefault: Bool)] {
        var stored: [String: String] = [:]
        for try await (key, value) in try await engine.client.query(
            "SELECT key, value::text FROM settings.settings", logger: engine.logger).decode((String, String).self) {
            stored[key] = value
        }
        return SettingKeys.all.map { key in (key, stored[key.name] ?? key.defaultJSON, stored[key.name] == nil) }
    }

    /// Sets a setting from text (JSON, or a bare word for strings); returns the stored JSON.
    @discardableResult
    public func set(_ name: String, to text: String, actor: String) async throws -> String {
        guard let key = SettingKeys.named(name) else { throw SettingProblem("no setting named \(name)") }
        let json: String
        switch key.normalise(text) {
        case .success(let value): json = value
        case .failure(let problem): throw SettingProblem("\(name) \(problem.description)")
        }
        return try await engine.transaction { transaction in
            let expected = try await transaction.expectedVersion(of: Self.stream)
            var old: String?
            for try await value in try await transaction.connection.query(
                "SELECT value::text FROM settings.settings WHERE key = \(name)", logger: engine.logger).decode(String.self) {
                old = value
            }
            if old == json { return json }
            try await transaction.append([PendingEvent(SettingChanged(key: name, old: old, new: json, actor: actor))],
                                         to: Self.stream, expectedVersion: expected)
            return json
        }
    }
}

/// Settings as components see them while running: loaded once, then kept current by following
/// the settings stream, so a change made by the CLI or the web admin takes effect without a restart.
public final class LiveSettings: Service, Sendable {
    public struct Change: Sendable {
        public let key: String
        public let json: String
    }

    let store: EventStore
    let logger: Logger
    private let state = Mutex<(values: [String: String], watchers: [UUID: AsyncStream<Change>.Continuation], generation: Int, cursor: LogCursor)>(([:], [:], 0, .start))

    /// Grows with every change taken in, so a component can cache values derived from settings.
    public var generation: Int { state.withLock { $0.generation } }

    public init(store: EventStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Takes the values the settings table holds now, so components started next see them
    /// before the follower has caught up.
    public func load(from settings: Settings) async throws {
        let values = try await settings.list().filter { !$0.isDefault }
        state.withLock { state in
            for value in values { state.values[value.key.name] = value.json }
            state.generation += 1
        }
    }

    /// The current value of `key`.
    public func value<Value>(_ key: SettingKey<Value>) -> Value {
        let json = state.withLock { $0.values[key.name] }
        return json.flatMap { SettingJSON.decode(Value.self, from: $0) } ?? key.defaultValue
    }

    /// Every change from now on, as it is read from the log.
    public func changes() -> AsyncStream<Change> {
        let (stream, continuation) = AsyncStream<Change>.makeStream()
        let id = UUID()
        state.withLock { $0.watchers[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) } }
        return stream
    }

    /// Follows the settings stream until cancelled or the service group shuts down, through
    /// database outages (retried, logged once per outage).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.store.follow(logger: self.logger, what: "following the settings") { try await self.catchUp() }
        }
    }

    private func catchUp() async throws {
        let decoder = EventCoding.decoder()
        while true {
            let cursor = state.withLock { $0.cursor }
            let events = try await store.read(after: cursor, category: Settings.category, limit: 500)
            guard let last = events.last else { return }
            var changes: [Change] = []
            for recorded in events where recorded.type == SettingChanged.eventType {
                do {
                    let change = try decoder.decode(SettingChanged.self, from: Data(recorded.json))
                    changes.append(Change(key: change.key, json: change.new))
                } catch {
                    logger.error("skipping a setting change that does not decode", metadata: [
                        "position": "\(recorded.position)", "error": "\(error)",
                    ])
                }
            }
            let watchers = state.withLock { state in
                for change in changes { state.values[change.key] = change.json }
                if !changes.isEmpty { state.generation += 1 }
                state.cursor = last.cursor
                return Array(state.watchers.values)
            }
            for change in changes {
                for watcher in watchers { watcher.yield(change) }
            }
            if events.count < 500 { return }
        }
    }
}
