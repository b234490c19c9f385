import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO

/// `collection.*`: what each collector has taken from its ISP mailbox. `uidls` is the set a
/// collector checks before downloading (inline: written in the transaction that records the
/// message, so a message is never taken twice), `left` the messages left on the server, and
/// `runs` each collector's last run.
public struct CollectionProjection: Projection {
    public let name = "collection"
    public let schema = "collection"
    public let mode = ProjectionMode.inline
    public let version = 2
    public let categories = [MessageCollected.category]

    public init() {}

    public static let uidls = ProjectionTable("uidls", columns: [
        .init("collector", .text), .init("uidl", .text), .init("msgid", .text), .init("size", .bigint),
        .init("collected", .timestamptz), .init("deleted", .boolean),
    ], primaryKey: 2)

    public static let left = ProjectionTable("left", columns: [
        .init("collector", .text), .init("uidl", .text), .init("size", .bigint), .init("reason", .text),
        .init("first_seen", .timestamptz), .init("token", .text), .init("fetch_requested", .boolean),
    ], primaryKey: 2, indexes: [["token"]])

    public static let runs = ProjectionTable("runs", columns: [
        .init("collector", .text), .init("laststart", .timestamptz), .init("lastend", .timestamptz), .init("trigger", .text),
        .init("lastresult", .text), .init("failed", .boolean), .init("collected", .bigint), .init("deleted", .bigint),
    ], primaryKey: 1)

    public var tables: [ProjectionTable] { [Self.uidls, Self.left, Self.runs] }
    public var eventTypes: [any Event.Type] {
        [MessageCollected.self, MessageLeftOnServer.self, CollectedMessageFetchRequested.self, CollectedMessagesDeleted.self, CollectorUIDLsForgotten.self,
         CollectorRunEnded.self]
    }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as MessageCollected:
            let key: [ProjectionValue] = [.text(event.collector.lowercased()), .text(event.uidl)]
            rows.delete(from: Self.uidls, key: key)
            rows.insert(into: Self.uidls, key + [.text(event.messageID), .int(event.size), .timestamp(context.recordedAt), .bool(false)])
            rows.delete(from: Self.left, key: key)
        case let event as MessageLeftOnServer:
            rows.insert(into: Self.left, [.text(event.collector.lowercased()), .text(event.uidl), .int(event.size), .text(event.reason),
                                          .timestamp(context.recordedAt), .optional(event.token), .bool(false)])
        case let event as CollectedMessageFetchRequested:
            rows.update(Self.left, key: [.text(event.collector.lowercased()), .text(event.uidl)], ["fetch_requested": .set(.bool(true))])
        case let event as CollectedMessagesDeleted:
            for uidl in event.uidls {
                rows.update(Self.uidls, key: [.text(event.collector.lowercased()), .text(uidl)], ["deleted": .set(.bool(true))])
            }
        case let event as CollectorUIDLsForgotten:
            let collector = ProjectionValue.text(event.collector.lowercased())
            if let uidls = event.uidls {
                for uidl in uidls {
                    rows.delete(from: Self.uidls, key: [collector, .text(uidl)])
                    rows.delete(from: Self.left, key: [collector, .text(uidl)])
                }
            } else {
                rows.deleteAll(from: Self.uidls, where: [collector])
                rows.deleteAll(from: Self.left, where: [collector])
            }
        case let event as CollectorRunEnded:
            let key = ProjectionValue.text(event.collector.lowercased())
            rows.delete(from: Self.runs, key: [key])
            rows.insert(into: Self.runs, [key, .timestamp(event.started), .timestamp(context.recordedAt), .text(event.trigger),
                                          .text(event.result), .bool(event.failed), .int(Int64(event.collected)),
                                          .int(Int64(event.deleted))])
        default:
            break
        }
    }

    /// What a collector remembers: each UIDL it collected (with whether it was deleted since
    /// and when it was collected), and those it left on the server.
    public struct Remembered: Sendable {
        public var collected: [String: (collected: Date, deleted: Bool)] = [:]
        public var left: [String: (firstSeen: Date, fetchRequested: Bool)] = [:]
        public init() {}
    }

    /// The message a notice's token stands for, and whether its fetch was asked for already.
    public static func left(token: String, on connection: PostgresConnection, logger: Logger) async throws
        -> (collector: String, uidl: String, firstSeen: Date, fetchRequested: Bool)? {
        let rows = try await connection.query(
            "SELECT collector, uidl, first_seen, fetch_requested FROM collection.left WHERE token = \(token)", logger: logger)
        for try await row in rows.decode((String, String, Date, Bool).self) { return row }
        return nil
    }

    public static func remembered(_ collector: String, engine: ProjectionEngine) async throws -> Remembered {
        var remembered = Remembered()
        let name = collector.lowercased()
        let rows = try await engine.client.query(
            "SELECT uidl, collected, deleted FROM collection.uidls WHERE collector = \(name)", logger: engine.logger)
        for try await (uidl, collected, deleted) in rows.decode((String, Date, Bool).self) {
            remembered.collected[uidl] = (collected, deleted)
        }
        let left = try await engine.client.query(
            "SELECT uidl, first_seen, fetch_requested FROM collection.left WHERE collector = \(name)", logger: engine.logger)
        for try await (uidl, seen, requested) in left.decode((String, Date, Bool).self) { remembered.left[uidl] = (seen, requested) }
        return remembered
    }
}
