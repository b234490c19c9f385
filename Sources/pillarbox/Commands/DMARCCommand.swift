import ArgumentParser
import Commands
import DNS
import Delivery
import EventLog
import Facts
import Foundation
import MailAuth
import MailCore
import Projections

/// `pillarbox dmarc`: the aggregate data kept for DMARC reports, the reports sent, sending
/// them now, and the reports other receivers sent here.
struct DMARCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmarc", abstract: "DMARC aggregate reports: the data kept, the reports sent, sending now, reports received.",
        subcommands: [Records.self, Reports.self, Send.self, Received.self])

    /// Reports name the server that checked or sent the mail: the one that started last, or
    /// the configured host name before any did.
    static func reportingHostname(_ directory: Directory, configured: String) async throws -> String {
        let started = try await directory.engine.store.client.query("""
            SELECT s.stream_key FROM eventlog.streams s JOIN eventlog.events e ON e.stream_id = s.stream_id
            WHERE s.category = 'server' ORDER BY e.global_position DESC LIMIT 1
            """, logger: directory.engine.logger)
        var hostname = configured
        for try await key in started.decode(String.self) { hostname = String(key.dropFirst("server-".count)) }
        return hostname
    }

    /// Runs a report generator made by `make` for `day` (or the pending days) against the
    /// database, reporting as the server that started last.
    static func sendReports<Reporter: DailyReporter>(
        _ options: DirectoryOptions, day: String?,
        _ make: @escaping @Sendable (Directory, String, Settings) async throws -> Reporter
    ) async throws -> [Reporter.Fact] {
        // The host name only: `withDirectory` loads the configuration and sets up logging.
        let configured = try ConfigurationLoader().load(file: options.global.configFile, flags: options.global.flags).hostname.value
        return try await options.withDirectory { directory in
            let hostname = try await reportingHostname(directory, configured: configured)
            let reporter = try await make(directory, hostname, Settings(engine: directory.engine))
            return try await reporter.send(day: day, snapshot: try await directory.snapshot())
        }
    }

    struct Records: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The evaluations kept for reports, per policy domain, day and outcome.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "Only this UTC day (YYYY-MM-DD).") var day: String?
        @Option(help: "Only this policy domain.") var domain: String?

        func run() async throws {
            let day = self.day ?? "", domain = (self.domain ?? "").lowercased()
            let rows = try await options.withDirectory { directory in
                let result = try await directory.engine.store.client.query("""
                    SELECT domain, day, sourceip, headerfrom, envelopefrom, spfresult, replace(dkim, E'\n', '; '), disposition,
                           dkimaligned::text, spfaligned::text, count::text
                    FROM dmarc.records WHERE (\(day) = '' OR day = \(day)) AND (\(domain) = '' OR domain = \(domain))
                    ORDER BY day, domain, sourceip
                    """, logger: directory.engine.logger)
                var rows: [[String]] = []
                for try await row in result.decode((String, String, String, String, String, String, String, String, String, String, String).self) {
                    rows.append([row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10])
                }
                return rows
            }
            options.output.print(columns: ["domain", "day", "source_ip", "header_from", "envelope_from", "spf", "dkim", "disposition",
                                           "dkim_aligned", "spf_aligned", "count"], rows: rows)
        }
    }

    struct Reports: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The aggregate reports sent, newest first.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            let limit = self.limit
            let rows = try await options.withDirectory { directory in
                let result = try await directory.engine.store.client.query("""
                    SELECT reportid, domain, day, array_to_string(sentto, ', '), skipped::text, coalesce(messageid, ''),
                           records::text, messages::text, size::text, sentat
                    FROM dmarc.reports ORDER BY sentat DESC, reportid LIMIT \(limit)
                    """, logger: directory.engine.logger)
                var rows: [[String]] = []
                for try await row in result.decode((String, String, String, String, String, String, String, String, String, Date).self) {
                    rows.append([row.0, row.1, row.2, row.3, row.4 == "{}" ? "" : row.4, row.5, row.6, row.7, row.8,
                                 row.9.formatted(.iso8601)])
                }
                return rows
            }
            options.output.print(columns: ["report_id", "domain", "day", "sent_to", "skipped", "message", "records", "messages",
                                           "bytes", "sent_at"], rows: rows)
        }
    }

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send the reports not sent yet: of one UTC day (today's so far included), or of every earlier day of the last week.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "The UTC day (YYYY-MM-DD).") var day: String?

        func run() async throws {
            let day = self.day
            let sent = try await DMARCCommand.sendReports(options, day: day) { directory, hostname, settings in
                try DMARCReporter(
                    store: directory.engine.store, hostname: hostname,
                    address: try await settings.value(SettingKey<String>.dmarcReportAddress),
                    dnsServers: try await settings.value(SettingKey<[String]>.dnsServers),
                    dnsTimeoutSeconds: try await settings.value(SettingKey<Int>.dnsTimeoutSeconds),
                    suffixList: try await settings.value(SettingKey<String>.dmarcPublicSuffixList), logger: directory.engine.logger)
            }
            options.output.print(columns: ["report_id", "domain", "day", "sent_to", "skipped", "records", "messages"], rows: sent.map {
                [$0.reportID, $0.domain, $0.day, $0.sentTo.joined(separator: ", "),
                 $0.skipped.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "),
                 "\($0.records)", "\($0.messages)"]
            })
        }
    }

    struct Received: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The aggregate reports other receivers sent to a mailbox, read from its messages (gzip or plain XML).")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "The user whose mailbox holds the reports.") var user = "postmaster"
        @Option(help: "The folder.") var mailbox = "INBOX"

        func run() async throws {
            let user = self.user, mailbox = self.mailbox
            let rows = try await options.withDirectory { directory in
                let mail = directory.mail
                guard let folder = try await mail.reader.mailbox(user, named: mailbox) else {
                    throw CommandFailure("\(user) has no folder \(mailbox)")
                }
                var rows: [[String]] = []
                for message in try await mail.reader.messages(user, mailboxID: folder.id, uids: nil) {
                    guard let bytes = try await mail.engine.store.blob(message.blob) else { continue }
                    for attachment in AggregateReportAttachments.find(in: bytes) {
                        do {
                            let report = try AggregateReportAttachments.report(from: attachment)
                            for record in report.records {
                                rows.append(["\(message.uid)", report.organization, report.reportID, report.published.domain,
                                             "\(report.published.p)", record.sourceIP, "\(record.count)", record.disposition,
                                             record.dkimAligned ? "pass" : "fail", record.spfAligned ? "pass" : "fail", record.headerFrom])
                            }
                        } catch {
                            rows.append(["\(message.uid)", "", "", "", "", "", "", "unreadable: \(error)", "", "", ""])
                        }
                    }
                }
                return rows
            }
            options.output.print(columns: ["uid", "reporter", "report_id", "domain", "p", "source_ip", "count", "disposition", "dkim",
                                           "spf", "header_from"], rows: rows)
        }
    }
}

/// The report files in a message: parts of type gzip or XML, decoded.
enum AggregateReportAttachments {
    struct Attachment {
        var gzipped: Bool
        var bytes: [UInt8]
    }

    static func find(in message: [UInt8]) -> [Attachment] {
        let summary = MIMEParser.summarise(message)
        var found: [Attachment] = []
        func walk(_ part: BodyPart) {
            if part.isMultipart {
                part.parts.forEach(walk)
                return
            }
            let type = "\(part.type)/\(part.subtype)".lowercased()
            let gzip = ["application/gzip", "application/x-gzip"].contains(type)
            guard gzip || ["application/xml", "text/xml"].contains(type) else { return }
            let end = min(message.count, part.bodyOffset + part.bodySize)
            guard part.bodyOffset < end else { return }
            var bytes = Array(message[part.bodyOffset..<end])
            if part.encoding.lowercased() == "base64" {
                let text = String(decoding: bytes.filter { $0 > 0x20 }, as: UTF8.self)
                guard let data = Data(base64Encoded: text) else { return }
                bytes = Array(data)
            }
            found.append(Attachment(gzipped: gzip, bytes: bytes))
        }
        walk(summary.body)
        return found
    }

    static func report(from attachment: Attachment) throws -> DMARCAggregateReport {
        let xml = attachment.gzipped ? try Gzip.decompress(attachment.bytes, limit: DMARCAggregateReport.maximumXML) : attachment.bytes
        return try DMARCAggregateReport(xml: xml)
    }
}
