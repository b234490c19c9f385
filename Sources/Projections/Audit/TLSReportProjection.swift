import EventLog
import Facts
import Foundation

/// What SMTP TLS reports (RFC 8460) are made of, followed from the log: the transport
/// policies outbound deliveries met, per policy domain and UTC day.
///
/// - `policies`: one row per policy domain, day and policy (its type and text), with the
///   sessions that met it and those that did not.
/// - `failures`: the sessions that did not, per result type, MX host and address, with the
///   last detail seen.
/// - `reports`: the reports made (`tls_report_sent`).
public struct TLSReportProjection: Projection {
    public let name = "tlsrpt"
    public let schema = "tlsrpt"
    public let mode = ProjectionMode.async
    public let version = 1
    public let categories = [MessageAccepted.category, TLSReportSent.category]

    public init() {}

    public static let policies = ProjectionTable("policies", columns: [
        .init("domain", .text), .init("day", .text), .init("kind", .text), .init("policy", .textArray),
        .init("successes", .bigint), .init("failures", .bigint), .init("lastseen", .timestamptz),
    ], primaryKey: 4, indexes: [["day"]])

    public static let failures = ProjectionTable("failures", columns: [
        .init("domain", .text), .init("day", .text), .init("kind", .text), .init("policy", .textArray), .init("result", .text),
        .init("mxhost", .text), .init("ip", .text), .init("count", .bigint), .init("detail", .text),
    ], primaryKey: 7, indexes: [["domain", "day"]])

    public static let reports = ProjectionTable("reports", columns: [
        .init("reportid", .text), .init("domain", .text), .init("day", .text), .init("sentto", .textArray),
        .init("skipped", .jsonb), .init("messageid", .text), .init("successes", .integer), .init("failures", .integer),
        .init("sentat", .timestamptz),
    ], primaryKey: 1, indexes: [["domain", "day"]])

    public var tables: [ProjectionTable] { [Self.policies, Self.failures, Self.reports] }
    public var eventTypes: [any Event.Type] { [DeliveryAttempted.self, TLSReportSent.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as DeliveryAttempted:
            guard let check = event.transportPolicy, check.kind != .noPolicyFound else { return }
            let day = DMARCProjection.day(context.recordedAt)
            let key: [ProjectionValue] = [.text(check.domain.lowercased()), .text(day), .text(check.kind.rawValue), .texts(check.policy)]
            rows.tally(Self.policies, key: key, [
                "successes": .add(Int64(check.successes)), "failures": .add(Int64(check.failures.count)),
                "lastseen": .latest(.timestamp(context.recordedAt)),
            ])
            for failure in check.failures {
                rows.tally(Self.failures, key: key + [.text(failure.result), .text(failure.mxHost ?? ""), .text(failure.ip ?? "")], [
                    "count": .add(1), "detail": .set(.text(failure.detail ?? "")),
                ])
            }
        case let event as TLSReportSent:
            rows.insert(into: Self.reports, [
                .text(event.reportID), .text(event.domain), .text(event.day), .texts(event.sentTo), .json(SettingJSON.encode(event.skipped)),
                event.messageID.map { .text($0) } ?? .null, .int(Int64(event.successes)), .int(Int64(event.failures)),
                .timestamp(context.recordedAt),
            ])
        default:
            break
        }
    }
}
