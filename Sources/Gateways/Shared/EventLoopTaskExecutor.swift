import NIOCore

/// Runs a task's jobs on one NIO event loop: a session whose task prefers its connection's loop
/// reads, writes and resumes on the thread that does the connection's I/O, instead of handing
/// each read and each write over between that thread and Swift's thread pool. Work the session
/// starts in a task of its own (`Task {}`) does not inherit the preference and runs on the pool.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
