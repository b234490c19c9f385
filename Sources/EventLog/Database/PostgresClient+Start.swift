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
}

extension PostgresClient {
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
