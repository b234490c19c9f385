import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO

/// `autoresponder.log`: whom each user's autoresponders answered, and when (VPOP3's
/// per-autoresponder log). Inline: the agent reads it in the transaction that appends the next
/// reply, so two deliveries from one sender in one batch get one answer. Entries older than
/// 180 days go when the user's next answer is recorded (the event's time, not the clock).
public struct AutoresponderProjection: Projection {
    public let name = "autoresponder"
    public let schema = "autoresponder"
    public let mode = ProjectionMode.inline
    public let version = 1
    public let categories = [AutoresponderReplied.category]

    public init() {}

    public static let log = ProjectionTable("log", columns: [
        .init("username", .text), .init("position", .bigint), .init("responder", .text), .init("sender", .text),
        .init("subject", .text), .init("replied_at", .timestamptz), .init("reply_id", .text),
    ], primaryKey: 2, indexes: [["username", "sender"], ["replied_at"]])

    /// The log's window in days (VPOP3's 180 when the table is empty, as it is).
    public static let window = ProjectionTable("retention", columns: [.init("days", .bigint)], primaryKey: 1)

    public var tables: [ProjectionTable] { [Self.log, Self.window] }
    public var eventTypes: [any Event.Type] { [AutoresponderReplied.self, AutoresponderLogCleared.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as AutoresponderReplied:
            let day = Date(timeIntervalSince1970: (context.recordedAt.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
            rows.retain(Self.log, column: "replied_at", day: day, windowTable: Self.window, defaultDays: 180)
            rows.insert(into: Self.log, [.text(event.user.lowercased()), .int(context.position), .text(event.responder),
                                         .text(event.sender.lowercased()), .optional(event.subject?.value), .timestamp(context.recordedAt),
                                         .text(event.replyID)])
        case let event as AutoresponderLogCleared:
            rows.deleteAll(from: Self.log, where: [.text(event.user.lowercased())])
        default:
            break
        }
    }

    /// When `user` last answered `sender`, on the caller's connection (the batch's transaction).
    public static func lastReply(user: String, sender: String, on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await connection.query("""
            SELECT max(replied_at) FROM autoresponder.log WHERE username = \(user.lowercased()) AND sender = \(sender.lowercased())
            """, logger: logger)
        for try await value in rows.decode(Date?.self) { return value }
        return nil
    }
}
