import DNS
import EventLog
import Facts
import Foundation
import Logging
import MailAuth
import MailCore
import PostgresNIO
import Projections
import Routing

/// The DMARC aggregate report generator (RFC 7489 §7.2), the one writer of
/// `dmarc_report_sent`: for each policy domain whose record asks for reports (`rua`) and whose
/// mail was checked on a day, it builds appendix C's XML from the `dmarc` projection, gzips it,
/// and sends it as a message through the outgoing queue to each `mailto:` address that passes
/// the external destination check (§7.1) and size limit. The report's fact and its message are
/// appended together, once per domain and day.
public struct DMARCReporter: Sendable {
    public typealias Identity = ReportMail.Identity

    let store: EventStore
    let resolver: any DNS.Resolver
    let suffixes: PublicSuffixList
    let identity: Identity
    let logger: Logger

    public init(store: EventStore, resolver: any DNS.Resolver, suffixes: PublicSuffixList, identity: Identity, logger: Logger) {
        self.store = store
        self.resolver = resolver
        self.suffixes = suffixes
        self.identity = identity
        self.logger = logger
    }

    /// A reporter for the settings as they stand: `address` empty is postmaster at `hostname`;
    /// the resolver of `dns.servers` and the Public Suffix List at `suffixList`.
    public init(store: EventStore, hostname: String, address: String, dnsServers: [String], dnsTimeoutSeconds: Int,
                suffixList: String, logger: Logger) throws {
        self.init(store: store, resolver: try UnboundResolver(servers: dnsServers, timeout: .seconds(dnsTimeoutSeconds)),
                  suffixes: try PublicSuffixList(contentsOfFile: suffixList),
                  identity: Identity(hostname: hostname, address: address),
                  logger: logger)
    }

    /// The days before `today` with evaluations whose report is not sent yet (the last week).
    public func pendingDays(before today: String) async throws -> [String] {
        let rows = try await store.client.query("""
            SELECT DISTINCT p.day FROM dmarc.policies p
            WHERE p.day < \(today) AND p.day >= \(Self.day(today, adding: -7)) AND cardinality(p.rua) > 0
              AND NOT EXISTS (SELECT 1 FROM dmarc.reports r WHERE r.domain = p.domain AND r.day = p.day)
            ORDER BY p.day
            """, logger: logger)
        var days: [String] = []
        for try await day in rows.decode(String.self) { days.append(day) }
        return days
    }

    static func day(_ day: String, adding days: Int64) -> String {
        guard let date = CivilDate(text: day) else { return day }
        return CivilDate(days: date.days + days).text
    }

    /// Sends the reports of `day` not sent yet; returns the facts recorded.
    @discardableResult
    public func send(day: String, snapshot: DirectorySnapshot, now: Date) async throws -> [DMARCReportSent] {
        let rows = try await store.client.query("""
            SELECT p.domain, p.p, coalesce(p.sp, p.p), p.adkim, p.aspf, p.pct::bigint, p.rua FROM dmarc.policies p
            WHERE p.day = \(day) AND cardinality(p.rua) > 0
              AND NOT EXISTS (SELECT 1 FROM dmarc.reports r WHERE r.domain = p.domain AND r.day = p.day)
            ORDER BY p.domain
            """, logger: logger)
        var policies: [(DMARCAggregateReport.Published, [String])] = []
        for try await (domain, p, sp, adkim, aspf, pct, rua) in rows.decode((String, String, String, String, String, Int64, [String]).self) {
            var published = DMARCAggregateReport.Published(domain: domain)
            published.p = p
            published.sp = sp
            published.adkim = adkim
            published.aspf = aspf
            published.pct = Int(pct)
            policies.append((published, rua))
        }
        var sent: [DMARCReportSent] = []
        for (published, rua) in policies {
            do {
                if let fact = try await send(published, rua: rua, day: day, snapshot: snapshot, now: now) { sent.append(fact) }
            } catch is WrongExpectedVersion {
                // Another server sent it first.
                continue
            }
        }
        return sent
    }

    func records(domain: String, day: String) async throws -> [DMARCAggregateReport.Record] {
        let rows = try await store.client.query("""
            SELECT sourceip, headerfrom, envelopefrom, spfresult, dkim, disposition, reason, dkimaligned, spfaligned, count
            FROM dmarc.records WHERE domain = \(domain) AND day = \(day)
            ORDER BY sourceip, headerfrom, envelopefrom, spfresult, dkim, disposition, reason, dkimaligned, spfaligned
            """, logger: logger)
        var records: [DMARCAggregateReport.Record] = []
        for try await (ip, from, envelope, spf, dkim, disposition, reason, dkimAligned, spfAligned, count)
                in rows.decode((String, String, String, String, String, String, String, Bool, Bool, Int64).self) {
            let signatures = dkim.split(separator: "\n").compactMap { line -> DMARCAggregateReport.Signature? in
                let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                guard fields.count == 3, !fields[0].isEmpty else { return nil }
                return .init(domain: fields[0], selector: fields[1].isEmpty ? nil : fields[1], result: fields[2])
            }
            records.append(.init(sourceIP: ip, count: Int(count), disposition: disposition, dkimAligned: dkimAligned,
                                 spfAligned: spfAligned, reason: reason.isEmpty ? nil : reason, headerFrom: from,
                                 envelopeFrom: envelope, dkim: signatures, spfDomain: envelope, spfResult: spf))
        }
        return records
    }

    /// RFC 7489 §7.1: a report address outside the policy domain's organization takes reports
    /// only when `<policy domain>._report._dmarc.<its domain>` says so.
    func acceptsReports(for domain: String, at address: String) async -> String? {
        let target = String(address.split(separator: "@").last ?? "").lowercased()
        guard let ours = suffixes.organizationalDomain(of: domain), let theirs = suffixes.organizationalDomain(of: target) else {
            return "no organizational domain"
        }
        if ours == theirs { return nil }
        do {
            let answer = try await resolver.txt("\(domain)._report._dmarc.\(target)")
            let texts = (answer.records ?? []).map { String(decoding: $0.joined(), as: UTF8.self) }
            return texts.contains(where: DMARCRecord.isDMARC) ? nil : "\(target) does not take reports for \(domain) (RFC 7489 §7.1)"
        } catch {
            return "the external destination check failed: \(error.reason)"
        }
    }

    func send(_ published: DMARCAggregateReport.Published, rua: [String], day: String, snapshot: DirectorySnapshot,
              now: Date) async throws -> DMARCReportSent? {
        let records = try await records(domain: published.domain, day: day)
        guard !records.isEmpty else { return nil }
        let begin = Int64(Self.start(of: day).timeIntervalSince1970)
        let end = begin + 86_399
        let reportID = "\(published.domain):\(day)@\(identity.hostname)"
        let report = DMARCAggregateReport(organization: identity.organization, email: identity.address, reportID: reportID,
                                          begin: begin, end: end, published: published, records: records)
        let gzipped = Gzip.compress(Array(report.xml.utf8))
        var destinations: [String] = []
        var skipped: [String: String] = [:]
        for uri in rua {
            guard let reportURI = DMARCRecord.ReportURI(parsing: uri), let mailbox = reportURI.mailbox else {
                skipped[uri] = "not a mailto: address"
                continue
            }
            if let limit = reportURI.maximumSize, gzipped.count > limit {
                skipped[uri] = "the report (\(gzipped.count) bytes) is over the address's limit of \(limit)"
                continue
            }
            if let refusal = await acceptsReports(for: published.domain, at: mailbox) {
                skipped[uri] = refusal
                continue
            }
            destinations.append(mailbox)
        }
        let stream = try DMARCReportSent.stream(domain: published.domain, day: day)
        var fact = DMARCReportSent(reportID: reportID, domain: published.domain, day: day, begin: begin, end: end,
                                   sentTo: destinations, skipped: skipped, messageID: nil, records: records.count,
                                   messages: report.messages, size: gzipped.count)
        var appends: [StreamAppend] = []
        if !destinations.isEmpty {
            let fileName = "\(identity.hostname)!\(published.domain)!\(begin)!\(end).xml.gz"
            let bytes = message(report: report, attachment: gzipped, fileName: fileName, to: destinations, now: now)
            let (messageID, append) = try ReportMail.accept(bytes, to: destinations, identity: identity, service: "dmarc-report",
                                                            subject: subject(report), snapshot: snapshot)
            fact.messageID = messageID
            appends.append(append)
        }
        appends.insert(StreamAppend(stream: stream, expectedVersion: .noStream, events: [try EventData(fact)]), at: 0)
        try await store.append(appends)
        logger.info("DMARC aggregate report sent", metadata: [
            "domain": "\(published.domain)", "day": "\(day)", "to": "\(destinations)", "skipped": "\(skipped.count)",
        ])
        return fact
    }

    static func start(of day: String) -> Date {
        Date(timeIntervalSince1970: TimeInterval((CivilDate(text: day)?.days ?? 0) * 86_400))
    }

    func subject(_ report: DMARCAggregateReport) -> String {
        // RFC 7489 §7.2.1.1.
        "Report Domain: \(report.published.domain) Submitter: \(identity.organization) Report-ID: <\(report.reportID)>"
    }

    /// The report's message: a short text part and the gzipped XML (RFC 7489 §7.2.1.1).
    func message(report: DMARCAggregateReport, attachment: [UInt8], fileName: String, to: [String], now: Date) -> [UInt8] {
        let boundary = "=_dmarc_" + ReportMail.randomID()
        var text = "From: \(identity.address)\r\n"
        text += "To: \(to.joined(separator: ", "))\r\n"
        text += "Subject: \(subject(report))\r\n"
        text += "Date: \(DeliveryReport.rfc5322(now))\r\n"
        text += "Message-ID: <\(ReportMail.randomID())@\(identity.hostname)>\r\n"
        text += "MIME-Version: 1.0\r\n"
        text += "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\r\n\r\n"
        text += "--\(boundary)\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        text += "DMARC aggregate report from \(identity.organization) for \(report.published.domain):\r\n"
        text += "\(report.messages) messages in \(report.records.count) records.\r\n\r\n"
        text += "--\(boundary)\r\nContent-Type: application/gzip; name=\"\(fileName)\"\r\n"
        text += "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"\(fileName)\"\r\n\r\n"
        text += ReportMail.base64Lines(attachment)
        text += "--\(boundary)--\r\n"
        return Array(text.utf8)
    }
}
