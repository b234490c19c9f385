import EventLog
import Facts
import Foundation
import Logging
import Projections
import ServiceLifecycle

/// Runs the report generators in `serve`: at `dmarc.report_hour` (UTC) each day the DMARC
/// aggregate reports and the SMTP TLS reports of the days before that are not sent yet go out.
public struct ReportService: Service {
    let store: EventStore
    let settings: LiveSettings
    let directory: LiveDirectory
    let hostname: String
    let logger: Logger

    public init(store: EventStore, settings: LiveSettings, directory: LiveDirectory, hostname: String, logger: Logger) {
        self.store = store
        self.settings = settings
        self.directory = directory
        self.hostname = hostname
        self.logger = logger
    }

    /// The next time the hour `hour` (UTC) starts after `now`.
    static func next(hour: Int, after now: Date) -> Date {
        let seconds = now.timeIntervalSince1970
        let dayStart = (seconds / 86_400).rounded(.down) * 86_400
        var next = dayStart + TimeInterval(hour * 3_600)
        if next <= seconds { next += 86_400 }
        return Date(timeIntervalSince1970: next)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let at = Self.next(hour: settings.value(SettingKey<Int>.dmarcReportHour), after: Date())
                do { try await Task.sleep(for: .seconds(max(1, at.timeIntervalSinceNow))) } catch { return }
                await sendPending()
            }
        }
    }

    func sendPending() async {
        await sendPending("DMARC aggregate reports") { try makeReporter() }
        await sendPending("TLS reports") {
            try TLSReporter(store: store, hostname: hostname, address: settings.value(SettingKey<String>.dmarcReportAddress),
                            dnsServers: settings.value(SettingKey<[String]>.dnsServers),
                            dnsTimeoutSeconds: settings.value(SettingKey<Int>.dnsTimeoutSeconds),
                            trustAnchors: settings.value(SettingKey<String>.dnsTrustAnchors),
                            trustedCertificates: settings.value(SettingKey<String>.outqueueTrustedCertificates), logger: logger)
        }
    }

    func sendPending<Reporter: DailyReporter>(_ what: String, _ make: () throws -> Reporter) async {
        do {
            _ = try await make().send(day: nil, snapshot: directory.snapshot)
        } catch {
            logger.error("sending \(what) failed", metadata: ["error": "\(error)"])
        }
    }

    func makeReporter() throws -> DMARCReporter {
        try DMARCReporter(store: store, hostname: hostname, address: settings.value(SettingKey<String>.dmarcReportAddress),
                          dnsServers: settings.value(SettingKey<[String]>.dnsServers),
                          dnsTimeoutSeconds: settings.value(SettingKey<Int>.dnsTimeoutSeconds),
                          suffixList: settings.value(SettingKey<String>.dmarcPublicSuffixList), logger: logger)
    }
}
