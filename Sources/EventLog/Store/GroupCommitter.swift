import Logging
import PostgresNIO
import Synchronization

/// Batches concurrent appends into one transaction, so durable throughput grows with the number
/// of writers instead of being capped at one fsync per append (the way Postfix's single queue
/// writer and PostgreSQL's own commit_delay work).
///
/// A batch starts as soon as the committer is free. When the previous batch held several groups,
/// the committer first waits — at most `maxWait` — for as many to queue up again, since those
/// writers are likely about to append. A lone writer therefore never waits. Each caller's `await`
/// returns only after the transaction holding its events has committed (the connection runs with
/// `synchronous_commit = on`).
final class GroupCommitter: Sendable {
    private struct Pending: Sendable {
        let group: PreparedGroup
        let continuation: CheckedContinuation<[AppendResult], any Error>
    }

    private struct State {
        var queue: [Pending] = []
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterTarget = 1
        var waiterToken = 0
        var lastBatchSize = 1
    }

    private let state = Mutex(State())
    private let maxWait: Duration
    private let maxEvents: Int
    private let maxBytes: Int
    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, maxWait: Duration, maxEvents: Int, maxBytes: Int, logger: Logger) {
        self.client = client
        self.maxWait = maxWait
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.logger = logger
    }

    /// Queues a group and returns its results once committed.
    func submit(_ group: PreparedGroup) async throws -> [AppendResult] {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> (wake: CheckedContinuation<Void, Never>?, refused: Bool) in
                guard !state.closed else { return (nil, true) }
                state.queue.append(Pending(group: group, continuation: continuation))
                if let waiter = state.waiter, state.queue.count >= state.waiterTarget {
                    state.waiter = nil
                    return (waiter, false)
                }
                return (nil, false)
            }
            if outcome.refused { continuation.resume(throwing: EventLogError.shuttingDown) }
            outcome.wake?.resume()
        }
    }

    /// Commits batches until cancelled; on cancellation, commits what is already queued, then
    /// refuses new appends.
    func run() async {
        await withTaskCancellationHandler {
            while let batch = await nextBatch() {
                await commit(batch)
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.closed = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    private func nextBatch() async -> [Pending]? {
        await waitForQueue(count: 1, timeout: nil)
        let target = state.withLock { $0.lastBatchSize }
        if target > 1 { await waitForQueue(count: target, timeout: maxWait) }
        return state.withLock { state -> [Pending]? in
            if state.queue.isEmpty { return state.closed ? nil : [] }
            var events = 0
            var bytes = 0
            var taken = 0
            for pending in state.queue {
                let groupEvents = pending.group.eventCount
                let groupBytes = pending.group.appends.reduce(0) { $0 + $1.byteCount }
                if taken > 0 && (events + groupEvents > maxEvents || bytes + groupBytes > maxBytes) { break }
                events += groupEvents
                bytes += groupBytes
                taken += 1
            }
            let batch = Array(state.queue.prefix(taken))
            state.queue.removeFirst(taken)
            state.lastBatchSize = taken
            return batch
        }
    }

    private func waitForQueue(count: Int, timeout: Duration?) async {
        let token = state.withLock { state -> Int in
            state.waiterToken += 1
            return state.waiterToken
        }
        await withTaskGroup(of: Void.self) { group in
            if let timeout {
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                        guard state.waiterToken == token else { return nil }
                        defer { state.waiter = nil }
                        return state.waiter
                    }
                    waiter?.resume()
                }
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.closed || state.queue.count >= count { return true }
                    state.waiter = continuation
                    state.waiterTarget = count
                    return false
                }
                if ready { continuation.resume() }
            }
            group.cancelAll()
        }
    }

    private func commit(_ batch: [Pending]) async {
        guard !batch.isEmpty else { return }
        do {
            let results = try await execute(batch.map(\.group))
            for (pending, result) in zip(batch, results) {
                pending.continuation.resume(with: result)
            }
        } catch {
            // A batch fails as a whole only for reasons outside the appends' own checks (a lost
            // connection, an event id raced in by another process). Retry each group alone so one
            // group's trouble is its own; event ids make a retry of a committed group harmless.
            if batch.count > 1 {
                logger.debug("batch of \(batch.count) failed; retrying its groups one by one", metadata: ["error": "\(error)"])
                for pending in batch { await commit([pending]) }
            } else {
                batch[0].continuation.resume(throwing: error)
            }
        }
    }

    private func execute(_ groups: [PreparedGroup]) async throws -> [Result<[AppendResult], any Error>] {
        try await client.withConnection { connection in
            try await AppendBatchStatement.run(groups, on: connection, logger: logger)
        }
    }
}
