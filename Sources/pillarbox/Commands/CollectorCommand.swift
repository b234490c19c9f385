import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import Projections

/// `pillarbox collector`: the mail collectors of `collection.collectors`, with their passwords
/// sealed; `pillarbox collect`: run them now, fetch again, their last runs.
struct CollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collector", abstract: "Mail collectors: ISP mailboxes downloaded into local ones, exactly once.",
        subcommands: [Set.self, List.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a collector or change one; options not given keep their values.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The collector's name (letters, digits, -, _ and .).") var name: String
        @Option(name: .customLong("protocol"), help: "pop3 or imap. Default pop3.") var mailboxProtocol: MailCollector.MailboxProtocol?
        @Option(help: "The server, host or host:port (default 110 or 995 with ssl for POP3, 143 or 993 for IMAP).") var server: String?
        @Option(help: "IMAP: the folder to collect. Default INBOX.") var folder: String?
        @Option(help: "IMAP: what happens to a message once stored: delete (after --leave-days; the default) or seen (flag it \\Seen and leave it).")
        var afterDownload: MailCollector.IMAPAfterDownload?
        @Option(help: "IMAP: wait for new mail in IDLE and collect it at once, while the connections are online (true or false). Default false.")
        var idle: Bool?
        @Option(help: "The ISP account's user name.") var user: String?
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
        @Flag(help: "Forget the password.") var clearPassword = false
        @Option(help: "none, ssl (TLS from the start), stls (required) or stls-if-available. Default stls.")
        var encryption: MailCollector.Encryption?
        @Option(help: "Check the server's certificate and name (true or false). Default true.") var verifyCertificate: Bool?
        @Option(help: "A PEM file of certificates to trust besides the system's; empty to remove.") var trustedCertificates: String?
        @Option(name: .customLong("auth"), help: "plain (POP3 USER/PASS, IMAP LOGIN), apop (POP3), cram-md5 or sasl-plain. Default plain.")
        var authentication: MailCollector.Authentication?
        @Option(help: "Days collected messages stay on the server; 0 deletes them once stored. Default 0.") var leaveDays: Int?
        @Option(help: "Leave messages larger than this many KiB on the server; 0 for no limit.") var maxSizeKib: Int?
        @Option(help: "Days a UIDL the server no longer lists is remembered. Default 30.") var holdUidlDays: Int?
        @Option(help: "Route every message to this user, list or local address.") var allTo: String?
        @Option(name: .customLong("accepted-domain"), help: "Route by header fields: a domain or address the mailbox holds mail for; repeat for more.")
        var acceptedDomains: [String] = []
        @Option(name: .customLong("special-header"), help: "A header field holding the recipient (X-RCPTTO, or 'X-Recipient: account * ~'); repeat.")
        var specialHeaders: [String] = []
        @Option(help: "With header routing: look only for local users' names, without user mappings (true or false).")
        var disableMappings: Bool?
        @Option(help: "When no recipient is recognised: error-to-administrator, message-to-administrator, error-to:USER, message-to:USER or bounce.")
        var onError: String?
        @Option(help: "With header routing: also bounce to the sender when no recipient is recognised (true or false). Default false.")
        var bounceToSender: Bool?
        @Option(name: .customLong("rule"), help: ArgumentHelp(
            "A download rule, tried in order; repeat for more (replaces the rules).",
            discussion: "keep, delete or skip, then >N or <N (KiB), then Field:pattern with * and ?: 'delete Subject:*lottery*', 'skip >5000'."))
        var rules: [String] = []
        @Flag(help: "Remove every download rule.") var clearRules = false
        @Option(name: .customLong("connection"), help: "A connection whose runs collect this mailbox; repeat for more.")
        var connections: [String] = []
        @Flag(help: "Collect with every connection's run (forget the linked connections).") var clearConnections = false
        @Option(help: "Minutes between collections besides connection runs; 0 for only when asked. Default 15.") var pollMinutes: Int?
        @Option(help: "Collect at all (true or false).") var enabled: Bool?

        func run() async throws {
            if passwordStdin && clearPassword { throw ValidationError("--password-stdin and --clear-password together") }
            if allTo != nil && !acceptedDomains.isEmpty { throw ValidationError("--all-to and --accepted-domain together") }
            if clearRules && !rules.isEmpty { throw ValidationError("--rule and --clear-rules together") }
            let downloadRules = try rules.map { text in
                do { return try MailCollector.DownloadRule(parsing: text) } catch { throw ValidationError("--rule \(text): \(error)") }
            }
            var onErrorAction: MailCollector.RoutingError?
            if let onError {
                guard let action = MailCollector.RoutingError(onError) else { throw ValidationError("--on-error: \(onError) is not an action") }
                onErrorAction = action
            }
            let password: SenderWriter.Password = passwordStdin ? .set(try readPasswordFromStandardInput()) : clearPassword ? .clear : .keep
            let command = self, action = onErrorAction
            let collector = try await options.withDirectory { directory in
                try await CollectorWriter(engine: directory.engine, vault: directory.vault).set(name, password: password, actor: commandLineActor,
                                                                                               make: { try command.make() }) { collector in
                    command.apply(to: &collector, onError: action, rules: downloadRules)
                }
            }
            options.output.print(record: CollectorCommand.record(collector))
        }

        func make() throws -> MailCollector {
            guard let server, let user else { throw SettingProblem("a new collector needs --server and --user") }
            guard allTo != nil || !acceptedDomains.isEmpty else { throw SettingProblem("a new collector needs --all-to or --accepted-domain") }
            var collector = MailCollector(name: name, server: server, user: user, routing: .allTo(allTo ?? ""))
            // The protocol first: the default port depends on it.
            if let mailboxProtocol { collector.mailboxProtocol = mailboxProtocol }
            return collector
        }

        func apply(to collector: inout MailCollector, onError: MailCollector.RoutingError?, rules: [MailCollector.DownloadRule]) {
            if let mailboxProtocol { collector.mailboxProtocol = mailboxProtocol }
            if let server { collector.server = server }
            if let folder { collector.folder = folder }
            if let afterDownload { collector.afterDownload = afterDownload }
            if let idle { collector.idle = idle }
            if let user { collector.user = user }
            if let encryption { collector.encryption = encryption }
            if let verifyCertificate { collector.verifyCertificate = verifyCertificate }
            if let trustedCertificates { collector.trustedCertificates = trustedCertificates.isEmpty ? nil : trustedCertificates }
            if let authentication { collector.authentication = authentication }
            if let leaveDays { collector.leaveOnServerDays = leaveDays }
            if let maxSizeKib { collector.maxSizeKiB = maxSizeKib }
            if let holdUidlDays { collector.holdObsoleteUIDLDays = holdUidlDays }
            if let allTo { collector.routing = .allTo(allTo) }
            var headers: MailCollector.HeaderRouting? = if case .parseHeaders(let rules) = collector.routing { rules } else { nil }
            if !acceptedDomains.isEmpty {
                headers = headers ?? MailCollector.HeaderRouting(acceptedDomains: [])
                headers?.acceptedDomains = acceptedDomains.flatMap { $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) } }
            }
            if !specialHeaders.isEmpty { headers?.specialHeaders = specialHeaders }
            if let disableMappings { headers?.disableMappings = disableMappings }
            if let onError { headers?.onError = onError }
            if let bounceToSender { headers?.bounceToSender = bounceToSender }
            if clearRules { collector.downloadRules = [] }
            if !rules.isEmpty { collector.downloadRules = rules }
            if let headers { collector.routing = .parseHeaders(headers) }
            if clearConnections { collector.connections = [] }
            if !connections.isEmpty { collector.connections = connections }
            if let pollMinutes { collector.pollMinutes = pollMinutes }
            if let enabled { collector.enabled = enabled }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the collectors with their last run.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let (collectors, runs) = try await options.withDirectory { directory in
                let collectors = try await Settings(engine: directory.engine).value(SettingKey.collectors)
                var runs: [String: (Date, String)] = [:]
                let rows = try await directory.engine.store.client.query("SELECT collector, laststart, lastresult FROM collection.runs",
                                                                   logger: directory.engine.logger)
                for try await (name, start, result) in rows.decode((String, Date, String).self) { runs[name] = (start, result) }
                return (collectors, runs)
            }
            options.output.print(columns: ["name", "server", "user", "password", "encryption", "auth", "routing", "leave_days",
                                           "last_run", "last_result"],
                                 rows: collectors.map { collector in
                let record = Dictionary(CollectorCommand.record(collector), uniquingKeysWith: { first, _ in first })
                let run = runs[collector.name.lowercased()]
                return [collector.name, collector.server, collector.user, record["password"] ?? "", collector.encryption.rawValue,
                        collector.authentication.rawValue, record["routing"] ?? "", "\(collector.leaveOnServerDays)",
                        run.map { $0.0.formatted(.iso8601) } ?? "", run?.1 ?? ""]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a collector (and its sealed password).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { directory in
                try await CollectorWriter(engine: directory.engine, vault: directory.vault).remove(name, actor: commandLineActor)
            }
            options.output.done("removed collector \(name)")
        }
    }

    /// A collector as shown: the password only as whether one is sealed.
    static func record(_ collector: MailCollector) -> [(String, String)] {
        let routing: String = switch collector.routing {
        case .allTo(let target): "all to \(target)"
        case .parseHeaders(let rules):
            "headers for \(rules.acceptedDomains.joined(separator: ";"))"
                + (rules.specialHeaders.isEmpty ? "" : ", fields \(rules.specialHeaders.joined(separator: ", "))")
                + (rules.disableMappings ? ", no mappings" : "") + ", on error \(rules.onError)"
                + (rules.bounceToSender ? ", bounce to sender" : "")
        }
        return [
            ("name", collector.name), ("protocol", collector.mailboxProtocol.rawValue), ("server", collector.server),
            ("folder", collector.mailboxProtocol == .imap ? collector.folder : ""),
            ("after_download", collector.mailboxProtocol == .imap ? collector.afterDownload.rawValue : ""),
            ("idle", collector.idle ? "yes" : "no"), ("user", collector.user),
            ("password", collector.passwordSecret == nil ? "" : "(sealed)"), ("encryption", collector.encryption.rawValue),
            ("verify_certificate", collector.verifyCertificate ? "yes" : "no"), ("trusted_certificates", collector.trustedCertificates ?? ""),
            ("auth", collector.authentication.rawValue), ("leave_on_server_days", "\(collector.leaveOnServerDays)"),
            ("max_size_kib", "\(collector.maxSizeKiB)"), ("hold_obsolete_uidl_days", "\(collector.holdObsoleteUIDLDays)"),
            ("routing", routing), ("connections", collector.connections.joined(separator: " ")),
            ("poll_minutes", "\(collector.pollMinutes)"),
            ("download_rules", collector.downloadRules.map(\.text).joined(separator: "; ")), ("enabled", collector.enabled ? "yes" : "no"),
        ]
    }
}

/// `pillarbox collect`: collections now, fetching again.
struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect", abstract: "Run mail collectors now, or fetch collected messages again.",
        subcommands: [Now.self, Redownload.self])

    struct Now: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the running server to collect now (one collector, or all).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String?
        func run() async throws {
            try await options.withDirectory { directory in
                try await CollectorWriter(engine: directory.engine, vault: directory.vault).request(name, actor: commandLineActor)
            }
            options.output.done("asked for a collection" + (name.map { " by \($0)" } ?? " by every collector"))
        }
    }

    struct Redownload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget the messages a collector took (since a date), so the next run downloads them again.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Option(help: "Only those collected on or after this day (YYYY-MM-DD, UTC).") var since: String?
        func run() async throws {
            var date: Date?
            if let since {
                guard let day = CivilDateParsing.day(since) else { throw ValidationError("--since takes a day as YYYY-MM-DD") }
                date = day
            }
            let from = date
            let forgotten = try await options.withDirectory { directory in
                try await CollectorWriter(engine: directory.engine, vault: directory.vault).redownload(name, since: from, actor: commandLineActor)
            }
            options.output.done("\(forgotten.count) messages will be downloaded again by \(name)")
        }
    }
}

/// `YYYY-MM-DD` as midnight UTC.
enum CivilDateParsing {
    static func day(_ text: String) -> Date? {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, text.count == 10 else { return nil }
        var components = DateComponents()
        (components.year, components.month, components.day) = (parts[0], parts[1], parts[2])
        components.timeZone = TimeZone(identifier: "UTC")
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: components), calendar.component(.day, from: date) == parts[2] else { return nil }
        return date
    }
}

extension MailCollector.Encryption: ExpressibleByArgument {}
extension MailCollector.Authentication: ExpressibleByArgument {}
extension MailCollector.MailboxProtocol: ExpressibleByArgument {}
extension MailCollector.IMAPAfterDownload: ExpressibleByArgument {}
