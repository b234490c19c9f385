import EventLog
import Facts
import Foundation

/// VPOP3's historical logging database, `logdb.sessions`, `logdb.messages` and
/// `logdb.recipients`, with its column names, followed from the log. Ids are positions in the
/// log: a message's `msgid` is the position of its `message_accepted` or `message_rejected`
/// event, a recipient's `rcptid` is `msgid × 10 000 + n`, and a session's `sessid` is the
/// number of its session id (`SessionEnded.number`), so messages point at their session before
/// it has ended. Extra columns after VPOP3's carry what Pillarbox knows besides.
public struct LogDBProjection: Projection {
    public let name = "logdb"
    public let schema = "logdb"
    public let mode = ProjectionMode.async
    public let version = 2
    public let categories = [SessionEnded.category, MessageAccepted.category, SettingsStream.category]

    public init() {}

    public static let sessions = ProjectionTable("sessions", columns: [
        .init("sessid", .bigint), .init("datetime", .timestamptz), .init("duration", .double), .init("sesstype", .text),
        .init("errorcode", .text), .init("name", .text),
        .init("sessionkey", .text), .init("service", .text), .init("ipaddress", .text), .init("username", .text),
        .init("helo", .text), .init("tls", .text), .init("messages", .bigint), .init("bytes", .bigint),
        .init("endtime", .timestamptz),
    ], primaryKey: 1, indexes: [["datetime"], ["ipaddress"], ["endtime"]])

    public static let messages = ProjectionTable("messages", columns: [
        .init("msgid", .bigint), .init("sessid", .bigint), .init("subject", .text), .init("fromaddr", .text),
        .init("authsender", .text), .init("size", .bigint), .init("datetime", .timestamptz), .init("spam", .boolean),
        .init("triggeredrule", .text), .init("errorcode", .text), .init("processtime", .double),
        .init("messagekey", .text), .init("ipaddress", .text),
    ], primaryKey: 1, indexes: [["datetime"], ["sessid"], ["messagekey"]])

    public static let recipients = ProjectionTable("recipients", columns: [
        .init("rcptid", .bigint), .init("msgid", .bigint), .init("name", .text), .init("rcpttype", .text),
        .init("result", .text), .init("datetime", .timestamptz),
    ], primaryKey: 1, indexes: [["msgid"], ["name"], ["datetime"]])

    /// VPOP3's recipient types.
    public enum RecipientType: String, Sendable {
        case normal = "N", invalid = "I", remote = "R", forwarded = "F", sending = "S"
    }

    public var tables: [ProjectionTable] { [Self.sessions, Self.messages, Self.recipients, AuditRetention.window] }
    public var eventTypes: [any Event.Type] { [SessionEnded.self, MessageAccepted.self, MessageRejected.self, SettingChanged.self] }

    let retention = AuditRetention(tables: [(sessions, "endtime"), (messages, "datetime"), (recipients, "datetime")])

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as SettingChanged:
            _ = retention.settingChanged(event, context, rows)
        case let event as SessionEnded:
            retention.retain(context, rows)
            rows.insert(into: Self.sessions, [
                .int(SessionEnded.number(event.sessionID)), .timestamp(event.startedAt), .double(event.duration),
                .text(event.kind.rawValue), .text(event.errorCode), .text(event.user ?? event.clientIP),
                .text(event.sessionID), .text(event.service), .text(event.clientIP), .optional(event.user),
                .optional(event.helo), .optional(event.tls), .int(event.messages), .int(event.bytes),
                .timestamp(context.recordedAt),
            ])
        case let event as MessageAccepted:
            retention.retain(context, rows)
            message(context, session: event.sessionID, subject: event.subject?.value, from: event.reversePath,
                    authUser: event.authUser, size: event.size, errorCode: "", processing: event.processingTime ?? 0,
                    key: event.messageID, clientIP: event.clientIP, rows)
            recipients(context, event.recipients, refused: event.refused ?? [], messageRefused: nil,
                       collected: event.service == "pop3-collector", rows)
        case let event as MessageRejected:
            retention.retain(context, rows)
            message(context, session: event.sessionID, subject: nil, from: event.reversePath, authUser: event.authUser,
                    size: event.size, errorCode: event.errorCode, processing: event.processingTime, key: event.messageID,
                    clientIP: event.clientIP, rows)
            recipients(context, event.recipients, refused: event.refused, messageRefused: event.errorCode, collected: false, rows)
        default:
            break
        }
    }

    private func message(_ context: EventContext, session: String, subject: String?, from: String, authUser: String?,
                         size: Int64, errorCode: String, processing: Double, key: String, clientIP: String, _ rows: RowWriter) {
        rows.insert(into: Self.messages, [
            .int(context.position), .int(SessionEnded.number(session)), .optional(subject), .text(from), .optional(authUser),
            .int(size), .timestamp(context.recordedAt), .bool(false), .null, .text(errorCode), .double(processing),
            .text(key), .text(clientIP),
        ])
    }

    /// `messageRefused`: the error that refused the whole message, which every accepted
    /// recipient then shares. `collected`: mail downloaded by a collector, whose recipients
    /// are VPOP3's type F.
    private func recipients(_ context: EventContext, _ accepted: [MessageAccepted.Recipient], refused: [RefusedRecipient],
                            messageRefused: String?, collected: Bool, _ rows: RowWriter) {
        var number: Int64 = 0
        func add(_ name: String, _ type: RecipientType, _ result: String) {
            number += 1
            guard number < 10_000 else { return }
            rows.insert(into: Self.recipients, [
                .int(context.position * 10_000 + number), .int(context.position), .text(name), .text(type.rawValue),
                .text(result), .timestamp(context.recordedAt),
            ])
        }
        for recipient in accepted {
            if let messageRefused {
                add(recipient.address, recipient.route == .remote ? .remote : recipient.route == .lan ? .forwarded : .normal, "not delivered: \(messageRefused)")
                continue
            }
            switch recipient.route {
            case .local: add(recipient.address, collected ? .forwarded : .normal, "accepted for \(recipient.user ?? recipient.address)")
            case .remote: add(recipient.address, .remote, "queued")
            case .discarded: add(recipient.address, .normal, "discarded")
            case .lan: add(recipient.address, .forwarded, "queued for \(recipient.lan?.label ?? "lan")")
            case .list: add(recipient.address, .normal, "to the mailing list \(recipient.list ?? recipient.address)")
            case .listServer: add(recipient.address, .normal, "to the ListServer")
            case .mailCommands: add(recipient.address, .normal, "mail commands")
            }
        }
        for recipient in refused {
            let reason = switch recipient.reason {
            case .relayDenied: "relay denied"
            case .unknownLocal: "unknown user"
            case .notAllowed: "not allowed"
            case .mailboxFull: "mailbox full"
            case .loop: "mail loop"
            }
            add(recipient.address, .invalid, "\(recipient.reply) \(reason)")
        }
    }
}
