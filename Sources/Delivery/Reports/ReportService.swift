import EventLog
import Facts
import Foundation
import Logging
import Projections
import ServiceLifecycle

/// Runs the report generators in `serve`: at `dmarc.report_hour` (UTC) each day the DMARC
/// aggregate reports and the SMTP TLS reports of the days before that are not sent yet go out;
/// at `admin.daily_summary_hour`, when `admin.daily_summary` is on, the usage summary of the
/// day before.
public struct ReportService: Service {
    let engine: ProjectionEngine
    let settings: LiveSettings
    let directory: LiveDirectory
    let hostname: String
    let logger: Logger

    var store: EventStore { engine.store }

    public init(engine: ProjectionEngine, settings: LiveSettings, directory: LiveDirectory, hostname: String, logger: Logger) {
        self.engine = engine
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
                let now = Date()
                let reports = Self.next(hour: settings.value(SettingKey<Int>.dmarcReportHour), after: now)
                let summary = Self.next(hour: settings.value(SettingKey<Int>.dailySummaryHour), after: now)
                do { try await Task.sleep(for: .seconds(max(1, min(reports, summary).timeIntervalSinceNow))) } catch { return }
                if Date() >= reports { await sendPending() }
                if Date() >= summary, settings.value(SettingKey<Bool>.dailySummary) { await sendSummary() }
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

    /// The usage summary of yesterday (UTC), to the main administrator.
    func sendSummary() async {
        let options = DailySummary.Options(to: settings.value(SettingKey<String>.mainAdministrator),
                                           idleAccounts: settings.value(SettingKey<Bool>.dailySummaryIdleAccounts),
                                           html: settings.value(SettingKey<Bool>.dailySummaryHTML))
        do {
            let yesterday = DMARCReporter.day(DMARCProjection.day(Date()), adding: -1)
            _ = try await DailySummary(engine: engine, logger: logger).send(day: yesterday, options: options, snapshot: directory.snapshot)
        } catch {
            logger.error("sending the daily summary failed", metadata: ["error": "\(error)"])
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
