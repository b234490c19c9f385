import EventLog
import Facts
import Foundation
import MailCore

/// What DMARC aggregate reports (RFC 7489 §7.2, appendix C) are made of, followed from the log.
///
/// - `records`: one row per policy domain, UTC day and distinct outcome (source address, From
///   and envelope domains, SPF and DKIM results, alignment, what was done), with its count.
/// - `policies`: each policy domain's record as last seen on each day, with its `rua` addresses.
/// - `reports`: the reports sent (`dmarc_report_sent`).
public struct DMARCProjection: Projection {
    public let name = "dmarc"
    public let schema = "dmarc"
    public let mode = ProjectionMode.async
    public let version = 1
    public let categories = [MessageAccepted.category, DMARCReportSent.category]

    public init() {}

    public static let records = ProjectionTable("records", columns: [
        .init("domain", .text), .init("day", .text), .init("sourceip", .text), .init("headerfrom", .text),
        .init("envelopefrom", .text), .init("spfresult", .text), .init("dkim", .text), .init("disposition", .text),
        .init("reason", .text), .init("dkimaligned", .boolean), .init("spfaligned", .boolean),
        .init("count", .bigint), .init("firstseen", .timestamptz), .init("lastseen", .timestamptz),
    ], primaryKey: 11, indexes: [["day"]])

    public static let policies = ProjectionTable("policies", columns: [
        .init("domain", .text), .init("day", .text), .init("p", .text), .init("sp", .text), .init("adkim", .text),
        .init("aspf", .text), .init("pct", .integer), .init("rua", .textArray), .init("lastseen", .timestamptz),
    ], primaryKey: 2, indexes: [["day"]])

    public static let reports = ProjectionTable("reports", columns: [
        .init("reportid", .text), .init("domain", .text), .init("day", .text), .init("sentto", .textArray),
        .init("skipped", .jsonb), .init("messageid", .text), .init("records", .integer), .init("messages", .integer),
        .init("size", .integer), .init("sentat", .timestamptz),
    ], primaryKey: 1, indexes: [["domain", "day"], ["sentat"]])

    public var tables: [ProjectionTable] { [Self.records, Self.policies, Self.reports] }
    public var eventTypes: [any Event.Type] { [MessageAccepted.self, MessageRejected.self, DMARCReportSent.self] }

    /// The UTC day of a moment, `YYYY-MM-DD`: the period a report covers.
    public static func day(_ date: Date) -> String {
        CivilDate(days: Int64((date.timeIntervalSince1970 / 86_400).rounded(.down))).text
    }

    /// The DKIM results as a report row keeps them: `domain selector result` per signature.
    static func dkimSummary(_ checks: [DKIMCheck]?) -> String {
        (checks ?? []).map { "\($0.domain ?? "") \($0.selector ?? "") \($0.result)" }.joined(separator: "\n")
    }

    static func domain(_ address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return address[address.index(after: at)...].lowercased()
    }

    func record(_ dmarc: DMARCCheck, clientIP: String, reversePath: String, helo: String?, spf: String?, dkim: [DKIMCheck]?,
                context: EventContext, rows: RowWriter) {
        guard let published = dmarc.published, !clientIP.isEmpty else { return }
        let day = Self.day(context.recordedAt)
        let now = ProjectionValue.timestamp(context.recordedAt)
        let envelope = reversePath.isEmpty ? (helo ?? "").lowercased() : Self.domain(reversePath)
        // §7.2.1 / appendix C: why what was done differs from what the policy asked.
        let reason = dmarc.sampledOut ? "sampled_out" : (dmarc.applied != dmarc.disposition ? "local_policy" : "")
        rows.tally(Self.records, key: [
            .text(published.domain), .text(day), .text(clientIP), .text(dmarc.fromDomain), .text(envelope),
            .text(spf ?? "none"), .text(Self.dkimSummary(dkim)), .text(dmarc.applied), .text(reason),
            .bool(dmarc.dkimAligned), .bool(dmarc.spfAligned),
        ], ["count": .add(1), "firstseen": .earliest(now), "lastseen": .latest(now)])
        rows.tally(Self.policies, key: [.text(published.domain), .text(day)], [
            "p": .set(.text(published.p)), "sp": .set(published.sp.map { .text($0) } ?? .null), "adkim": .set(.text(published.adkim)),
            "aspf": .set(.text(published.aspf)), "pct": .set(.int(Int64(published.pct))), "rua": .set(.texts(published.rua)),
            "lastseen": .latest(now),
        ])
    }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as MessageAccepted:
            guard let dmarc = event.dmarc else { return }
            record(dmarc, clientIP: event.clientIP, reversePath: event.reversePath, helo: event.helo, spf: event.spf,
                   dkim: event.dkim, context: context, rows: rows)
        case let event as MessageRejected:
            guard let dmarc = event.dmarc else { return }
            record(dmarc, clientIP: event.clientIP, reversePath: event.reversePath, helo: nil, spf: event.spf, dkim: event.dkim,
                   context: context, rows: rows)
        case let event as DMARCReportSent:
            let skipped = SettingJSON.encode(event.skipped)
            rows.insert(into: Self.reports, [
                .text(event.reportID), .text(event.domain), .text(event.day), .texts(event.sentTo), .json(skipped),
                event.messageID.map { .text($0) } ?? .null, .int(Int64(event.records)), .int(Int64(event.messages)),
                .int(Int64(event.size)), .timestamp(context.recordedAt),
            ])
        default:
            break
        }
    }
}
