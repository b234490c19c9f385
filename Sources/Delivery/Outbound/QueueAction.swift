import EventLog
import Facts
import Foundation
import Logging

/// An administrator's action on a queued message (VPOP3's OutQueue buttons), for the CLI and
/// the web admin alike: each is one fact on the message's stream, checked against the stream
/// as read and appended only if nothing was appended since.
public enum QueueAction: Sendable {
    /// Not sent until released.
    case hold
    case release
    /// Its unsent recipients removed, no one told.
    case delete
    /// Its waiting recipients tried now.
    case retry
    /// Its unsent recipients failed now and the message returned to its sender.
    case bounce
    /// Smaller goes first; -1000 to 1000.
    case priority(Int)

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
        /// There is no such message in the queue (as opposed to one the action does not fit).
        public let notFound: Bool
    }

    /// The fact the action makes of `message`, or why it does not apply.
    public func event(for message: OutboundMessage, by actor: String) throws -> EventData {
        let id = message.accepted.messageID
        switch self {
        case .hold:
            guard !message.held else { throw Refused(description: "\(id) is already held", notFound: false) }
            return try EventData(QueueHeld(messageID: id, by: actor))
        case .release:
            guard message.held else { throw Refused(description: "\(id) is not held", notFound: false) }
            return try EventData(QueueReleased(messageID: id, by: actor))
        case .delete:
            return try EventData(QueueDeleted(messageID: id, recipients: message.unfinished.map(\.rcptid), by: actor))
        case .retry:
            return try EventData(RetryRequested(messageID: id, by: actor))
        case .bounce:
            return try EventData(BounceRequested(messageID: id, by: actor))
        case .priority(let priority):
            guard (-1_000...1_000).contains(priority) else {
                throw Refused(description: "the priority must be -1000...1000", notFound: false)
            }
            return try EventData(PriorityChanged(messageID: id, priority: priority, by: actor))
        }
    }

    /// Applies the action to message `id`.
    public func apply(to id: String, by actor: String, store: EventStore, logger: Logger) async throws {
        // A message id names its stream; one that cannot is no queued message.
        guard let stream = try? DeliveryFacts.stream(id) else { throw Refused(description: "no queued message \(id)", notFound: true) }
        // The scheduler may be recording an attempt at this moment: read, decide, append
        // only if the stream did not move, a few times.
        for _ in 0..<5 {
            guard let (message, _) = try await OutboundMessage.load(id, from: store, logger: logger) else {
                throw Refused(description: "no queued message \(id)", notFound: true)
            }
            guard !message.isFinished else { throw Refused(description: "\(id) has no recipient left to send to", notFound: false) }
            do {
                try await store.append([try event(for: message, by: actor)], to: stream, expectedVersion: .exactly(message.version))
                return
            } catch is WrongExpectedVersion {
                continue
            }
        }
        throw Refused(description: "\(id) kept changing; try again", notFound: false)
    }
}
