import ArgumentParser
import Delivery
import EventLog
import Facts
import Foundation
import MailCore
import Projections

struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "The daily usage summary: show a day's, or send it to the main administrator.",
        subcommands: [Show.self, Send.self])

    /// `day`, or yesterday (UTC).
    static func day(_ day: String?) throws -> String {
        guard let day else {
            let today = CivilDate(text: DMARCProjection.day(Date()))!
            return CivilDate(days: today.days - 1).text
        }
        guard let date = CivilDate(text: day), date.text == day else { throw ValidationError("--day takes YYYY-MM-DD") }
        return day
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a UTC day's summary (default yesterday).")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "The UTC day (YYYY-MM-DD).") var day: String?
        @Flag(help: "List the idle accounts too.") var idleAccounts = false

        func run() async throws {
            let (day, idle) = (try SummaryCommand.day(self.day), idleAccounts)
            let text = try await options.withDirectory { directory in
                let figures = try await DailySummary(engine: directory.engine, logger: directory.engine.logger)
                    .figures(day: day, snapshot: try await directory.snapshot())
                return DailySummary.text(figures, idleAccounts: idle)
            }
            print(text, terminator: "")
        }
    }

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a UTC day's summary (default yesterday) to the main administrator, unless it was sent already.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "The UTC day (YYYY-MM-DD).") var day: String?

        func run() async throws {
            let day = try SummaryCommand.day(self.day)
            let sent = try await options.withDirectory { directory -> DailySummarySent? in
                let settings = Settings(engine: directory.engine)
                let summaryOptions = DailySummary.Options(
                    to: try await settings.value(SettingKey<String>.mainAdministrator),
                    idleAccounts: try await settings.value(SettingKey<Bool>.dailySummaryIdleAccounts),
                    html: try await settings.value(SettingKey<Bool>.dailySummaryHTML))
                return try await DailySummary(engine: directory.engine, logger: directory.engine.logger)
                    .send(day: day, options: summaryOptions, snapshot: try await directory.snapshot())
            }
            if let sent {
                options.output.done("sent the summary of \(day) to \(sent.to)")
            } else {
                options.output.done("the summary of \(day) was sent already (or its recipient goes nowhere)")
            }
        }
    }
}

/// The errors noted for the main administrator, newest last, with how many were held back.
struct ErrorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "errors",
        abstract: "Component errors noted for the main administrator (reported or held back by admin.error_suppression).")
    @OptionGroup var options: DirectoryOptions
    @Option(help: "How many hours back (default 24).") var hours = 24

    func run() async throws {
        let since = Date().addingTimeInterval(-Double(max(1, hours)) * 3_600)
        let rows = try await options.withDirectory { directory -> [[String]] in
            let store = directory.engine.store
            let registry = EventTypeRegistry([ComponentErrorNoted.self, ComponentRecovered.self], passingOver: EventCatalogue.all)
            var rows: [[String]] = []
            var version: Int64 = 0
            while true {
                let events = try await store.read(stream: ComponentErrorNoted.stream, from: version, limit: 1_000)
                guard !events.isEmpty else { break }
                for recorded in events {
                    version = recorded.streamVersion + 1
                    guard recorded.recordedAt >= since else { continue }
                    let time = recorded.recordedAt.formatted(.iso8601)
                    switch try registry.decode(recorded, logger: directory.engine.logger) {
                    case let noted as ComponentErrorNoted:
                        rows.append([time, noted.component, noted.object, noted.code, noted.reported ? "reported" : "held back", noted.error])
                    case let recovered as ComponentRecovered:
                        rows.append([time, recovered.component, recovered.object, "", "recovered", ""])
                    default:
                        break
                    }
                }
            }
            return rows
        }
        options.output.print(columns: ["time", "component", "object", "code", "outcome", "error"], rows: rows)
        if !options.json {
            print("held back in the last \(hours) hours: \(rows.filter { $0[4] == "held back" }.count)")
        }
    }
}
