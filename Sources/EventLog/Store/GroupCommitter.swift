import Logging
import Metrics
import PostgresNIO
import Synchronization

/// Batches concurrent appends into one transaction, so durable throughput grows with the number
/// of writers instead of being capped at one commit per append (the way PostgreSQL's own WAL
/// flush or a single queue writer such as Postfix's work).
///
/// Leader and followers: a writer that finds no batch in progress leads one, on its own task;
/// writers arriving meanwhile queue up. When a batch commits, its followers get their results
/// and the first writer still queued leads the next batch. When the last batch held several
/// groups, a new leader first waits — at most `maxWait` — for as many to queue again, since
/// those writers are likely about to append; a lone writer therefore never waits, and never
/// changes task. Each caller's `await` returns only after the transaction holding its events
/// has committed (connections run with `synchronous_commit = on`).
final class GroupCommitter: Sendable {
    private enum Turn: Sendable {
        case committed([AppendResult])
        case lead
    }

    private struct Pending: Sendable {
        let group: PreparedGroup
        let continuation: CheckedContinuation<Turn, any Error>
    }

    private struct State {
        var queue: [Pending] = []
        var leading = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterTarget = 1
        var waiterToken = 0
        /// The last wait whose time ran out, so a wait that registers late still ends.
        var expiredToken = 0
        var lastBatchSize = 1
    }

    private let state = Mutex(State())
    private let maxWait: Duration
    private let maxEvents: Int
    private let maxBytes: Int
    private let client: PostgresClient
    private let logger: Logger
    /// How long a batch waits for a connection before it fails (its writers get a transient
    /// error and the lead passes on), and after how long a running batch is reported as slow.
    private let connectionDeadline: Duration
    /// For `/metrics`: groups per committed batch, how long an append waits for its commit,
    /// and how long a batch's transaction takes.
    private let batchSizes = Recorder(label: "pillarbox_append_batch_groups", aggregate: true)
    private let appendLatency = Metrics.Timer(label: "pillarbox_append_seconds")
    private let commitLatency = Metrics.Timer(label: "pillarbox_append_commit_seconds")

    init(client: PostgresClient, maxWait: Duration, maxEvents: Int, maxBytes: Int, connectionDeadline: Duration = .seconds(30),
         logger: Logger) {
        self.client = client
        self.connectionDeadline = connectionDeadline
        self.maxWait = maxWait
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.logger = logger
    }

    /// Appends a group and returns its results once committed.
    func submit(_ group: PreparedGroup) async throws -> [AppendResult] {
        let started = ContinuousClock.now
        defer { appendLatency.record(duration: ContinuousClock.now - started) }
        // Leading or queueing is decided under one lock: a writer never queues behind a leader
        // that has just finished.
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            enum Role { case refused, leader, follower }
            let (role, leaderWaiting) = state.withLock { state -> (Role, CheckedContinuation<Void, Never>?) in
                guard !state.closed else { return (.refused, nil) }
                guard state.leading else {
                    state.leading = true
                    return (.leader, nil)
                }
                state.queue.append(Pending(group: group, continuation: continuation))
                guard let waiter = state.waiter, state.queue.count >= state.waiterTarget else { return (.follower, nil) }
                state.waiter = nil
                return (.follower, waiter)
            }
            switch role {
            case .refused: continuation.resume(throwing: EventLogError.shuttingDown)
            case .leader: continuation.resume(returning: .lead)
            case .follower: leaderWaiting?.resume()
            }
        }
        switch turn {
        case .committed(let results): return results
        case .lead: return try await lead(own: group)
        }
    }

    /// Refuses new appends; those already queued are still committed by their leaders.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Commits a batch led by this caller, then hands the lead to the next queued writer.
    private func lead(own group: PreparedGroup) async throws -> [AppendResult] {
        let target = state.withLock { $0.lastBatchSize }
        if target > 1 { await waitForQueue(count: target - 1, timeout: maxWait) }
        let followers = takeFollowers(ownEvents: group.eventCount, ownBytes: group.byteCount)

        var own: Result<[AppendResult], any Error> = .failure(EventLogError.shuttingDown)
        await commit([group] + followers.map(\.group)) { index, result in
            if index == 0 {
                own = result
            } else {
                followers[index - 1].continuation.resume(with: result.map { .committed($0) })
            }
        }

        let next = state.withLock { state -> Pending? in
            guard !state.queue.isEmpty else {
                state.leading = false
                return nil
            }
            return state.queue.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try own.get()
    }

    private func takeFollowers(ownEvents: Int, ownBytes: Int) -> [Pending] {
        state.withLock { state -> [Pending] in
            var events = ownEvents
            var bytes = ownBytes
            var taken = 0
            for pending in state.queue {
                events += pending.group.eventCount
                bytes += pending.group.byteCount
                if events > maxEvents || bytes > maxBytes { break }
                taken += 1
            }
            let followers = Array(state.queue.prefix(taken))
            state.queue.removeFirst(taken)
            state.lastBatchSize = taken + 1
            return followers
        }
    }

    /// Waits until `count` writers are queued, the timeout passes, or the committer closes.
    private func waitForQueue(count: Int, timeout: Duration) async {
        let token = state.withLock { state -> Int in
            state.waiterToken += 1
            return state.waiterToken
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                // The time may run out before the leader has registered its wait (a busy
                // machine can run this task first): the token says so, and the wait then ends
                // at once instead of hanging until some other writer comes along.
                let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                    guard state.waiterToken == token else { return nil }
                    state.expiredToken = token
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.closed || state.queue.count >= count || state.expiredToken == token { return true }
                    state.waiter = continuation
                    state.waiterTarget = count
                    return false
                }
                if ready { continuation.resume() }
            }
            group.cancelAll()
        }
    }

    /// Shares whether a batch's connection has been leased between its two tasks.
    private final class Lease: Sendable {
        let taken = Mutex(false)
    }

    /// The batch on a connection of the pool. Waiting for the connection is bounded: a batch
    /// without one after `connectionDeadline` fails (nothing was sent, so nothing can have
    /// committed), so that a pool that does not recover never holds the lead, and every writer
    /// queued behind it, for ever. A batch whose statement is running is never cut short (it
    /// may commit); one running longer than the deadline is logged at every deadline it runs past.
    private func runWithDeadline(_ groups: [PreparedGroup]) async throws -> [Result<[AppendResult], any Error>] {
        let lease = Lease()
        return try await withThrowingTaskGroup(of: [Result<[AppendResult], any Error>].self) { group in
            group.addTask {
                try await self.client.withConnection { connection in
                    lease.taken.withLock { $0 = true }
                    return try await AppendBatchStatement.run(groups, on: connection, logger: self.logger)
                }
            }
            group.addTask {
                try await Task.sleep(for: self.connectionDeadline)
                guard lease.taken.withLock({ $0 }) else {
                    self.logger.error("no database connection for a group commit; failing its batch",
                                      metadata: ["waited": "\(self.connectionDeadline)", "groups": "\(groups.count)"])
                    throw EventLogError.noConnection(waited: self.connectionDeadline)
                }
                // Every writer queued behind this batch waits with it: say so for as long as it runs.
                var running = self.connectionDeadline
                while true {
                    self.logger.warning("a group commit's statement is still running; appends wait behind it",
                                        metadata: ["after": "\(running)", "groups": "\(groups.count)",
                                                   "queued": "\(self.state.withLock { $0.queue.count })"])
                    try await Task.sleep(for: self.connectionDeadline)
                    running += self.connectionDeadline
                }
            }
            // Only the batch returns: the watch above throws or runs until it is cancelled.
            guard let results = try await group.next() else { throw EventLogError.shuttingDown }
            group.cancelAll()
            return results
        }
    }

    /// Runs a batch and reports each group's result; a batch PostgreSQL refused as a whole is
    /// retried group by group.
    private func commit(_ groups: [PreparedGroup], report: (Int, Result<[AppendResult], any Error>) -> Void) async {
        batchSizes.record(groups.count)
        let started = ContinuousClock.now
        defer { commitLatency.record(duration: ContinuousClock.now - started) }
        do {
            let results = try await runWithDeadline(groups)
            for (index, result) in results.enumerated() { report(index, result) }
        } catch {
            // A batch fails as a whole only for reasons outside the appends' own checks (a lost
            // connection, an event id raced in by another process). When PostgreSQL refused a
            // statement, each group is retried alone, so one group's trouble stays its own (event
            // ids make a retry of a committed group harmless). When the database cannot be
            // reached, every group fails now: retrying them one by one would hold the lead, and
            // every writer queued behind it, for one connection timeout per group.
            guard groups.count > 1, (error as? PSQLError)?.serverInfo != nil, !DatabaseErrorText.isUnavailable(error) else {
                for index in groups.indices { report(index, .failure(error)) }
                return
            }
            logger.debug("batch of \(groups.count) failed; retrying its groups one by one", metadata: ["error": "\(error)"])
            for (index, group) in groups.enumerated() {
                await commit([group]) { _, result in report(index, result) }
            }
        }
    }
}
