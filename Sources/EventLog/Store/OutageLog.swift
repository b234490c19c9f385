import Logging

/// How a loop that keeps working through failures (a follower, the sealer, a consumer) reports
/// them: one error when an outage starts, one notice when it ends, and a growing pause between
/// attempts meanwhile (100 ms doubling to 5 s), so a database that is away for minutes neither
/// floods the log nor stops the loop.
public struct OutageLog: Sendable {
    let logger: Logger
    let what: String
    private(set) var failures = 0
    private var started: ContinuousClock.Instant?

    public init(logger: Logger, what: String) {
        self.logger = logger
        self.what = what
    }

    public var isFailing: Bool { failures > 0 }

    /// The pause before the next attempt.
    public var retryDelay: Duration {
        failures == 0 ? .zero : .milliseconds(min(100 * (1 << min(failures - 1, 6)), 5_000))
    }

    public mutating func failed(_ error: any Error) {
        failures += 1
        if failures == 1 {
            started = .now
            logger.error("\(what) failed; retrying until it works", metadata: ["error": "\(String(reflecting: error))"])
        } else {
            logger.debug("\(what) failed again", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(failures)"])
        }
    }

    public mutating func succeeded() {
        guard failures > 0 else { return }
        let lasted = started.map { ContinuousClock.now - $0 } ?? .zero
        logger.notice("\(what) works again", metadata: ["failures": "\(failures)", "after": "\(lasted)"])
        failures = 0
        started = nil
    }
}
