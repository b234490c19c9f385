import Logging
import PostgresNIO

extension PostgresClient {
    /// Adds the client's run loop to `group` and returns once that task has begun, so the first
    /// query does not race the pool's start.
    public func start(in group: inout ThrowingTaskGroup<Void, any Error>) async {
        await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
            group.addTask {
                started.resume()
                await self.run()
            }
        }
        await Task.yield()
    }

    /// Runs `body` while the client runs, for commands and tests outside a service group.
    public func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            await start(in: &group)
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// `withTransaction`, rethrowing the closure's own error rather than postgres-nio's wrapper
    /// (which is kept when BEGIN, COMMIT or ROLLBACK failed as well).
    public func transaction<Result: Sendable>(logger: Logger, _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await withTransaction(logger: logger) { try await body($0) }
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError, error.rollbackError == nil, error.commitError == nil, error.beginError == nil {
                throw closureError
            }
            throw error
        }
    }
}
