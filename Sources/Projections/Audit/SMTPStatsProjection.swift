import EventLog
import Facts
import Foundation

/// VPOP3's SMTP statistics (`smtpstats.smtpclientfailures`, `smtpstats.smtpclientblocks`) and
/// reputation per client address and per sender domain, followed from the log.
///
/// - `smtpclientfailures`: one row per IDS event, `id` its log position, `errortype` VPOP3's
///   number (0–13); `ignore` is set when an administrator lifts a block on that address.
/// - `smtpclientblocks`: every block, by the IPS or an administrator, with when it expires
///   and when (if ever) it was lifted.
/// - `ipreputation`, `domainreputation`: what each client address and each MAIL FROM domain
///   did, from the sessions' summaries.
public struct SMTPStatsProjection: Projection {
    public let name = "smtpstats"
    public let schema = "smtpstats"
    public let mode = ProjectionMode.async
    public let version = 1
    public let categories = [IntrusionEventRecorded.category, ClientBlocked.category, SessionEnded.category, SettingsStream.category]

    public init() {}

    public static let failures = ProjectionTable("smtpclientfailures", columns: [
        .init("id", .bigint), .init("ipaddress", .text), .init("datetime", .timestamptz), .init("errortype", .integer),
        .init("errordetails", .text), .init("ignore", .boolean),
        .init("errortext", .text), .init("service", .text), .init("sessid", .bigint), .init("score", .integer),
    ], primaryKey: 1, indexes: [["ipaddress"], ["datetime"]])

    public static let blocks = ProjectionTable("smtpclientblocks", columns: [
        .init("id", .bigint), .init("ipaddress", .text), .init("datetime", .timestamptz), .init("expires", .timestamptz),
        .init("reason", .text), .init("actor", .text), .init("removed", .timestamptz), .init("removedby", .text),
    ], primaryKey: 1, indexes: [["ipaddress"], ["datetime"]])

    public static let ipReputation = ProjectionTable("ipreputation", columns: [
        .init("ipaddress", .text), .init("sessions", .bigint), .init("messages", .bigint), .init("validrcpts", .bigint),
        .init("invalidrcpts", .bigint), .init("relaydenied", .bigint), .init("authok", .bigint), .init("authfailed", .bigint),
        .init("bytes", .bigint), .init("firstseen", .timestamptz), .init("lastseen", .timestamptz),
    ], primaryKey: 1, indexes: [["lastseen"]])

    public static let domainReputation = ProjectionTable("domainreputation", columns: [
        .init("domain", .text), .init("sessions", .bigint), .init("messages", .bigint), .init("validrcpts", .bigint),
        .init("invalidrcpts", .bigint), .init("relaydenied", .bigint), .init("bytes", .bigint),
        .init("firstseen", .timestamptz), .init("lastseen", .timestamptz),
    ], primaryKey: 1, indexes: [["lastseen"]])

    public var tables: [ProjectionTable] {
        [Self.failures, Self.blocks, Self.ipReputation, Self.domainReputation, AuditRetention.window]
    }
    public var eventTypes: [any Event.Type] {
        [IntrusionEventRecorded.self, ClientBlocked.self, ClientUnblocked.self, SessionEnded.self, SettingChanged.self]
    }

    let retention = AuditRetention(tables: [(failures, "datetime"), (blocks, "datetime"), (ipReputation, "lastseen"),
                                            (domainReputation, "lastseen")])

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        let now = ProjectionValue.timestamp(context.recordedAt)
        switch event {
        case let event as SettingChanged:
            _ = retention.settingChanged(event, context, rows)
        case let event as IntrusionEventRecorded:
            retention.retain(context, rows)
            rows.insert(into: Self.failures, [
                .int(context.position), .text(event.clientIP), now, .int(event.kind.rawValue), .text(event.details),
                .bool(false), .text(event.kind.text), .text(event.service), .int(SessionEnded.number(event.sessionID)),
                .int(event.score),
            ])
        case let event as ClientBlocked:
            retention.retain(context, rows)
            rows.insert(into: Self.blocks, [
                .int(context.position), .text(event.address), now, .timestamp(event.until), .text(event.reason),
                .text(event.actor), .null, .null,
            ])
        case let event as ClientUnblocked:
            retention.retain(context, rows)
            rows.updateAll(Self.failures, where: "ipaddress", equals: .text(event.address), set: [("ignore", .bool(true))])
            rows.updateAll(Self.blocks, where: "ipaddress", equals: .text(event.address), onlyWhereNull: "removed",
                           set: [("removed", now), ("removedby", .text(event.actor))])
        case let event as SessionEnded:
            retention.retain(context, rows)
            // Messages and bytes count mail the address sent: retrievals over POP3 do not.
            let sent = event.kind == .smtpIncoming || event.kind == .smtpInternal
            let invalid = event.senders.reduce(0) { $0 + $1.invalidRecipients }
            rows.tally(Self.ipReputation, key: [.text(event.clientIP)], [
                "sessions": .add(1), "messages": .add(sent ? Int64(event.messages) : 0),
                "validrcpts": .add(Int64(event.senders.reduce(0) { $0 + $1.validRecipients })),
                "invalidrcpts": .add(Int64(invalid)),
                "relaydenied": .add(Int64(event.senders.reduce(0) { $0 + $1.relayDenied })),
                "authok": .add(Int64(event.authSuccesses)), "authfailed": .add(Int64(event.authFailures)),
                "bytes": .add(sent ? event.bytes : 0), "firstseen": .earliest(now), "lastseen": .latest(now),
            ])
            for sender in event.senders where !sender.domain.isEmpty {
                rows.tally(Self.domainReputation, key: [.text(sender.domain)], [
                    "sessions": .add(1), "messages": .add(Int64(sender.messages)),
                    "validrcpts": .add(Int64(sender.validRecipients)), "invalidrcpts": .add(Int64(sender.invalidRecipients)),
                    "relaydenied": .add(Int64(sender.relayDenied)), "bytes": .add(sender.bytes),
                    "firstseen": .earliest(now), "lastseen": .latest(now),
                ])
            }
        default:
            break
        }
    }
}
