import EventLog
import Foundation

// The facts of sending a queued message to other servers. All of them go on the message's own
// stream (`message-<messageID>`, after its `message_accepted`). The delivery scheduler is the
// one writer of the delivery-state facts (`delivery_attempted`, `delivery_deferred`,
// `delivered`, `delivery_failed`, `delay_warning_sent`); the administrative facts (`queue_*`,
// `retry_requested`, `priority_changed`) are written by the admin surfaces (the CLI), and the
// scheduler acts on them. A recipient is named by its `rcptid`: its place, from 1, among the
// message's remote recipients, as `outqueue.outrecipients` numbers them.

/// A reply from the receiving server, or the reply Pillarbox stands in for one with when no
/// server answered (no route, a connection that failed, a timeout).
public struct RemoteReply: Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    /// The RFC 3463 enhanced status code, when there was one.
    public var enhanced: String?
    public var text: String
    /// False when no server gave this reply: Pillarbox wrote it for a failure of its own.
    public var fromServer: Bool

    public init(code: Int, enhanced: String?, text: String, fromServer: Bool = true) {
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.fromServer = fromServer
    }

    public var isPermanent: Bool { code >= 500 }
    public var isPositive: Bool { (200..<300).contains(code) }

    /// The RFC 3463 status a DSN reports: the enhanced code, else one from the reply's class.
    public var status: String {
        if let enhanced { return enhanced }
        return code >= 500 ? "5.0.0" : code >= 400 ? "4.0.0" : "2.0.0"
    }

    public var description: String {
        [String(code), enhanced, text].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// One try at handing a message to a server: one SMTP transaction, or one failure to reach
/// any server for a destination. Written by the delivery scheduler.
public struct DeliveryAttempted: Event {
    public static let eventType = "delivery_attempted"

    public struct Outcome: Codable, Sendable, Equatable {
        public var rcptid: Int
        public var address: String
        public var reply: RemoteReply

        public init(rcptid: Int, address: String, reply: RemoteReply) {
            self.rcptid = rcptid
            self.address = address
            self.reply = reply
        }
    }

    public var messageID: String
    /// The message's attempts so far, this one included.
    public var attempt: Int
    /// `direct` (to the domain's MX hosts).
    public var route: String
    public var domain: String
    /// The host that took the transaction, or the last one tried; nil when none was reached.
    public var mxHost: String?
    public var ip: String?
    public var tlsVersion: String?
    public var tlsCipher: String?
    /// Whether the server offered DSN (RFC 3461): when it did not, a sender who asked to hear
    /// of success gets a "relayed" notification from here.
    public var serverOffersDSN: Bool?
    public var outcomes: [Outcome]
    /// The hosts and addresses tried before the one named, with why each was left.
    public var skipped: [String]
    public var startedAt: Date
    /// Seconds from the start of the attempt (DNS included) to its end.
    public var duration: Double
    /// The recipient domain's MTA-STS or DANE policy and how the attempt's sessions met it;
    /// nil for a relay or an address literal.
    public var transportPolicy: TransportPolicyCheck?

    public init(messageID: String, attempt: Int, route: String, domain: String, mxHost: String?, ip: String?,
                tlsVersion: String?, tlsCipher: String?, serverOffersDSN: Bool?, outcomes: [Outcome], skipped: [String],
                startedAt: Date, duration: Double, transportPolicy: TransportPolicyCheck? = nil) {
        self.transportPolicy = transportPolicy
        self.messageID = messageID
        self.attempt = attempt
        self.route = route
        self.domain = domain
        self.mxHost = mxHost
        self.ip = ip
        self.tlsVersion = tlsVersion
        self.tlsCipher = tlsCipher
        self.serverOffersDSN = serverOffersDSN
        self.outcomes = outcomes
        self.skipped = skipped
        self.startedAt = startedAt
        self.duration = duration
    }
}

/// Recipients the receiving server accepted (`250` to the end of the data). Written by the
/// delivery scheduler, after their `delivery_attempted`.
public struct Delivered: Event {
    public static let eventType = "delivered"

    public var messageID: String
    public var recipients: [Int]
    public var mxHost: String?
    /// Every remote recipient of the message is now finished (delivered, failed or deleted).
    public var messageFinished: Bool
    /// Whether the message asked for a transmission receipt (`message_accepted`'s
    /// `receiptRequested`), so the receipt agent reads only those messages' streams; absent
    /// from events recorded before it was carried, whose message's stream says.
    public var receiptRequested: Bool?

    public init(messageID: String, recipients: [Int], mxHost: String?, messageFinished: Bool, receiptRequested: Bool? = nil) {
        self.messageID = messageID
        self.recipients = recipients
        self.mxHost = mxHost
        self.messageFinished = messageFinished
        self.receiptRequested = receiptRequested
    }
}

/// Recipients to try again later, and when: the scheduler decides the time and carries it here,
/// so the queue's projection reads no clock.
public struct DeliveryDeferred: Event {
    public static let eventType = "delivery_deferred"

    public var messageID: String
    public var recipients: [Int]
    public var nextAttempt: Date
    public var reason: String
    /// Set when the recipients were not tried at all: what they wait for (`sending limit`:
    /// their sender's X per Y minutes is spent until `nextAttempt`).
    public var waitingFor: String?

    public init(messageID: String, recipients: [Int], nextAttempt: Date, reason: String, waitingFor: String? = nil) {
        self.messageID = messageID
        self.recipients = recipients
        self.nextAttempt = nextAttempt
        self.reason = reason
        self.waitingFor = waitingFor
    }
}

/// Recipients that will not be tried again: a permanent refusal, a destination that cannot
/// take mail, the queue lifetime spent, or an administrator's bounce. `dsnMessageID` names the
/// delivery status notification sent to the sender, when one was.
public struct DeliveryFailed: Event {
    public static let eventType = "delivery_failed"

    public struct Failure: Codable, Sendable, Equatable {
        public var rcptid: Int
        public var reply: RemoteReply
        /// The server that gave the reply, when one did.
        public var remoteMTA: String?

        public init(rcptid: Int, reply: RemoteReply, remoteMTA: String?) {
            self.rcptid = rcptid
            self.reply = reply
            self.remoteMTA = remoteMTA
        }
    }

    public var messageID: String
    public var failures: [Failure]
    public var dsnMessageID: String?
    public var messageFinished: Bool

    public init(messageID: String, failures: [Failure], dsnMessageID: String?, messageFinished: Bool) {
        self.messageID = messageID
        self.failures = failures
        self.dsnMessageID = dsnMessageID
        self.messageFinished = messageFinished
    }

    public var recipients: [Int] { failures.map(\.rcptid) }
}

/// A "delivery delayed" notification went to the sender for these recipients
/// (`outqueue.delay_warning_hours`); each recipient gets at most one.
public struct DelayWarningSent: Event {
    public static let eventType = "delay_warning_sent"

    public var messageID: String
    public var recipients: [Int]
    public var dsnMessageID: String

    public init(messageID: String, recipients: [Int], dsnMessageID: String) {
        self.messageID = messageID
        self.recipients = recipients
        self.dsnMessageID = dsnMessageID
    }
}

/// An administrator stopped the message from being sent until released. Written by the admin
/// surfaces (`pillarbox mail queue hold`).
public struct QueueHeld: Event {
    public static let eventType = "queue_held"

    public var messageID: String
    public var by: String

    public init(messageID: String, by: String) {
        self.messageID = messageID
        self.by = by
    }
}

/// An administrator released a held message.
public struct QueueReleased: Event {
    public static let eventType = "queue_released"

    public var messageID: String
    public var by: String

    public init(messageID: String, by: String) {
        self.messageID = messageID
        self.by = by
    }
}

/// An administrator removed the message's unfinished recipients from the queue, without a
/// notification to the sender.
public struct QueueDeleted: Event {
    public static let eventType = "queue_deleted"

    public var messageID: String
    public var recipients: [Int]
    public var by: String

    public init(messageID: String, recipients: [Int], by: String) {
        self.messageID = messageID
        self.recipients = recipients
        self.by = by
    }
}

/// An administrator asked for the message's waiting recipients to be tried now.
public struct RetryRequested: Event {
    public static let eventType = "retry_requested"

    public var messageID: String
    public var by: String

    public init(messageID: String, by: String) {
        self.messageID = messageID
        self.by = by
    }
}

/// An administrator asked for the message's unfinished recipients to be failed now, with a
/// delivery status notification to the sender; the scheduler writes the `delivery_failed`.
public struct BounceRequested: Event {
    public static let eventType = "bounce_requested"

    public var messageID: String
    public var by: String

    public init(messageID: String, by: String) {
        self.messageID = messageID
        self.by = by
    }
}

/// An administrator changed the message's place in the queue: smaller numbers go first.
public struct PriorityChanged: Event {
    public static let eventType = "priority_changed"

    public var messageID: String
    public var priority: Int
    public var by: String

    public init(messageID: String, priority: Int, by: String) {
        self.messageID = messageID
        self.priority = priority
        self.by = by
    }
}

public enum DeliveryFacts {
    /// Every event on a message's stream that says something about its remote recipients.
    public static let types: [any Event.Type] = [
        MessageAccepted.self, DeliveryAttempted.self, Delivered.self, DeliveryDeferred.self, DeliveryFailed.self,
        DelayWarningSent.self, QueueHeld.self, QueueReleased.self, QueueDeleted.self, RetryRequested.self,
        BounceRequested.self, PriorityChanged.self,
    ]

    public static func stream(_ messageID: String) throws -> StreamName {
        try StreamName(category: MessageAccepted.category, id: messageID)
    }
}
