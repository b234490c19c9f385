import EventLog
import Foundation

/// A queued message as its stream tells it: the accepted message and, for each remote
/// recipient, where its delivery stands. A pure fold over the message's events, shared by the
/// delivery scheduler (which decides from it) and the CLI (which checks an action against it).
public struct OutboundMessage: Sendable {
    public enum State: String, Sendable, Codable {
        /// Not tried yet, or waiting for its next attempt.
        case queued, deferred
        case delivered, failed, deleted

        public var isFinished: Bool { self == .delivered || self == .failed || self == .deleted }
    }

    public struct Recipient: Sendable {
        public let rcptid: Int
        public let address: String
        public let notify: [String]
        public let originalRecipient: String?
        /// The reverse-path this recipient's copy leaves with.
        public let envelopeSender: String
        /// Set for a recipient of the LAN queue: where it goes.
        public let lan: LANTarget?
        /// The distribution list address this member was reached through.
        public let distributedBy: String?
        public var state: State = .queued
        /// When it may be tried again; nil for at once.
        public var nextAttempt: Date?
        /// What it waits for when it was held back untried (`sending limit`, `connection <name>`).
        public var waitingFor: String?
        public var attempts = 0
        public var lastReply: RemoteReply?
        public var lastRemoteMTA: String?
        public var delayWarned = false
    }

    public let accepted: MessageAccepted
    /// When the message was accepted: the queue lifetime counts from here.
    public let arrivedAt: Date
    public private(set) var recipients: [Recipient]
    public private(set) var held = false
    public private(set) var priority = 0
    /// Attempts recorded so far (each `delivery_attempted`).
    public private(set) var attempts = 0
    public private(set) var bounceRequested = false
    /// The stream's version after the last event folded in.
    public private(set) var version: Int64 = -1

    /// Nil when `accepted` has no remote or LAN recipient.
    public init?(accepted: MessageAccepted, arrivedAt: Date) {
        let remote = accepted.recipients.filter(\.isQueued)
        guard !remote.isEmpty else { return nil }
        self.accepted = accepted
        self.arrivedAt = arrivedAt
        priority = accepted.priority ?? 0
        recipients = remote.enumerated().map { index, recipient in
            Recipient(rcptid: index + 1, address: recipient.address, notify: recipient.notify,
                      originalRecipient: recipient.originalRecipient,
                      envelopeSender: recipient.envelopeSender ?? accepted.reversePath,
                      lan: recipient.route == .lan ? recipient.lan : nil, distributedBy: recipient.distributedBy)
        }
    }

    /// The fold of a message stream's events in order; nil when it holds no accepted message
    /// with remote recipients.
    public init?(stream events: [(event: any Event, recorded: RecordedEvent)]) {
        guard let first = events.first, let accepted = first.event as? MessageAccepted,
              var message = OutboundMessage(accepted: accepted, arrivedAt: first.recorded.recordedAt) else { return nil }
        message.version = first.recorded.streamVersion
        for (event, recorded) in events.dropFirst() {
            message.apply(event)
            message.version = recorded.streamVersion
        }
        self = message
    }

    public mutating func apply(_ event: any Event) {
        switch event {
        case let attempted as DeliveryAttempted:
            attempts = max(attempts, attempted.attempt)
            for outcome in attempted.outcomes {
                update(outcome.rcptid) {
                    $0.attempts += 1
                    $0.waitingFor = nil
                    $0.lastReply = outcome.reply
                    $0.lastRemoteMTA = attempted.mxHost
                }
            }
        case let delivered as Delivered:
            for id in delivered.recipients { update(id) { $0.state = .delivered; $0.nextAttempt = nil } }
        case let deferred as DeliveryDeferred:
            for id in deferred.recipients {
                update(id) {
                    guard !$0.state.isFinished else { return }
                    $0.state = .deferred
                    $0.nextAttempt = deferred.nextAttempt
                    $0.waitingFor = deferred.waitingFor
                }
            }
        case let failed as DeliveryFailed:
            for failure in failed.failures {
                update(failure.rcptid) {
                    $0.state = .failed
                    $0.nextAttempt = nil
                    $0.lastReply = failure.reply
                }
            }
            bounceRequested = false
        case let warned as DelayWarningSent:
            for id in warned.recipients { update(id) { $0.delayWarned = true } }
        case is QueueHeld: held = true
        case is QueueReleased: held = false
        case let deleted as QueueDeleted:
            for id in deleted.recipients { update(id) { if !$0.state.isFinished { $0.state = .deleted; $0.nextAttempt = nil } } }
        case is RetryRequested:
            for index in recipients.indices where !recipients[index].state.isFinished { recipients[index].nextAttempt = nil }
        case is BounceRequested: bounceRequested = true
        case let changed as PriorityChanged: priority = changed.priority
        default: break
        }
    }

    private mutating func update(_ rcptid: Int, _ change: (inout Recipient) -> Void) {
        guard rcptid >= 1, rcptid <= recipients.count else { return }
        change(&recipients[rcptid - 1])
    }

    public var unfinished: [Recipient] { recipients.filter { !$0.state.isFinished } }
    public var isFinished: Bool { unfinished.isEmpty }

    /// The recipients to try at `now`: unfinished, not held, and due, or waiting for one of
    /// the `online` connections.
    public func due(at now: Date, online: Set<String> = []) -> [Recipient] {
        guard !held else { return [] }
        return unfinished.filter { recipient in
            if (recipient.nextAttempt ?? .distantPast) <= now { return true }
            guard let waiting = recipient.waitingFor, waiting.hasPrefix("connection ") else { return false }
            return online.contains(String(waiting.dropFirst("connection ".count)))
        }
    }

    /// Whether finishing `ids` would leave nothing unfinished.
    public func finishes(_ ids: some Sequence<Int>) -> Bool {
        let finishing = Set(ids)
        return unfinished.allSatisfy { finishing.contains($0.rcptid) }
    }
}

extension MessageAccepted.Recipient {
    /// For the queue: another server (`remote`) or the LAN queue (`lan`, with its target).
    public var isQueued: Bool { route == .remote || (route == .lan && lan != nil) }
}
