import Facts
import Foundation

/// Each sender's "X recipients per Y minutes" (VPOP3 6.11): the recipients it handed to a
/// server lately, and how many more may go now. A sender's window is seeded, on first use,
/// from `outqueue.sendattempts`, so a restart does not grant a fresh allowance.
actor SendingWindows {
    struct Entry: Sendable {
        var at: Date
        var count: Int
    }

    private var windows: [String: [Entry]] = [:]

    func isSeeded(_ sender: String) -> Bool { windows[sender.lowercased()] != nil }

    /// The attempts recorded before this process began counting; ignored once counting began.
    func seed(_ sender: String, _ entries: [Entry]) {
        let key = sender.lowercased()
        if windows[key] == nil { windows[key] = entries.sorted { $0.at < $1.at } }
    }

    /// Takes up to `wanted` recipients from the window at `now`: how many may go, and, when
    /// not all, when the next one may.
    func take(_ sender: String, wanted: Int, limit: MailSender.RateLimit, now: Date) -> (granted: Int, next: Date?) {
        let key = sender.lowercased()
        let span = TimeInterval(limit.minutes * 60)
        var entries = windows[key, default: []].filter { now.timeIntervalSince($0.at) < span }
        let used = entries.reduce(0) { $0 + $1.count }
        let granted = max(0, min(wanted, limit.recipients - used))
        if granted > 0 { entries.append(Entry(at: now, count: granted)) }
        windows[key] = entries
        guard granted < wanted else { return (granted, nil) }
        // The window frees as its oldest entries age out: the next recipient may go when
        // enough of them have.
        var freed = limit.recipients - used - granted
        for entry in entries {
            freed += entry.count
            if freed > 0 { return (granted, entry.at.addingTimeInterval(span)) }
        }
        return (granted, now.addingTimeInterval(span))
    }
}
