import EventLog
import Facts
import Foundation

/// The outgoing queue as VPOP3 names it: `outqueue.outmessages` (one row per accepted message
/// with remote recipients), `outqueue.outrecipients` (one per remote recipient: its state,
/// attempts, last reply and next try) and `outqueue.sendattempts` (one per delivery attempt).
/// LAN forwarding's queue lives beside it in the same tables: its recipients' `queue` is
/// `lan:<rule>` (or `lan:<server>:<port>` for an inline target) where the others' is `outqueue`.
/// Follows the log; every time it shows (next try, finish) comes from an event.
public struct OutqueueProjection: Projection {
    public let name = "outqueue"
    public let schema = "outqueue"
    public let mode = ProjectionMode.async
    public let version = 6
    public let categories = [MessageAccepted.category, ConnectionFacts.category]

    public init() {}

    public static let messages = ProjectionTable("outmessages", columns: [
        .init("msgid", .text), .init("senderip", .text), .init("authsender", .text), .init("returnpath", .text),
        .init("subject", .text), .init("created", .timestamptz), .init("finishedtime", .timestamptz),
        .init("size", .bigint), .init("blob", .bytea), .init("skip", .bigint), .init("envid", .text), .init("ret", .text),
        .init("smtputf8", .boolean), .init("sessid", .text), .init("held", .boolean), .init("priority", .bigint),
        .init("attempts", .bigint),
    ], primaryKey: 1, indexes: [
        ["finishedtime", "priority", "created"],
        // The scheduler's look for due messages, in the queue's default order: only unfinished
        // messages, so it reads the head of the queue, not every message ever sent.
        .init(["priority", "created", "msgid"], where: "finishedtime IS NULL"),
    ])

    public static let recipients = ProjectionTable("outrecipients", columns: [
        .init("msgid", .text), .init("rcptid", .integer), .init("address", .text), .init("notify", .textArray),
        .init("orcpt", .text), .init("status", .text), .init("returnpath", .text), .init("attempts", .bigint),
        .init("lasttry", .timestamptz), .init("nexttry", .timestamptz), .init("lastreply", .text), .init("remotemta", .text),
        .init("finished", .timestamptz), .init("queue", .text),
    ], primaryKey: 2, indexes: [["finished", "nexttry"]])

    public static let attempts = ProjectionTable("sendattempts", columns: [
        .init("msgid", .text), .init("attempt", .integer), .init("started", .timestamptz), .init("duration", .double),
        .init("route", .text), .init("domain", .text), .init("mxhost", .text), .init("ip", .text), .init("tls", .text),
        .init("result", .text), .init("recipients", .integer),
    ], primaryKey: 2, indexes: [["route", "started"]])

    /// Each connection as its events tell it: online or not, its last run and its next poll.
    public static let connections = ProjectionTable("connections", columns: [
        .init("name", .text), .init("online", .boolean), .init("laststart", .timestamptz), .init("lasttrigger", .text),
        .init("lastend", .timestamptz), .init("lastresult", .text), .init("lastmessages", .bigint),
        .init("nextpoll", .timestamptz), .init("paused", .boolean),
    ], primaryKey: 1)

    public var tables: [ProjectionTable] { [Self.messages, Self.recipients, Self.attempts, Self.connections] }
    public var eventTypes: [any Event.Type] { DeliveryFacts.types + ConnectionFacts.types }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as MessageAccepted:
            accepted(event, context: context, rows)
        case let event as DeliveryAttempted:
            let id = ProjectionValue.text(event.messageID)
            let results = event.outcomes.map { "\($0.address): \($0.reply)" }
            rows.insert(into: Self.attempts, [
                id, .int(event.attempt), .timestamp(event.startedAt), .double(event.duration), .text(event.route),
                .text(event.domain), .optional(event.mxHost), .optional(event.ip),
                .optional([event.tlsVersion, event.tlsCipher].compactMap { $0 }.joined(separator: " ").nilIfEmpty),
                .text(((event.skipped.isEmpty ? [] : ["skipped: " + event.skipped.joined(separator: "; ")]) + results)
                    .joined(separator: "\n")),
                .int(Int64(event.outcomes.count)),
            ])
            rows.update(Self.messages, key: [id], ["attempts": .atLeast(Int64(event.attempt))])
            for outcome in event.outcomes {
                rows.update(Self.recipients, key: [id, .int(outcome.rcptid)], [
                    "attempts": .add(1), "lasttry": .set(.timestamp(event.startedAt)),
                    "lastreply": .set(.text(outcome.reply.description)), "remotemta": .set(.optional(event.mxHost)),
                ])
            }
        case let event as Delivered:
            finish(event.messageID, event.recipients, status: "delivered", finished: event.messageFinished, context, rows)
        case let event as DeliveryFailed:
            finish(event.messageID, event.recipients, status: "failed", finished: event.messageFinished, context, rows)
        case let event as DeliveryDeferred:
            for rcptid in event.recipients {
                rows.update(Self.recipients, key: [.text(event.messageID), .int(rcptid)], [
                    "status": .set(.text(event.waitingFor.map { "waiting for \($0)" } ?? "deferred")),
                    "nexttry": .set(.timestamp(event.nextAttempt)),
                ])
            }
        case let event as QueueDeleted:
            finish(event.messageID, event.recipients, status: "deleted", finished: true, context, rows)
        case let event as QueueHeld:
            rows.update(Self.messages, key: [.text(event.messageID)], ["held": .set(.bool(true))])
        case let event as QueueReleased:
            rows.update(Self.messages, key: [.text(event.messageID)], ["held": .set(.bool(false))])
        case let event as RetryRequested:
            rows.updateAll(Self.recipients, where: "msgid", equals: .text(event.messageID), onlyWhereNull: "finished",
                           set: [("nexttry", .timestamp(context.recordedAt))])
        case let event as BounceRequested:
            rows.updateAll(Self.recipients, where: "msgid", equals: .text(event.messageID), onlyWhereNull: "finished",
                           set: [("nexttry", .timestamp(context.recordedAt))])
        case let event as PriorityChanged:
            rows.update(Self.messages, key: [.text(event.messageID)], ["priority": .set(.int(event.priority))])
        case let event as ConnectionStarted:
            rows.tally(Self.connections, key: [.text(event.connection)], [
                "online": .set(.bool(true)), "laststart": .set(.timestamp(event.startedAt)), "lasttrigger": .set(.text(event.trigger)),
            ])
        case let event as ConnectionEnded:
            rows.tally(Self.connections, key: [.text(event.connection)], [
                "online": .set(.bool(false)), "lastend": .set(.timestamp(event.endedAt)),
                "lastresult": .set(.text([event.result, event.detail].compactMap { $0 }.joined(separator: ": "))),
                "lastmessages": .set(.int(Int64(event.messages))), "nextpoll": .set(event.nextPoll.map(ProjectionValue.timestamp) ?? .null),
            ])
        case let event as ConnectionScheduled:
            rows.tally(Self.connections, key: [.text(event.connection)], [
                "nextpoll": .set(event.nextPoll.map(ProjectionValue.timestamp) ?? .null), "paused": .set(.bool(event.paused)),
            ])
        default:
            break
        }
    }

    private func accepted(_ event: MessageAccepted, context: EventContext, _ rows: RowWriter) {
        let remote = event.recipients.filter(\.isQueued)
        guard !remote.isEmpty else { return }
        let id = ProjectionValue.text(event.messageID)
        rows.insert(into: Self.messages, [
            id, .text(event.clientIP), .optional(event.authUser), .text(event.reversePath), .optional(event.subject?.value),
            .timestamp(context.recordedAt), .null, .int(event.size), .bytes(event.blob.bytes),
            .int(event.returnPathLength), .optional(event.envelopeID), .optional(event.ret), .bool(event.smtpUTF8),
            .text(event.sessionID), .bool(false), .int(Int64(event.priority ?? 0)), .int(0),
        ])
        for (index, recipient) in remote.enumerated() {
            rows.insert(into: Self.recipients, [
                id, .int(index + 1), .text(recipient.address), .texts(recipient.notify),
                .optional(recipient.originalRecipient), .text("queued"), .text(recipient.envelopeSender ?? event.reversePath),
                .int(0), .null, .null, .null, .null, .null, .text(recipient.lan.map(\.label) ?? "outqueue"),
            ])
        }
    }

    private func finish(_ messageID: String, _ recipients: [Int], status: String, finished: Bool, _ context: EventContext,
                        _ rows: RowWriter) {
        let id = ProjectionValue.text(messageID)
        for rcptid in recipients {
            rows.update(Self.recipients, key: [id, .int(rcptid)], [
                "status": .set(.text(status)), "nexttry": .set(.null), "finished": .set(.timestamp(context.recordedAt)),
            ])
        }
        if finished { rows.update(Self.messages, key: [id], ["finishedtime": .set(.timestamp(context.recordedAt))]) }
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
