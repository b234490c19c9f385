import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO

/// `lists.pending`: what waits on a token — posts held for a moderator and subscription
/// changes waiting for the address to confirm — and `lists.posts`, what each mailing list did
/// with each post. Inline: the list agent looks tokens up in the transaction that uses them.
public struct ListsProjection: Projection {
    public let name = "lists"
    public let schema = "lists"
    public let mode = ProjectionMode.inline
    public let version = 1
    public let categories = [ListPostDistributed.category]

    public init() {}

    /// `kind` is `post`, `subscribe` or `unsubscribe`; `address` the post's sender or the
    /// address joining or leaving.
    public static let pending = ProjectionTable("pending", columns: [
        .init("token", .text), .init("list", .text), .init("kind", .text), .init("address", .text),
        .init("message_id", .text), .init("blob", .text), .init("subject", .text), .init("reason", .text), .init("created_at", .timestamptz),
        .init("expires_at", .timestamptz),
    ], primaryKey: 1, indexes: [["list"]])

    public static let posts = ProjectionTable("posts", columns: [
        .init("position", .bigint), .init("list", .text), .init("message_id", .text), .init("sender", .text),
        .init("subject", .text), .init("result", .text), .init("recorded_at", .timestamptz),
    ], primaryKey: 1, indexes: [["list", "recorded_at"]])

    public var tables: [ProjectionTable] { [Self.pending, Self.posts] }
    public var eventTypes: [any Event.Type] {
        [ListPostDistributed.self, ListPostRefused.self, ListPostHeld.self, ListSubscriptionRequested.self,
         ListSubscriptionConfirmed.self]
    }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        func post(_ list: String, _ messageID: String, _ sender: String, _ subject: String?, _ result: String) {
            rows.insert(into: Self.posts, [.int(context.position), .text(list), .text(messageID), .text(sender.lowercased()),
                                           .optional(subject), .text(result), .timestamp(context.recordedAt)])
        }
        switch event {
        case let event as ListPostHeld:
            rows.insert(into: Self.pending, [.text(event.token), .text(event.list), .text("post"), .text(event.sender.lowercased()),
                                             .text(event.messageID), .text(event.blob.description), .optional(event.subject?.value),
                                             .text(event.reason),
                                             .timestamp(context.recordedAt), .timestamp(event.expiresAt)])
            post(event.list, event.messageID, event.sender, event.subject?.value, "held: \(event.reason)")
        case let event as ListPostDistributed:
            if let token = event.token { rows.delete(from: Self.pending, key: [.text(token)]) }
            post(event.list, event.messageID, event.sender, event.subject?.value, "sent to \(event.members) members")
        case let event as ListPostRefused:
            if let token = event.token { rows.delete(from: Self.pending, key: [.text(token)]) }
            post(event.list, event.messageID, event.sender, nil, "refused: \(event.reason)")
        case let event as ListSubscriptionRequested:
            rows.insert(into: Self.pending, [.text(event.token), .text(event.list), .text(event.subscribe ? "subscribe" : "unsubscribe"),
                                             .text(event.address.lowercased()), .null, .null, .null, .text("asked by \(event.requestedBy)"),
                                             .timestamp(context.recordedAt), .timestamp(event.expiresAt)])
        case let event as ListSubscriptionConfirmed:
            rows.delete(from: Self.pending, key: [.text(event.token)])
        default:
            break
        }
    }

    /// A token's entry, on the caller's connection.
    public struct Pending: Sendable {
        public var token: String
        public var list: String
        public var kind: String
        public var address: String
        public var messageID: String?
        public var blob: BlobID?
        public var subject: String?
        public var reason: String
        public var createdAt: Date
        public var expiresAt: Date
    }

    public static func pending(token: String, on connection: PostgresConnection, logger: Logger) async throws -> Pending? {
        try await pending(where: "token = $1", token, on: connection, logger: logger).first
    }

    /// The entries of `list` (every list when nil), oldest first.
    public static func pending(list: String?, on connection: PostgresConnection, logger: Logger) async throws -> [Pending] {
        guard let list else { return try await pending(where: "true", nil, on: connection, logger: logger) }
        return try await pending(where: "list = $1", list.lowercased(), on: connection, logger: logger)
    }

    static func pending(where condition: String, _ value: String?, on connection: PostgresConnection,
                        logger: Logger) async throws -> [Pending] {
        var bindings = PostgresBindings()
        if let value { bindings.append(value) }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT token, list, kind, address, message_id, blob, subject, reason, created_at, expires_at
            FROM lists.pending WHERE \(condition) ORDER BY created_at, token
            """, binds: bindings), logger: logger)
        var found: [Pending] = []
        for try await (token, list, kind, address, messageID, blob, subject, reason, created, expires)
            in rows.decode((String, String, String, String, String?, String?, String?, String, Date, Date).self) {
            found.append(Pending(token: token, list: list, kind: kind, address: address, messageID: messageID,
                                 blob: blob.flatMap(BlobID.init(hex:)), subject: subject,
                                 reason: reason, createdAt: created, expiresAt: expires))
        }
        return found
    }
}
