import EventLog
import Facts
import Foundation

/// The outgoing queue as VPOP3 names it (`outqueue.outmessages`, `outqueue.outrecipients`):
/// one row per accepted message with remote recipients, one per remote recipient. Follows the
/// log (acceptance is group-committed without touching projections).
public struct OutqueueProjection: Projection {
    public let name = "outqueue"
    public let schema = "outqueue"
    public let mode = ProjectionMode.async
    public let version = 2
    public let categories = [MessageAccepted.category]

    public init() {}

    public static let messages = ProjectionTable("outmessages", columns: [
        .init("msgid", .text), .init("senderip", .text), .init("authsender", .text), .init("returnpath", .text),
        .init("subject", .text), .init("created", .timestamptz), .init("finishedtime", .timestamptz),
        .init("size", .bigint), .init("blob", .bytea), .init("skip", .bigint), .init("envid", .text), .init("ret", .text),
        .init("smtputf8", .boolean), .init("sessid", .text),
    ], primaryKey: 1)

    public static let recipients = ProjectionTable("outrecipients", columns: [
        .init("msgid", .text), .init("rcptid", .integer), .init("address", .text), .init("notify", .textArray),
        .init("orcpt", .text), .init("status", .text), .init("returnpath", .text),
    ], primaryKey: 2)

    public var tables: [ProjectionTable] { [Self.messages, Self.recipients] }
    public var eventTypes: [any Event.Type] { [MessageAccepted.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        guard let event = event as? MessageAccepted else { return }
        let remote = event.recipients.filter { $0.route == .remote }
        guard !remote.isEmpty else { return }
        let id = ProjectionValue.text(event.messageID)
        rows.insert(into: Self.messages, [
            id, .text(event.clientIP), .optional(event.authUser), .text(event.reversePath), .optional(event.subject),
            .timestamp(context.recordedAt), .null, .int(event.size), .bytes(event.blob.bytes),
            .int(event.returnPathLength), .optional(event.envelopeID), .optional(event.ret), .bool(event.smtpUTF8),
            .text(event.sessionID),
        ])
        for (index, recipient) in remote.enumerated() {
            rows.insert(into: Self.recipients, [
                id, .int(index + 1), .text(recipient.address), .texts(recipient.notify),
                .optional(recipient.originalRecipient), .text("pending"), .text(recipient.envelopeSender ?? event.reversePath),
            ])
        }
    }
}
