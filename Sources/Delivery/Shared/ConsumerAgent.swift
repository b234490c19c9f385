import EventLog
import ServiceLifecycle

/// A consumer of the log run as one of `serve`'s services: it follows the log from its
/// checkpoint until the service group shuts down, through database outages.
public protocol ConsumerAgent: Service {
    var consumer: LogConsumer { get }
}

extension ConsumerAgent {
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            try? await consumer.run()
        }
    }

    /// Handles everything in the log so far; returns how many events it read.
    @discardableResult
    public func catchUp() async throws -> Int {
        try await consumer.catchUp()
    }
}
