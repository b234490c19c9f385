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
    private let state = Mutex<(snapshot: DirectorySnapshot, cursor: LogCursor, loaded: Bool)>((DirectorySnapshot(), .start, false))

    public init(engine: ProjectionEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    public var snapshot: DirectorySnapshot { state.withLock { $0.snapshot } }

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
        var cursor = state.withLock { $0.cursor }
        var changed = force
        while true {
            let events = try await engine.store.read(after: cursor, categories: [DirectoryStream.category], limit: 1_000, on: nil)
            guard let last = events.last else { break }
            cursor = LogCursor(transaction: last.transaction, position: last.position)
            changed = true
        }
        guard changed else { return }
        let snapshot = try await engine.client.withConnection { try await DirectorySnapshot.load(on: $0, logger: self.logger) }
        state.withLock { $0 = (snapshot, cursor, true) }
    }
}
