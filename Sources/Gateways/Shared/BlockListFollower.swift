import EventLog
import Facts
import Foundation
import Logging
import Projections
import ServiceLifecycle
import Synchronization

/// Keeps the IPS's block list equal to `security.blocks`: loaded before serving, reloaded
/// whenever a block is added or lifted, by this process's IPS or by an administrator
/// (`pillarbox blocks add|remove`, the web admin).
public final class BlockListFollower: Service, Sendable {
    let engine: ProjectionEngine
    let prevention: IntrusionPrevention
    let logger: Logger
    private let cursor = Mutex(LogCursor.start)

    public init(engine: ProjectionEngine, prevention: IntrusionPrevention, logger: Logger) {
        self.engine = engine
        self.prevention = prevention
        self.logger = logger
    }

    public func load() async throws {
        try await catchUp(force: true)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.engine.store.follow(logger: self.logger, what: "following the block list",
                                           categories: [ClientBlocked.category]) {
                try await self.catchUp(force: false)
            }
        }
    }

    private func catchUp(force: Bool) async throws {
        let (moved, position) = try await engine.store.changed(after: cursor.withLock { $0 }, categories: [ClientBlocked.category])
        guard moved || force else {
            cursor.withLock { $0 = max($0, position) }
            return
        }
        prevention.replaceBlocks(try await BlocksProjection.current(engine: engine).map { ($0.address, $0.until) })
        cursor.withLock { $0 = position }
    }
}
