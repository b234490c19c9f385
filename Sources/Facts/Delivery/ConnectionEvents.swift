import EventLog
import Foundation

// The facts of connections and the connector schedule, on the stream `connection-main`.
// The delivery scheduler is the one writer of `connection_started`, `connection_ended` and
// `connection_scheduled` (it keeps the schedule against the clock); `connection_requested` is
// an administrator's (the CLI's `connect now`), which the scheduler acts on.

public enum ConnectionFacts {
    public static let category = "connection"
    public static var stream: StreamName { get throws { try StreamName(category: category, id: "main") } }
    public static let types: [any Event.Type] = [
        ConnectionRequested.self, ConnectionStarted.self, ConnectionEnded.self, ConnectionScheduled.self,
    ]
}

/// An administrator asked for a connection now (`pillarbox connect now [NAME]`). Written by
/// the admin surfaces.
public struct ConnectionRequested: Event {
    public static let eventType = "connection_requested"
    /// Nil for the default connections.
    public var connection: String?
    public var actor: String

    public init(connection: String?, actor: String) {
        self.connection = connection
        self.actor = actor
    }
}

/// A connection run began: its mail waiting for it is sent now. Written by the delivery scheduler.
public struct ConnectionStarted: Event {
    public static let eventType = "connection_started"
    public var connection: String
    /// `schedule <item>`, `CONNECT.NOW`, or `requested by <actor>`.
    public var trigger: String
    /// The stream version of the `connection_requested` it answers.
    public var request: Int64?
    public var startedAt: Date

    public init(connection: String, trigger: String, request: Int64? = nil, startedAt: Date) {
        self.connection = connection
        self.trigger = trigger
        self.request = request
        self.startedAt = startedAt
    }
}

/// A connection run ended. Written by the delivery scheduler.
public struct ConnectionEnded: Event {
    public static let eventType = "connection_ended"
    public var connection: String
    public var startedAt: Date
    public var endedAt: Date
    /// `ok` or `failed`.
    public var result: String
    public var detail: String?
    /// Messages tried while it was online.
    public var messages: Int
    /// When the schedule next starts it, as the scheduler computed it at the end.
    public var nextPoll: Date?

    public init(connection: String, startedAt: Date, endedAt: Date, result: String, detail: String? = nil, messages: Int,
                nextPoll: Date?) {
        self.connection = connection
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.result = result
        self.detail = detail
        self.messages = messages
        self.nextPoll = nextPoll
    }
}

/// The schedule's next start of a connection changed (the schedule or the connections were
/// edited, scheduling was paused or resumed, or the server started). Written by the delivery
/// scheduler, so the projection shows the next poll without reading a clock.
public struct ConnectionScheduled: Event {
    public static let eventType = "connection_scheduled"
    public var connection: String
    public var nextPoll: Date?
    public var paused: Bool

    public init(connection: String, nextPoll: Date?, paused: Bool) {
        self.connection = connection
        self.nextPoll = nextPoll
        self.paused = paused
    }
}
