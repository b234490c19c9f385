import ArgumentParser
import Commands
import Delivery
import Facts
import Foundation
import Projections

/// `pillarbox tlsrpt`: the transport policies outbound mail met, the SMTP TLS reports made
/// (RFC 8460), and making them now.
struct TLSReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tlsrpt", abstract: "SMTP TLS reports: the policies outbound mail met, the reports made, sending now.",
        subcommands: [Policies.self, Reports.self, Send.self])

    struct Policies: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sessions that met and failed each recipient domain's MTA-STS or DANE policy, per UTC day.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "Only this UTC day (YYYY-MM-DD).") var day: String?

        func run() async throws {
            let day = self.day ?? ""
            let rows = try await options.withDirectory { directory in
                let result = try await directory.engine.store.client.query("""
                    SELECT p.domain, p.day, p.kind, array_to_string(p.policy, '; '), p.successes::text, p.failures::text,
                           coalesce((SELECT string_agg(f.result || ' ' || f.mxhost || ' ×' || f.count, ', ' ORDER BY f.result, f.mxhost)
                                     FROM tlsrpt.failures f WHERE f.domain = p.domain AND f.day = p.day AND f.kind = p.kind
                                       AND f.policy = p.policy), '')
                    FROM tlsrpt.policies p WHERE (\(day) = '' OR p.day = \(day)) ORDER BY p.day, p.domain, p.kind
                    """, logger: directory.engine.logger)
                var rows: [[String]] = []
                for try await row in result.decode((String, String, String, String, String, String, String).self) {
                    rows.append([row.0, row.1, row.2, row.3, row.4, row.5, row.6])
                }
                return rows
            }
            options.output.print(columns: ["domain", "day", "type", "policy", "successes", "failures", "failure_details"], rows: rows)
        }
    }

    struct Reports: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The TLS reports made, newest first.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            let limit = self.limit
            let rows = try await options.withDirectory { directory in
                let result = try await directory.engine.store.client.query("""
                    SELECT reportid, domain, day, array_to_string(sentto, ', '), skipped::text, coalesce(messageid, ''),
                           successes::text, failures::text, sentat
                    FROM tlsrpt.reports ORDER BY sentat DESC, reportid LIMIT \(limit)
                    """, logger: directory.engine.logger)
                var rows: [[String]] = []
                for try await row in result.decode((String, String, String, String, String, String, String, String, Date).self) {
                    rows.append([row.0, row.1, row.2, row.3, row.4 == "{}" ? "" : row.4, row.5, row.6, row.7, row.8.formatted(.iso8601)])
                }
                return rows
            }
            options.output.print(columns: ["report_id", "domain", "day", "sent_to", "skipped", "message", "successes", "failures",
                                           "sent_at"], rows: rows)
        }
    }

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the reports not made yet: of one UTC day (today's so far included), or of every earlier day of the last week.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "The UTC day (YYYY-MM-DD).") var day: String?

        func run() async throws {
            let day = self.day
            let sent = try await DMARCCommand.sendReports(options, day: day) { directory, hostname, settings in
                try TLSReporter(
                    store: directory.engine.store, hostname: hostname,
                    address: try await settings.value(SettingKey<String>.dmarcReportAddress),
                    dnsServers: try await settings.value(SettingKey<[String]>.dnsServers),
                    dnsTimeoutSeconds: try await settings.value(SettingKey<Int>.dnsTimeoutSeconds),
                    trustAnchors: try await settings.value(SettingKey<String>.dnsTrustAnchors),
                    trustedCertificates: try await settings.value(SettingKey<String>.outqueueTrustedCertificates),
                    logger: directory.engine.logger)
            }
            options.output.print(columns: ["report_id", "domain", "day", "sent_to", "skipped", "successes", "failures"], rows: sent.map {
                [$0.reportID, $0.domain, $0.day, $0.sentTo.joined(separator: ", "),
                 $0.skipped.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "),
                 "\($0.successes)", "\($0.failures)"]
            })
        }
    }
}
