import EventLog
import Foundation
import Logging
import Projections
import Synchronization

/// The long checks an administrator starts from the web admin: verifying the log's ledger,
/// and verifying or rebuilding a projection. They run one at a time, in the order asked, in
/// the admin listener's service; each keeps its progress (how far into the log it has got)
/// and its outcome for the pages and the API. The last `kept` jobs are remembered.
public final class AdminJobs: Sendable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// `pillarbox log verify`.
        case logVerify = "log-verify"
        /// `pillarbox verify NAME`.
        case verify
        /// `pillarbox rebuild NAME`.
        case rebuild
    }

    public enum State: String, Sendable, Codable {
        case queued, running, succeeded, failed
    }

    public struct Job: Sendable, Codable {
        public let id: Int
        public let kind: Kind
        /// The projection, for `verify` and `rebuild`.
        public let projection: String?
        public let actor: String
        public var state: State
        /// From 0 to 1.
        public var progress: Double
        public let created: Date
        public var finished: Date?
        /// What the job found, in a line or a few.
        public var result: String

        enum CodingKeys: String, CodingKey {
            case id, kind, projection, actor, state, progress, created, finished, result
        }
    }

    private struct Table {
        var jobs: [Job] = []
        var nextID = 1
    }

    private let table = Mutex(Table())
    private let requests: AsyncStream<Int>
    private let continuation: AsyncStream<Int>.Continuation
    let kept: Int

    public init(kept: Int = 50) {
        (requests, continuation) = AsyncStream.makeStream(of: Int.self)
        self.kept = kept
    }

    /// Queues a job; it starts once those before it have finished.
    func start(_ kind: Kind, projection: String?, actor: String, now: Date = Date()) -> Job {
        let job = table.withLock { table -> Job in
            let job = Job(id: table.nextID, kind: kind, projection: projection, actor: actor, state: .queued, progress: 0,
                          created: now, finished: nil, result: "")
            table.nextID += 1
            table.jobs.append(job)
            if table.jobs.count > kept, let index = table.jobs.firstIndex(where: { $0.state == .succeeded || $0.state == .failed }) {
                table.jobs.remove(at: index)
            }
            return job
        }
        continuation.yield(job.id)
        return job
    }

    /// The jobs remembered, newest first.
    func all() -> [Job] {
        table.withLock { $0.jobs.reversed() }
    }

    func job(_ id: Int) -> Job? {
        table.withLock { table in table.jobs.first { $0.id == id } }
    }

    private func update(_ id: Int, _ change: (inout Job) -> Void) {
        table.withLock { table in
            guard let index = table.jobs.firstIndex(where: { $0.id == id }) else { return }
            change(&table.jobs[index])
        }
    }

    /// Runs jobs as they are asked for, until the task is cancelled.
    func run(engine: ProjectionEngine, ledgerKey: [UInt8]?, logger: Logger) async {
        await withTaskCancellationHandler {
            for await id in requests {
                guard let job = job(id) else { continue }
                await run(job, engine: engine, ledgerKey: ledgerKey, logger: logger)
            }
        } onCancel: {
            continuation.finish()
        }
    }

    private func run(_ job: Job, engine: ProjectionEngine, ledgerKey: [UInt8]?, logger: Logger) async {
        update(job.id) { $0.state = .running }
        // Progress is the share of the log's positions, as they were when the job began, covered.
        var last: Int64 = 1
        do {
            last = max(try await engine.store.lastPosition(), 1)
        } catch {
            logger.debug("the log's end could not be read for a job's progress", metadata: ["error": "\(error)"])
        }
        let end = last
        let progress: @Sendable (Int64) -> Void = { [weak self] position in
            self?.update(job.id) { $0.progress = min(1, max($0.progress, Double(position) / Double(end))) }
        }
        var state = State.succeeded
        var result: String
        do {
            switch job.kind {
            case .logVerify:
                var options = LedgerVerifier.Options(trustedKey: ledgerKey)
                options.progress = progress
                let report = try await LedgerVerifier(store: engine.store, logger: logger).verify(options)
                if let failure = report.failure {
                    state = .failed
                    result = "log verification failed: \(failure)"
                } else {
                    result = "log intact: \(report.sealed) sealed events match the ledger; \(report.unsealed) not sealed yet match "
                        + "their hashes; \(report.signedHeads) signed heads match; \(report.blobs) message bodies match their SHA-256"
                }
            case .verify:
                let projection = try engine.projection(named: job.projection ?? "")
                let verification = try await engine.verify(projection, progress: progress)
                if !verification.matches { state = .failed }
                result = "\(projection.name): " + (verification.matches ? "the rebuilt tables match the live ones" : "DIFFERS")
                for (live, rebuilt) in zip(verification.live, verification.rebuilt) where live != rebuilt {
                    result += "\n\(live.table): live \(live.rows) rows, rebuilt \(rebuilt.rows) rows"
                }
                for difference in verification.differences { result += "\n" + difference }
            case .rebuild:
                let projection = try engine.projection(named: job.projection ?? "")
                let cursor = try await engine.rebuild(projection, progress: progress)
                result = "rebuilt \(projection.name) up to position \(cursor.position)"
            }
        } catch {
            state = .failed
            result = "\(error)"
            logger.warning("an admin job failed", metadata: ["job": "\(job.id)", "kind": "\(job.kind.rawValue)", "error": "\(error)"])
        }
        update(job.id) { job in
            job.state = state
            job.result = result
            job.finished = Date()
            if state == .succeeded { job.progress = 1 }
        }
    }
}
