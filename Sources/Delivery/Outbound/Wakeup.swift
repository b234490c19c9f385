import Synchronization

/// Wakes the scheduler's loop: appends, finished deliveries, or a timeout. One task waits at a
/// time; a signal that finds none waiting is kept for the next wait. The timer of a wait ended
/// by a signal is cancelled with it, so a busy loop leaves no sleeping timers behind.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
        var timer: Task<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let (waiter, timer) = state.withLock { state -> (CheckedContinuation<Bool, Never>?, Task<Void, Never>?) in
            guard let waiter = state.waiter else {
                state.pending = true
                return (nil, nil)
            }
            defer { state.waiter = nil; state.timer = nil }
            return (waiter, state.timer)
        }
        timer?.cancel()
        waiter?.resume(returning: true)
    }

    /// True when woken by a signal, false on the timeout or cancellation.
    func wait(timeout: Duration) async -> Bool {
        let immediate = state.withLock { state -> Bool in
            defer { state.pending = false }
            return state.pending
        }
        if immediate { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let early = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if early {
                    continuation.resume(returning: true)
                    return
                }
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    self.end(returning: false)
                }
                // A signal may have come between registering and here: then the timer is not needed.
                let stillWaiting = state.withLock { state -> Bool in
                    guard state.waiter != nil else { return false }
                    state.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
                // Cancelled before the wait was registered: the handler found nothing to end.
                if Task.isCancelled { self.end(returning: false) }
            }
        } onCancel: {
            end(returning: false)
        }
    }

    private func end(returning value: Bool) {
        let (waiter, timer) = state.withLock { state -> (CheckedContinuation<Bool, Never>?, Task<Void, Never>?) in
            defer { state.waiter = nil; state.timer = nil }
            return (state.waiter, state.timer)
        }
        timer?.cancel()
        waiter?.resume(returning: value)
    }

    /// Returns when the calling task is cancelled.
    func whenCancelled() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3_600))
        }
    }
}
