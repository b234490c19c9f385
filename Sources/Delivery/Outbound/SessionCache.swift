import Foundation
import Synchronization

/// Open sessions to receiving servers waiting for their next message, by `address:port`, so
/// messages to one host reuse a connection (up to `outqueue.max_messages_per_session`). A
/// session left idle for `idleLimit` is closed with QUIT.
final class SessionCache: Sendable {
    private struct Idle {
        let session: OutboundSession
        let since: ContinuousClock.Instant
    }

    private let idle = Mutex<[String: [Idle]]>([:])
    let idleLimit: Duration
    /// At most this many idle sessions per destination: as many as deliveries may run at once,
    /// so a burst to one server keeps its connections.
    let perKey: @Sendable () -> Int

    init(idleLimit: Duration = .seconds(5), perKey: @escaping @Sendable () -> Int = { 4 }) {
        self.idleLimit = idleLimit
        self.perKey = perKey
    }

    /// An idle session to `key` that may take another message (of `recipients` recipients,
    /// within `maxRecipients` for the session when there is such a limit).
    func take(_ key: String, maxTransactions: Int, recipients: Int = 0, maxRecipients: Int? = nil) -> OutboundSession? {
        idle.withLock { table -> OutboundSession? in
            while var sessions = table[key], let last = sessions.popLast() {
                table[key] = sessions.isEmpty ? nil : sessions
                if last.session.usable && last.session.transactions < maxTransactions
                    && last.session.recipientsSent + recipients <= (maxRecipients ?? .max)
                    && ContinuousClock.now - last.since < idleLimit {
                    return last.session
                }
                let stale = last.session
                Task { await stale.quit() }
            }
            return nil
        }
    }

    /// Keeps `session` for the next message to the same place, or ends it.
    func put(_ key: String, _ session: OutboundSession, maxTransactions: Int, maxRecipients: Int? = nil) async {
        guard session.usable, session.transactions < maxTransactions, session.recipientsSent < (maxRecipients ?? .max) else {
            await session.quit()
            return
        }
        let limit = perKey()
        let kept = idle.withLock { table -> Bool in
            guard (table[key]?.count ?? 0) < limit else { return false }
            table[key, default: []].append(Idle(session: session, since: .now))
            return true
        }
        guard kept else {
            await session.quit()
            return
        }
        // One sweeper at a time ends the sessions whose idle time is up, rather than a timer
        // per message handed back.
        guard sweeping.withLock({ sweeping in defer { sweeping = true }; return !sweeping }) else { return }
        Task { [weak self] in await self?.sweep() }
    }

    private let sweeping = Mutex(false)

    /// Sleeps until the oldest idle session's time is up, ends those whose time is, and goes on
    /// while any are left.
    private func sweep() async {
        while true {
            let oldest = idle.withLock { table -> ContinuousClock.Instant? in
                let oldest = table.values.flatMap { $0.map(\.since) }.min()
                if oldest == nil { sweeping.withLock { $0 = false } }
                return oldest
            }
            guard let oldest else { return }
            try? await Task.sleep(until: oldest + idleLimit, clock: .continuous)
            await closeIdle(olderThan: idleLimit)
        }
    }

    /// Ends sessions idle for longer than `age`.
    func closeIdle(olderThan age: Duration) async {
        let now = ContinuousClock.now
        let stale = idle.withLock { table -> [OutboundSession] in
            var stale: [OutboundSession] = []
            for (key, sessions) in table {
                let keep = sessions.filter { now - $0.since < age }
                stale += sessions.filter { now - $0.since >= age }.map(\.session)
                table[key] = keep.isEmpty ? nil : keep
            }
            return stale
        }
        for session in stale { await session.quit() }
    }

    /// Ends every idle session (at shutdown).
    func closeAll() async {
        let all = idle.withLock { table -> [OutboundSession] in
            defer { table = [:] }
            return table.values.flatMap { $0.map(\.session) }
        }
        for session in all { await session.quit() }
    }
}

/// How many deliveries run at once to each destination domain (`outqueue.max_per_destination`).
actor DestinationLimiter {
    private var running: [String: Int] = [:]
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ destination: String, limit: Int) async {
        if running[destination, default: 0] < limit {
            running[destination, default: 0] += 1
            return
        }
        await withCheckedContinuation { waiting[destination, default: []].append($0) }
    }

    func release(_ destination: String) {
        if var queue = waiting[destination], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[destination] = queue.isEmpty ? nil : queue
            next.resume()
            return
        }
        running[destination, default: 1] -= 1
        if running[destination] == 0 { running[destination] = nil }
    }
}
