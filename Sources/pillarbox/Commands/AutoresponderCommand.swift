import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import Projections

/// `pillarbox autoresponder`: the users' autoresponders (`mail.autoresponders`) and their logs.
struct AutoresponderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoresponder", abstract: "Autoresponders: answers to mail landing in a user's mailbox.",
        subcommands: [Set.self, List.self, Remove.self, Log.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an autoresponder or change one; options not given keep their values.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The user whose mail it answers.") var user: String
        @Argument(help: "The autoresponder's name.") var name: String
        @Option(help: "The reply's text; {sender}, {subject}, {date}, {user} and {address} are replaced.") var text: String?
        @Option(help: "A file holding the reply's text.") var textFile: String?
        @Option(help: "The reply's subject (default 'Auto: {subject}').") var subject: String?
        @Option(name: .customLong("filter"), help: "Field:pattern: mail with a matching field is not answered; repeat (replaces them).")
        var filters: [String] = []
        @Option(name: .customLong("trigger"), help: "Field:pattern: only mail with a matching field is answered; repeat (replaces them).")
        var triggers: [String] = []
        @Flag(help: "Remove the filters and triggers.") var clearMatches = false
        @Option(help: "The first day it answers (YYYY-MM-DD, UTC); empty for none.") var from: String?
        @Option(help: "The last day it answers (YYYY-MM-DD, UTC); empty for none.") var until: String?
        @Option(help: "Answer each sender at most once in this many hours; 0 for every message. Default 24.") var periodHours: Int?
        @Option(help: "Also send the answered message to this address; empty for none.") var copyTo: String?
        @Option(help: "Answer at all (true or false).") var enabled: Bool?
        @Option(help: "The hours it answers in, HH:MM-HH:MM (18:00-08:00 wraps past midnight); empty for all day.") var hours: String?
        @Option(help: "The weekdays it answers on: mon,tue,… or ranges such as mon-fri; empty for every day.") var weekdays: String?
        @Option(help: "The IANA time zone of --hours, --weekdays, --from and --until (default UTC); empty for UTC.") var timeZone: String?
        @Option(help: "Keep the answered message in the mailbox (true, the default) or remove it once answered (false).")
        var keepOriginal: Bool?

        static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

        /// `mon,wed-fri` as 1…7.
        static func weekdays(_ text: String) throws -> [Int] {
            var days: [Int] = []
            for piece in text.lowercased().split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let ends = piece.split(separator: "-").map { dayNames.firstIndex(of: String($0.prefix(3))).map { $0 + 1 } }
                guard !ends.isEmpty, ends.count <= 2, let first = ends.first ?? nil, let last = ends.last ?? nil, first <= last else {
                    throw ValidationError("--weekdays takes mon,tue,… or ranges such as mon-fri")
                }
                days += Array(first...last).filter { !days.contains($0) }
            }
            return days.sorted()
        }

        func run() async throws {
            if text != nil && textFile != nil { throw ValidationError("--text and --text-file together") }
            let body = try textFile.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? text
            let filterMatches = try filters.map { text in
                guard let match = Autoresponder.HeaderMatch(text) else { throw ValidationError("--filter \(text) is not Field:pattern") }
                return match
            }
            let triggerMatches = try triggers.map { text in
                guard let match = Autoresponder.HeaderMatch(text) else { throw ValidationError("--trigger \(text) is not Field:pattern") }
                return match
            }
            let days = try weekdays.map { $0.isEmpty ? [] : try Self.weekdays($0) }
            let command = self
            let responder = try await options.withDirectory { directory in
                try await AutoresponderWriter(engine: directory.engine).set(user: user, name: name, actor: commandLineActor, make: {
                    guard let body else { throw SettingProblem("a new autoresponder needs --text or --text-file") }
                    return Autoresponder(user: command.user, name: command.name, text: body)
                }) { responder in
                    if let body { responder.text = body }
                    if let subject = command.subject { responder.subject = subject }
                    if command.clearMatches { responder.filters = []; responder.triggers = [] }
                    if !filterMatches.isEmpty { responder.filters = filterMatches }
                    if !triggerMatches.isEmpty { responder.triggers = triggerMatches }
                    if let from = command.from { responder.from = from.isEmpty ? nil : from }
                    if let until = command.until { responder.until = until.isEmpty ? nil : until }
                    if let periodHours = command.periodHours { responder.periodHours = periodHours }
                    if let copyTo = command.copyTo { responder.copyTo = copyTo.isEmpty ? nil : copyTo }
                    if let enabled = command.enabled { responder.enabled = enabled }
                    if let hours = command.hours { responder.hours = hours.isEmpty ? nil : hours }
                    if let days { responder.weekdays = days.isEmpty ? nil : days }
                    if let timeZone = command.timeZone { responder.timeZone = timeZone.isEmpty ? nil : timeZone }
                    if let keepOriginal = command.keepOriginal { responder.keepOriginal = keepOriginal }
                }
            }
            options.output.print(record: AutoresponderCommand.record(responder))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the autoresponders (of one user).")
        @OptionGroup var options: DirectoryOptions
        @Argument var user: String?
        func run() async throws {
            let responders = try await options.withDirectory { directory in
                try await Settings(engine: directory.engine).value(SettingKey.autoresponders)
            }.filter { user == nil || $0.user == user?.lowercased() }
            options.output.print(columns: ["user", "name", "enabled", "subject", "period_hours", "from", "until", "filters", "triggers", "copy_to"],
                                 rows: responders.map { responder in
                [responder.user, responder.name, responder.enabled ? "yes" : "no", responder.subject, "\(responder.periodHours)",
                 responder.from ?? "", responder.until ?? "", responder.filters.map(\.description).joined(separator: "; "),
                 responder.triggers.map(\.description).joined(separator: "; "), responder.copyTo ?? ""]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an autoresponder.")
        @OptionGroup var options: DirectoryOptions
        @Argument var user: String
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { directory in
                try await AutoresponderWriter(engine: directory.engine).remove(user: user, name: name, actor: commandLineActor)
            }
            options.output.done("removed autoresponder \(name) of \(user)")
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Whom a user's autoresponders answered (the last 180 days), newest first; --clear forgets them, so each is answered again.")
        @OptionGroup var options: DirectoryOptions
        @Argument var user: String
        @Flag(help: "Clear the log.") var clear = false
        func run() async throws {
            if clear {
                try await options.withDirectory { directory in
                    try await AutoresponderWriter(engine: directory.engine).clearLog(user: user, actor: commandLineActor)
                }
                options.output.done("cleared the autoresponder log of \(user)")
                return
            }
            let rows = try await options.withDirectory { directory in
                var rows: [[String]] = []
                let found = try await directory.engine.store.client.query("""
                    SELECT replied_at, responder, sender, coalesce(subject, '') FROM autoresponder.log
                    WHERE username = \(user.lowercased()) ORDER BY replied_at DESC, position DESC
                    """, logger: directory.engine.logger)
                for try await (at, responder, sender, subject) in found.decode((Date, String, String, String).self) {
                    rows.append([at.formatted(.iso8601), responder, sender, subject])
                }
                return rows
            }
            options.output.print(columns: ["replied_at", "responder", "sender", "subject"], rows: rows)
        }
    }

    static func record(_ responder: Autoresponder) -> [(String, String)] {
        [("user", responder.user), ("name", responder.name), ("enabled", responder.enabled ? "yes" : "no"),
         ("subject", responder.subject), ("text", responder.text), ("period_hours", "\(responder.periodHours)"),
         ("from", responder.from ?? ""), ("until", responder.until ?? ""),
         ("filters", responder.filters.map(\.description).joined(separator: "; ")),
         ("triggers", responder.triggers.map(\.description).joined(separator: "; ")), ("copy_to", responder.copyTo ?? ""),
         ("hours", responder.hours ?? ""), ("weekdays", responder.weekdays.map { $0.map { Set.dayNames[$0 - 1] }.joined(separator: ",") } ?? ""),
         ("time_zone", responder.timeZone ?? ""), ("keep_original", responder.keepOriginal ? "yes" : "no")]
    }
}
