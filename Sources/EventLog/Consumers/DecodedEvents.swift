import Synchronization

/// The events this process decoded last, by position: the log's followers read the same
/// events one after another (local delivery, the audit projections, the outqueue and the other
/// agents all read each `message_accepted`), and the first to decode one saves the others the
/// work. Events never change once appended, so an entry is never stale; the oldest go first
/// once `capacity` is reached.
final class DecodedEvents: Sendable {
    private struct State {
        var events: [Int64: any Event] = [:]
        var order: [Int64] = []
        var next = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 2_048) { self.capacity = capacity }

    /// The event decoded at `position` as `type`, decoding and keeping it when it is not here.
    func event(at position: Int64, as type: any Event.Type, decode: () throws -> any Event) throws -> any Event {
        if let hit = state.withLock({ $0.events[position] }), Swift.type(of: hit) == type { return hit }
        let event = try decode()
        keep(event, at: position)
        return event
    }

    /// Keeps an event decoded elsewhere from its stored payload (an inline projection's).
    func keep(_ event: any Event, at position: Int64) {
        state.withLock { state in
            guard state.events[position] == nil else { return }
            if state.order.count < capacity {
                state.order.append(position)
            } else {
                state.events[state.order[state.next]] = nil
                state.order[state.next] = position
                state.next = (state.next + 1) % capacity
            }
            state.events[position] = event
        }
    }
}
