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
        /// Every wake-up so far.
        var total: UInt64 = 0
        /// Wake-ups that named no category: anything may have grown.
        var unnamed: UInt64 = 0
        /// Wake-ups per category they named.
        var byCategory: [String: UInt64] = [:]
        var nextWaiter = 0
        var waiters: [Int: (categories: Set<String>, continuation: CheckedContinuation<Void, Never>)] = [:]

        /// What a reader of `categories` (every category when empty) has to look at.
        func generation(for categories: Set<String>) -> UInt64 {
            guard !categories.isEmpty else { return total }
            return categories.reduce(unnamed) { $0 &+ (byCategory[$1] ?? 0) }
        }
    }

    private let state = Mutex(State())

    /// Increases with every wake-up; read it before reading the log, then wait for it to change.
    var generation: UInt64 { state.withLock { $0.total } }

    /// Increases with every wake-up that may concern `categories` (all of them when empty).
    func generation(for categories: Set<String>) -> UInt64 {
        state.withLock { $0.generation(for: categories) }
    }

    /// Wakes the waiters that follow any of `categories`, or every waiter when it is nil.
    func wake(categories: Set<String>? = nil) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.total &+= 1
            if let categories {
                for category in categories { state.byCategory[category, default: 0] &+= 1 }
            } else {
                state.unnamed &+= 1
            }
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters
            where categories == nil || waiter.categories.isEmpty || !waiter.categories.isDisjoint(with: categories!) {
                woken.append(waiter.continuation)
                state.waiters.removeValue(forKey: id)
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// The categories a NOTIFY payload names: nil (anything) when it is empty.
    static func categories(inPayload payload: String) -> Set<String>? {
        let names = payload.split(separator: ",").map(String.init)
        return names.isEmpty ? nil : Set(names)
    }

    /// Returns once the generation for `categories` has moved past `generation`, after
    /// `timeout`, or when the task is cancelled, whichever comes first.
    func wait(after generation: UInt64, categories: Set<String> = [], timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForWake(after: generation, categories: categories) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWake(after generation: UInt64, categories: Set<String>) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.generation(for: categories) != generation || Task.isCancelled { return true }
                    state.waiters[id] = (categories, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
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
                                    for try await event in events {
                                        self.wake(categories: Self.categories(inPayload: event.payload))
                                    }
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
