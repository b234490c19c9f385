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
    /// How long a batch's statement may run before its connection is closed and its writers get
    /// a transient error.
    private let statementDeadline: Duration
    /// For `/metrics`: groups per committed batch, how long an append waits for its commit,
    /// and how long a batch's transaction takes.
    private let batchSizes = Recorder(label: "pillarbox_append_batch_groups", aggregate: true)
    private let appendLatency = Metrics.Timer(label: "pillarbox_append_seconds")
    private let commitLatency = Metrics.Timer(label: "pillarbox_append_commit_seconds")

    init(client: PostgresClient, maxWait: Duration, maxEvents: Int, maxBytes: Int, connectionDeadline: Duration = .seconds(30),
         statementDeadline: Duration = .seconds(60), logger: Logger) {
        self.client = client
        self.connectionDeadline = connectionDeadline
        self.statementDeadline = max(statementDeadline, connectionDeadline)
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

    private typealias BatchResults = [Result<[AppendResult], any Error>]

    /// One batch's run, shared between the task that runs it and the watch that bounds it: the
    /// connection it holds, and the caller's continuation, resumed once by whichever of the two
    /// ends first.
    private final class Run: Sendable {
        private struct State {
            var connection: PostgresConnection?
            var continuation: CheckedContinuation<BatchResults, any Error>?
            var batch: Task<Void, Never>?
            var watch: Task<Void, Never>?
        }

        private let state = Mutex(State())

        init(_ continuation: CheckedContinuation<BatchResults, any Error>) {
            state.withLock { $0.continuation = continuation }
        }

        func start(batch: Task<Void, Never>, watch: Task<Void, Never>) {
            let ended = state.withLock { state in
                state.batch = batch
                state.watch = watch
                return state.continuation == nil
            }
            // A batch may end before its tasks are recorded.
            if ended { watch.cancel() }
        }

        func lease(_ connection: PostgresConnection) {
            state.withLock { $0.connection = connection }
        }

        var leased: Bool { state.withLock { $0.connection != nil } }

        /// The batch ended: its writers get its outcome and the watch stops.
        func batchEnded(_ outcome: Result<BatchResults, any Error>) {
            let (continuation, watch) = state.withLock { state in
                defer { state.continuation = nil }
                return (state.continuation, state.watch)
            }
            watch?.cancel()
            continuation?.resume(with: outcome)
        }

        /// The watch gave up on the batch, unless it ended meanwhile: its writers get `error`,
        /// the batch is cancelled (it may still be waiting for a connection), and the connection
        /// it holds, if any, is closed, which fails its statement on the batch's side. The close
        /// is not awaited: a connection that stopped answering may not answer it either.
        func givenUp(_ error: any Error) {
            let (continuation, batch, connection) = state.withLock { state in
                defer { state.continuation = nil }
                return (state.continuation, state.batch, state.connection)
            }
            guard let continuation else { return }
            batch?.cancel()
            if let connection { Task { try? await connection.close() } }
            continuation.resume(throwing: error)
        }
    }

    /// The batch on a connection of the pool, bounded twice, so that neither a pool that does
    /// not recover nor a connection that stopped answering holds the lead, and every writer queued
    /// behind it, for ever:
    /// - a batch without a connection after `connectionDeadline` fails (nothing was sent, so
    ///   nothing can have committed);
    /// - a batch whose statement runs is logged at every `connectionDeadline` it runs past; after
    ///   `statementDeadline` its connection is closed and its writers get a transient error. Its
    ///   transaction may still commit on the server: the writers' retries then find their event
    ///   ids already there, which is harmless.
    ///
    /// The batch runs in a task of its own, so that giving up on it never waits for it.
    private func runWithDeadline(_ groups: [PreparedGroup]) async throws -> BatchResults {
        try await withCheckedThrowingContinuation { continuation in
            let run = Run(continuation)
            let watch = Task {
                do {
                    try await self.watch(run, groups: groups.count)
                } catch is CancellationError {
                    // The batch ended.
                } catch {
                    run.givenUp(error)
                }
            }
            let batch = Task {
                do {
                    let results = try await self.client.withConnection { connection in
                        run.lease(connection)
                        return try await AppendBatchStatement.run(groups, on: connection, logger: self.logger)
                    }
                    run.batchEnded(.success(results))
                } catch {
                    run.batchEnded(.failure(error))
                }
            }
            run.start(batch: batch, watch: watch)
        }
    }

    /// Runs until cancelled (the batch ended) or throws the error the batch's writers get.
    private func watch(_ run: Run, groups: Int) async throws {
        var waited = Duration.zero
        while true {
            let step = min(connectionDeadline, statementDeadline - waited)
            try await Task.sleep(for: step)
            waited += step
            guard run.leased else {
                logger.error("no database connection for a group commit; failing its batch",
                             metadata: ["waited": "\(waited)", "groups": "\(groups)"])
                throw EventLogError.noConnection(waited: waited)
            }
            guard waited < statementDeadline else {
                logger.error("a group commit's statement did not return; closing its connection and failing its batch",
                             metadata: ["after": "\(waited)", "groups": "\(groups)"])
                throw EventLogError.statementAbandoned(after: waited)
            }
            // Every writer queued behind this batch waits with it: say so for as long as it runs.
            logger.warning("a group commit's statement is still running; appends wait behind it",
                           metadata: ["after": "\(waited)", "groups": "\(groups)",
                                      "queued": "\(state.withLock { $0.queue.count })"])
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
