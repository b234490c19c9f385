import Synchronization

/// The newest stretch of the log this process has read for its followers, every category at
/// once: local delivery, the outqueue and audit projections, the receipt and list agents all
/// follow the same few categories a little apart, and each reading the same events from the
/// database (and decompressing them) again was most of what following cost.
///
/// The window holds the events in read order after `start` up to and including `end`, where
/// `end` was a horizon when it was read: every transaction before it had ended, so nothing can
/// ever be added inside the window, and what it holds is final. A follower whose place lies
/// inside it is answered from memory, after the window has been read on to the follower's
/// horizon when it did not reach that far; one whose place is before it (a follower catching up
/// from far behind) reads the database itself. One read extends the window at a time; the
/// others wait for it and take their events from it.
final class LogWindow: Sendable {
    private struct Entry {
        let event: RecordedEvent
        let category: String
    }

    private struct State {
        var start = LogCursor.start
        var end = LogCursor.start
        var started = false
        var entries: [Entry] = []
        /// The first live entry: the ones before it have left the window.
        var head = 0
        var bytes = 0
        var extending: Task<Void, any Error>?
    }

    private let state = Mutex(State())
    let capacity: Int
    let byteCapacity: Int

    init(capacity: Int = 16_384, byteCapacity: Int = 32 << 20) {
        self.capacity = capacity
        self.byteCapacity = byteCapacity
    }

    /// Reads every category after one place up to and including another, at most a number of
    /// events, in read order.
    typealias Reader = @Sendable (_ after: LogCursor, _ through: LogCursor, _ limit: Int) async throws -> [RecordedEvent]

    /// Events of `categories` (all when empty) after `cursor` up to `horizon`, at most `limit`,
    /// and the place to read from next; nil when `cursor` lies before the window, for the
    /// caller to read the database itself.
    func events(after cursor: LogCursor, through horizon: LogCursor, categories: Set<String>, limit: Int,
                batch: Int, read: @escaping Reader) async throws -> (events: [RecordedEvent], next: LogCursor)? {
        while true {
            enum Step {
                case answer([RecordedEvent], LogCursor)
                case before
                case wait(Task<Void, any Error>)
            }
            let step: Step = state.withLock { state in
                if !state.started || (cursor > state.end && state.extending == nil) {
                    // Nothing held yet, or every follower has gone past it: start again here.
                    state = State(start: cursor, end: cursor, started: true)
                }
                if cursor < state.start { return .before }
                let found = Self.select(state, after: cursor, through: horizon, categories: categories, limit: limit)
                if found.count == limit, let last = found.last { return .answer(found, last.cursor) }
                if state.end >= horizon { return .answer(found, horizon) }
                if let extending = state.extending { return .wait(extending) }
                // Read on from the window's end to this horizon, for everyone.
                let from = state.end
                let task = Task {
                    let events = try await read(from, horizon, batch)
                    self.extend(from: from, with: events, reached: events.count < batch ? horizon : events.last?.cursor ?? from)
                }
                state.extending = task
                return .wait(task)
            }
            switch step {
            case .answer(let events, let next): return (events, next)
            case .before: return nil
            case .wait(let task):
                do {
                    try await task.value
                } catch {
                    state.withLock { if $0.extending == task { $0.extending = nil } }
                    throw error
                }
            }
        }
    }

    private func extend(from: LogCursor, with events: [RecordedEvent], reached: LogCursor) {
        state.withLock { state in
            state.extending = nil
            // Only onto the end it was read from: the window may have started again meanwhile.
            guard state.started, state.end == from else { return }
            for event in events {
                let category = event.stream.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)[0]
                state.entries.append(Entry(event: event, category: String(category)))
                state.bytes += event.json.count
            }
            state.end = max(state.end, reached)
            // The oldest leave first; the window then starts at the last one gone.
            while state.entries.count - state.head > capacity || (state.bytes > byteCapacity && state.head < state.entries.count) {
                let gone = state.entries[state.head]
                state.bytes -= gone.event.json.count
                state.start = gone.event.cursor
                state.head += 1
            }
            if state.head > 4_096, state.head * 2 > state.entries.count {
                state.entries.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    private static func select(_ state: State, after cursor: LogCursor, through horizon: LogCursor,
                               categories: Set<String>, limit: Int) -> [RecordedEvent] {
        // The first entry after `cursor`, by binary search over the read order.
        var low = state.head, high = state.entries.count
        while low < high {
            let middle = (low + high) / 2
            if state.entries[middle].event.cursor <= cursor { low = middle + 1 } else { high = middle }
        }
        var found: [RecordedEvent] = []
        var index = low
        while index < state.entries.count, found.count < limit {
            let entry = state.entries[index]
            if entry.event.cursor > horizon { break }
            if categories.isEmpty || categories.contains(entry.category) { found.append(entry.event) }
            index += 1
        }
        return found
    }
}
