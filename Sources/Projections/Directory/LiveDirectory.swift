import EventLog
import Facts
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The directory as the gateways see it while running: loaded once, reloaded whenever the
/// directory stream grows, so recipient and login checks cost no query.
public final class LiveDirectory: Service, Sendable {
    let engine: ProjectionEngine
    let logger: Logger
    private let state = Mutex<(snapshot: DirectorySnapshot, cursor: LogCursor, version: Int64?)>((DirectorySnapshot(), .start, nil))

    public init(engine: ProjectionEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    public var snapshot: DirectorySnapshot { state.withLock { $0.snapshot } }

    /// The directory as committed now, for password checks: when the directory stream has moved
    /// since the snapshot was loaded (a change made through another `serve` process whose
    /// wake-up has not arrived yet), it is reloaded first. One query when nothing moved; when
    /// the database cannot be reached, the snapshot as it stands.
    public func current() async -> DirectorySnapshot {
        let loaded = state.withLock { $0.version }
        do {
            if try await engine.store.version(of: DirectoryStream.main) != loaded { try await catchUp(force: true) }
        } catch {
            logger.warning("checking the directory's version failed", metadata: ["error": "\(error)"])
        }
        return snapshot
    }

    /// Loads the directory now (before serving), so the first session sees it.
    public func load() async throws {
        try await catchUp(force: true)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.engine.store.follow(logger: self.logger, what: "following the directory",
                                           categories: [DirectoryStream.category]) {
                try await self.catchUp(force: false)
            }
        }
    }

    private func catchUp(force: Bool) async throws {
        let (moved, cursor) = try await engine.store.changed(after: state.withLock { $0.cursor },
                                                             categories: [DirectoryStream.category])
        guard moved || force else {
            state.withLock { $0.cursor = max($0.cursor, cursor) }
            return
        }
        // The version first: the tables read after it are at least as new.
        let version = try await engine.store.version(of: DirectoryStream.main)
        let snapshot = try await engine.client.withConnection { try await DirectorySnapshot.load(on: $0, logger: self.logger) }
        state.withLock { state in
            // A slower reload that started earlier never replaces a newer one.
            guard (state.version ?? -1) <= (version ?? -1) || state.cursor < cursor else { return }
            state = (snapshot, max(state.cursor, cursor), version)
        }
    }
}
