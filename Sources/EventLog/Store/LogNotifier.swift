import Logging
import PostgresNIO
import Synchronization

/// Wake-ups from PostgreSQL's NOTIFY. A notification only says "look again": whoever is woken
/// re-reads from its own cursor, so a lost notification delays a reader but never loses an event.
final class LogNotifier: Sendable {
    /// Sent by `eventlog.append_batch` in the appending transaction, so it arrives after COMMIT.
    static let eventsChannel = "pillarbox_events"
    /// Sent by `pillarbox log train-dict` after it stores a new dictionary.
    static let dictionariesChannel = "pillarbox_dicts"

    private struct State {
        var generation: UInt64 = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Increases with every wake-up; read it before reading the log, then wait for it to change.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every waiter.
    func wake() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            let woken = Array(state.waiters.values)
            state.waiters.removeAll()
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once the generation has moved past `generation`, after `timeout`, or when the
    /// task is cancelled, whichever comes first.
    func wait(after generation: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForWake(after: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWake(after generation: UInt64) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Listens until cancelled, reconnecting after failures. Every (re)connection wakes all
    /// waiters, since notifications sent while disconnected are gone.
    func run(client: PostgresClient, logger: Logger, onDictionaryChange: @escaping @Sendable () async -> Void) async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.eventsChannel) { events in
                        try await connection.listen(on: Self.dictionariesChannel) { dictionaries in
                            self.wake()
                            await onDictionaryChange()
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask {
                                    for try await _ in events { self.wake() }
                                }
                                group.addTask {
                                    for try await _ in dictionaries { await onDictionaryChange() }
                                }
                                try await group.next()
                                group.cancelAll()
                            }
                        }
                    }
                }
                delay = .milliseconds(100)
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for log notifications failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
