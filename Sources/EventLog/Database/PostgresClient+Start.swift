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
