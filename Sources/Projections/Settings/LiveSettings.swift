import EventLog
import Facts
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

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
    /// For each setting `load` took, the log position of the change it holds. The follower
    /// starts at the beginning of the log, and may read it while a transaction of another
    /// database of the cluster holds the visible end back: a change at or before that position
    /// is older than the value already held and must not replace it.
    private let loadedPositions = Mutex<[String: Int64]>([:])
    /// Values already decoded from `values`, dropped when a setting changes: components read
    /// settings on every message.
    private let decoded = Mutex<(generation: Int, values: [String: any Sendable])>((0, [:]))

    /// Grows with every change taken in, so a component can cache values derived from settings.
    public var generation: Int { state.withLock { $0.generation } }

    public init(store: EventStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Takes the values the settings table holds now, so components started next see them
    /// before the follower has caught up.
    public func load(from settings: Settings) async throws {
        let stored = try await settings.stored()
        state.withLock { state in
            for setting in stored { state.values[setting.name] = setting.json }
            state.generation += 1
        }
        loadedPositions.withLock { positions in
            for setting in stored { positions[setting.name] = setting.position }
        }
    }

    /// The current value of `key`.
    public func value<Value>(_ key: SettingKey<Value>) -> Value {
        let (json, generation) = state.withLock { ($0.values[key.name], $0.generation) }
        let cached = decoded.withLock { cache -> Value? in
            if cache.generation != generation { cache = (generation, [:]) }
            return cache.values[key.name] as? Value
        }
        if let cached { return cached }
        let value = json.flatMap { SettingJSON.decode(Value.self, from: $0) } ?? key.defaultValue
        decoded.withLock { cache in
            if cache.generation == generation { cache.values[key.name] = value }
        }
        return value
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
            await self.store.follow(logger: self.logger, what: "following the settings", categories: [SettingsStream.category]) { try await self.catchUp() }
        }
    }

    func catchUp() async throws {
        let loaded = loadedPositions.withLock { $0 }
        while true {
            let cursor = state.withLock { $0.cursor }
            let (events, next) = try await store.readFollowing(after: cursor, categories: [SettingsStream.category], limit: 500,
                                                               on: nil)
            guard !events.isEmpty else {
                state.withLock { $0.cursor = max($0.cursor, next) }
                return
            }
            var changes: [Change] = []
            for recorded in events where recorded.type == SettingChanged.eventType {
                do {
                    let change = try EventCoding.decode(SettingChanged.self, from: recorded.json)
                    if let position = loaded[change.key], recorded.position <= position { continue }
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
                state.cursor = max(state.cursor, next)
                return Array(state.watchers.values)
            }
            for change in changes {
                // Says that a running server now works with the change (the value is in the log).
                logger.info("setting applied", metadata: ["setting": "\(change.key)"])
                for watcher in watchers { watcher.yield(change) }
            }
            if events.count < 500 { return }
        }
    }
}
