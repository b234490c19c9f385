import AsyncHTTPClient
import DNS
import EventLog
import Facts
import Foundation
import Logging
import MailAuth
import MailCore
import NIOCore
import PostgresNIO
import Projections

/// The SMTP TLS report generator (RFC 8460), the one writer of `tls_report_sent`: for each
/// policy domain whose MTA-STS or DANE policy outbound mail met (or failed) on a day, it
/// builds §4's JSON from the `tlsrpt` projection, gzips it and sends it to the addresses of
/// the domain's `_smtp._tls` record: `mailto:` ones as one message through the queue,
/// `https:` ones by POST (§5.3). Once per domain and day.
public struct TLSReporter: Sendable {
    let store: EventStore
    let resolver: any DNS.Resolver
    let identity: ReportMail.Identity
    let trustedCertificates: String?
    let logger: Logger

    public init(store: EventStore, resolver: any DNS.Resolver, identity: ReportMail.Identity, trustedCertificates: String?,
                logger: Logger) {
        self.store = store
        self.resolver = resolver
        self.identity = identity
        self.trustedCertificates = trustedCertificates
        self.logger = logger
    }

    /// A reporter for the settings as they stand: `address` empty is postmaster at
    /// `hostname`; empty paths are none.
    public init(store: EventStore, hostname: String, address: String, dnsServers: [String], dnsTimeoutSeconds: Int,
                trustAnchors: String, trustedCertificates: String, logger: Logger) throws {
        let resolver = try UnboundResolver(servers: dnsServers, timeout: .seconds(dnsTimeoutSeconds),
                                           trustAnchors: trustAnchors.isEmpty ? nil : trustAnchors)
        self.init(store: store, resolver: resolver, identity: ReportMail.Identity(hostname: hostname, address: address),
                  trustedCertificates: trustedCertificates.isEmpty ? nil : trustedCertificates, logger: logger)
    }

    /// The days before `today` with policies met whose report is not made yet (the last week).
    public func pendingDays(before today: String) async throws -> [String] {
        let rows = try await store.client.query("""
            SELECT DISTINCT p.day FROM tlsrpt.policies p
            WHERE p.day < \(today) AND p.day >= \(DMARCReporter.day(today, adding: -7))
              AND NOT EXISTS (SELECT 1 FROM tlsrpt.reports r WHERE r.domain = p.domain AND r.day = p.day)
            ORDER BY p.day
            """, logger: logger)
        var days: [String] = []
        for try await day in rows.decode(String.self) { days.append(day) }
        return days
    }

    /// Makes the reports of `day` not made yet; returns their facts.
    @discardableResult
    public func send(day: String, snapshot: DirectorySnapshot, now: Date) async throws -> [TLSReportSent] {
        let rows = try await store.client.query("""
            SELECT DISTINCT p.domain FROM tlsrpt.policies p
            WHERE p.day = \(day) AND NOT EXISTS (SELECT 1 FROM tlsrpt.reports r WHERE r.domain = p.domain AND r.day = p.day)
            ORDER BY p.domain
            """, logger: logger)
        var domains: [String] = []
        for try await domain in rows.decode(String.self) { domains.append(domain) }
        var sent: [TLSReportSent] = []
        for domain in domains {
            do {
                if let fact = try await send(domain: domain, day: day, snapshot: snapshot, now: now) { sent.append(fact) }
            } catch is WrongExpectedVersion {
                continue
            }
        }
        return sent
    }

    /// §4.4: the day's policies of `domain` with their sessions and failures.
    func report(domain: String, day: String) async throws -> TLSReport {
        let begin = DMARCReporter.start(of: day)
        var policies: [TLSReport.PolicyReport] = []
        let rows = try await store.client.query("""
            SELECT kind, policy, successes, failures FROM tlsrpt.policies WHERE domain = \(domain) AND day = \(day)
            ORDER BY kind, policy
            """, logger: logger)
        for try await (kind, policy, successes, failures) in rows.decode((String, [String], Int64, Int64).self) {
            let mx = kind == "sts" ? policy.compactMap { line -> String? in
                guard line.lowercased().hasPrefix("mx:") else { return nil }
                return line.dropFirst(3).trimmingCharacters(in: .whitespaces)
            } : nil
            policies.append(.init(policy: .init(type: kind, strings: policy, domain: domain, mxHosts: mx),
                                  summary: .init(successful: Int(successes), failed: Int(failures)), failureDetails: []))
        }
        for index in policies.indices {
            let policy = policies[index].policy
            let details = try await store.client.query("""
                SELECT result, mxhost, ip, count, detail FROM tlsrpt.failures
                WHERE domain = \(domain) AND day = \(day) AND kind = \(policy.type) AND policy = \(policy.strings)
                ORDER BY result, mxhost, ip
                """, logger: logger)
            for try await (result, mx, ip, count, detail) in details.decode((String, String, String, Int64, String).self) {
                policies[index].failureDetails.append(.init(resultType: result, receivingMX: mx.isEmpty ? nil : mx,
                                                            receivingIP: ip.isEmpty ? nil : ip, count: Int(count),
                                                            information: detail.isEmpty ? nil : detail))
            }
        }
        return TLSReport(organization: identity.organization,
                         dateRange: .init(start: begin, end: begin.addingTimeInterval(86_399)), contact: identity.address,
                         reportID: "\(day)T00:00:00Z_\(domain)@\(identity.hostname)", policies: policies)
    }

    /// §3: the one `v=TLSRPTv1` record of `_smtp._tls.<domain>`; nil when there is none.
    func record(of domain: String) async throws(DNSFailure) -> TLSRPTRecord? {
        guard case .records(let records, _) = try await resolver.txt("_smtp._tls.\(domain)") else { return nil }
        let texts = records.map { String(decoding: $0.joined(), as: UTF8.self) }.filter(TLSRPTRecord.isTLSRPT)
        guard texts.count == 1 else { return nil }
        return TLSRPTRecord(parsing: texts[0])
    }

    func send(domain: String, day: String, snapshot: DirectorySnapshot, now: Date) async throws -> TLSReportSent? {
        let record: TLSRPTRecord?
        do {
            record = try await self.record(of: domain)
        } catch {
            // Asked again at the next run.
            logger.warning("looking up a TLS report address failed", metadata: ["domain": "\(domain)", "error": "\(error)"])
            return nil
        }
        let report = try await report(domain: domain, day: day)
        let successes = report.policies.reduce(0) { $0 + $1.summary.successful }
        let failures = report.policies.reduce(0) { $0 + $1.summary.failed }
        var fact = TLSReportSent(reportID: report.reportID, domain: domain, day: day, sentTo: [], skipped: [:], messageID: nil,
                                 successes: successes, failures: failures)
        var appends: [StreamAppend] = []
        if let record {
            let gzipped = Gzip.compress(try report.json())
            let begin = Int64(report.dateRange.start.timeIntervalSince1970), end = Int64(report.dateRange.end.timeIntervalSince1970)
            // §5.3's file name: sender!policy-domain!begin!end.json.gz
            let fileName = "\(identity.hostname)!\(domain)!\(begin)!\(end).json.gz"
            var mailboxes: [String] = []
            for uri in record.reportURIs {
                if uri.lowercased().hasPrefix("mailto:") {
                    let address = String(uri.dropFirst("mailto:".count)).removingPercentEncoding ?? ""
                    guard address.contains("@") else {
                        fact.skipped[uri] = "not a mail address"
                        continue
                    }
                    mailboxes.append(address)
                } else if let refusal = await post(gzipped, to: uri) {
                    fact.skipped[uri] = refusal
                } else {
                    fact.sentTo.append(uri)
                }
            }
            if !mailboxes.isEmpty {
                let subject = "Report Domain: \(domain) Submitter: \(identity.organization) Report-ID: <\(report.reportID)>"
                let bytes = message(report: report, subject: subject, attachment: gzipped, fileName: fileName, to: mailboxes, now: now)
                let (messageID, append) = try ReportMail.accept(bytes, to: mailboxes, identity: identity, service: "tls-report",
                                                                subject: subject, snapshot: snapshot)
                fact.messageID = messageID
                fact.sentTo += mailboxes.map { "mailto:" + $0 }
                appends.append(append)
            }
        } else {
            fact.skipped["_smtp._tls.\(domain)"] = "no TLSRPT record"
        }
        appends.insert(StreamAppend(stream: try TLSReportSent.stream(domain: domain, day: day), expectedVersion: .noStream,
                                    events: [try EventData(fact)]), at: 0)
        try await store.append(appends)
        logger.info("TLS report made", metadata: [
            "domain": "\(domain)", "day": "\(day)", "to": "\(fact.sentTo)", "skipped": "\(fact.skipped.count)",
        ])
        return fact
    }

    /// §5.3: the gzipped report posted as `application/tlsrpt+gzip`; nil when the server took
    /// it (a 2xx answer), why not otherwise.
    func post(_ gzipped: [UInt8], to uri: String) async -> String? {
        guard let url = URL(string: uri), url.scheme?.lowercased() == "https", let host = url.host, !host.isEmpty else {
            return "not an https: URL"
        }
        do {
            return try await HTTPS.withClient(for: host, resolver: resolver, trust: trustedCertificates, timeout: .seconds(60)) { client in
                var request = HTTPClientRequest(url: uri)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/tlsrpt+gzip")
                request.headers.add(name: "User-Agent", value: "Pillarbox")
                request.body = .bytes(ByteBuffer(bytes: gzipped))
                let response = try await client.execute(request, timeout: .seconds(60))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                return (200..<300).contains(Int(response.status.code)) ? nil : "the server answered \(response.status.code)"
            }
        } catch {
            return "\(error)"
        }
    }

    /// §5.3's message: `multipart/report; report-type="tlsrpt"`, a short text part and the
    /// gzipped JSON as `application/tlsrpt+gzip`.
    func message(report: TLSReport, subject: String, attachment: [UInt8], fileName: String, to: [String], now: Date) -> [UInt8] {
        let boundary = "=_tlsrpt_" + ReportMail.randomID()
        var text = "From: \(identity.address)\r\n"
        text += "To: \(to.joined(separator: ", "))\r\n"
        text += "Subject: \(subject)\r\n"
        text += "Date: \(DeliveryReport.rfc5322(now))\r\n"
        text += "Message-ID: <\(ReportMail.randomID())@\(identity.hostname)>\r\n"
        text += "TLS-Report-Domain: \(report.policies.first?.policy.domain ?? "")\r\n"
        text += "TLS-Report-Submitter: \(identity.organization)\r\n"
        text += "MIME-Version: 1.0\r\n"
        text += "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"\(boundary)\"\r\n\r\n"
        text += "--\(boundary)\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        text += "SMTP TLS report from \(identity.organization) for \(report.policies.first?.policy.domain ?? ""): "
        text += "\(report.policies.reduce(0) { $0 + $1.summary.successful }) sessions met its policy, "
        text += "\(report.policies.reduce(0) { $0 + $1.summary.failed }) did not.\r\n\r\n"
        text += "--\(boundary)\r\nContent-Type: application/tlsrpt+gzip\r\n"
        text += "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"\(fileName)\"\r\n\r\n"
        text += ReportMail.base64Lines(attachment)
        text += "--\(boundary)--\r\n"
        return Array(text.utf8)
    }
}
