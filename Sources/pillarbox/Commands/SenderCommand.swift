import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import Projections

/// `pillarbox sender`: the mail senders of `outqueue.senders`, with relay passwords sealed.
struct SenderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sender", abstract: "Mail senders: direct to MX or through relay servers, chosen by domain filtering.",
        subcommands: [Set.self, List.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a sender or change one; options not given keep their values (a new sender is direct).")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The sender's name (letters, digits, -, _ and .).") var name: String
        @Option(help: "direct or relay.") var method: MailSender.Method?
        @Option(name: .customLong("relay"), help: "A relay server, host or host:port (default port 25); repeat for more, tried in order.")
        var relays: [String] = []
        @Option(help: "none, ssl (implicit TLS), starttls (required) or starttls-if-available.") var encryption: MailSender.Encryption?
        @Option(help: "Check the relay's certificate (true or false).") var verifyCertificate: Bool?
        @Option(help: "A PEM file of certificates to trust besides the system's; empty to remove.") var trustedCertificates: String?
        @Option(help: "The SMTP AUTH user; empty to send without logging in.") var user: String?
        @Flag(help: "Read the relay password from the first line of standard input.") var passwordStdin = false
        @Flag(help: "Forget the relay password.") var clearPassword = false
        @Option(help: "Allow PLAIN and LOGIN to send the password without TLS (true or false).") var passwordWithoutTLS: Bool?
        @Option(help: "The EHLO name; empty for smtp.outbound_hostname.") var ehloName: String?
        @Option(help: "Messages over one connection; 0 for outqueue.max_messages_per_session.") var maxMessagesPerSession: Int?
        @Option(help: "Recipients in one transaction; 0 for outqueue.max_recipients_per_message.") var maxRecipientsPerMessage: Int?
        @Option(help: "Recipients over one connection; 0 for no limit.") var maxRecipientsPerSession: Int?
        @Option(help: "At most X recipients per Y minutes, as X/Y; 0 for no limit.") var rateLimit: String?
        @Option(name: .customLong("filter"), help: "A domain filtering rule (From: <wildcard>, <wildcard domain>, ! negates); repeat for more.")
        var filter: [String] = []
        @Flag(help: "Remove every domain filtering rule.") var clearFilter = false
        @Option(help: "Send smaller messages first (true or false).") var smallestFirst: Bool?
        @Option(help: "Reverse the send order (true or false).") var reverseOrder: Bool?
        @Flag(help: "Make this the default sender (for mail no filter takes).") var `default` = false

        func run() async throws {
            if passwordStdin && clearPassword { throw ValidationError("--password-stdin and --clear-password together") }
            var limit: MailSender.RateLimit??
            if let rateLimit {
                if rateLimit == "0" {
                    limit = .some(nil)
                } else {
                    let parts = rateLimit.split(separator: "/")
                    guard parts.count == 2, let count = Int(parts[0]), let minutes = Int(parts[1]) else {
                        throw ValidationError("--rate-limit takes X/Y: recipients per minutes, e.g. 50/60")
                    }
                    limit = .some(MailSender.RateLimit(recipients: count, minutes: minutes))
                }
            }
            let password: SenderWriter.Password = passwordStdin ? .set(try readPasswordFromStandardInput())
                : clearPassword ? .clear : .keep
            let command = self, parsedLimit = limit
            let sender = try await options.withDirectory { directory in
                try await SenderWriter(engine: directory.engine, vault: directory.vault).set(name, password: password,
                                                                                            actor: commandLineActor) { sender in
                    command.apply(to: &sender, limit: parsedLimit)
                }
            }
            options.output.print(record: SenderCommand.record(sender))
        }

        func apply(to sender: inout MailSender, limit: MailSender.RateLimit??) {
            if let method { sender.method = method }
            if !relays.isEmpty { sender.relays = relays }
            if let encryption { sender.encryption = encryption }
            if let verifyCertificate { sender.verifyCertificate = verifyCertificate }
            if let trustedCertificates { sender.trustedCertificates = trustedCertificates.isEmpty ? nil : trustedCertificates }
            if let user { sender.user = user.isEmpty ? nil : user }
            if let passwordWithoutTLS { sender.passwordWithoutTLS = passwordWithoutTLS }
            if let ehloName { sender.ehloName = ehloName.isEmpty ? nil : ehloName }
            if let maxMessagesPerSession { sender.maxMessagesPerSession = maxMessagesPerSession == 0 ? nil : maxMessagesPerSession }
            if let maxRecipientsPerMessage { sender.maxRecipientsPerMessage = maxRecipientsPerMessage == 0 ? nil : maxRecipientsPerMessage }
            if let maxRecipientsPerSession { sender.maxRecipientsPerSession = maxRecipientsPerSession == 0 ? nil : maxRecipientsPerSession }
            if let limit { sender.rateLimit = limit }
            if clearFilter { sender.filter = [] }
            if !filter.isEmpty { sender.filter = filter }
            if let smallestFirst { sender.smallestFirst = smallestFirst }
            if let reverseOrder { sender.reverseOrder = reverseOrder }
            if `default` { sender.isDefault = true }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the senders (an empty list is one direct sender).")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let senders = try await options.withDirectory { try await Settings(engine: $0.engine).value(SettingKey.senders) }
            let all = MailSenders(senders)
            options.output.print(columns: ["name", "method", "default", "relays", "encryption", "user", "password", "limits", "filter"],
                                 rows: all.all.map { sender in
                let record = Dictionary(SenderCommand.record(sender), uniquingKeysWith: { first, _ in first })
                return [sender.name, sender.method.rawValue, sender.name == all.defaultSender.name ? "yes" : "",
                        record["relays"] ?? "", record["encryption"] ?? "", sender.user ?? "", record["password"] ?? "",
                        record["limits"] ?? "", sender.filter.joined(separator: "; ")]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a sender (and its sealed password).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { directory in
                try await SenderWriter(engine: directory.engine, vault: directory.vault).remove(name, actor: commandLineActor)
            }
            options.output.done("removed sender \(name)")
        }
    }

    /// A sender as shown: the password only as whether one is sealed.
    static func record(_ sender: MailSender) -> [(String, String)] {
        var limits: [String] = []
        if let value = sender.maxMessagesPerSession { limits.append("\(value) messages/session") }
        if let value = sender.maxRecipientsPerMessage { limits.append("\(value) recipients/message") }
        if let value = sender.maxRecipientsPerSession { limits.append("\(value) recipients/session") }
        if let limit = sender.rateLimit { limits.append("\(limit.recipients) recipients per \(limit.minutes) minutes") }
        return [
            ("name", sender.name), ("method", sender.method.rawValue), ("default", sender.isDefault ? "yes" : "no"),
            ("relays", sender.relays.joined(separator: " ")),
            ("encryption", sender.method == .relay ? sender.encryption.rawValue : "opportunistic STARTTLS"),
            ("verify_certificate", sender.method == .relay ? (sender.verifyCertificate ? "yes" : "no") : "no"),
            ("trusted_certificates", sender.trustedCertificates ?? ""), ("user", sender.user ?? ""),
            ("password", sender.passwordSecret == nil ? "" : "(sealed)"), ("ehlo_name", sender.ehloName ?? ""),
            ("limits", limits.joined(separator: ", ")), ("filter", sender.filter.joined(separator: "; ")),
            ("order", (sender.smallestFirst ? "smallest first" : "oldest first") + (sender.reverseOrder ? ", reversed" : "")),
        ]
    }
}

extension MailSender.Method: ExpressibleByArgument {}
extension MailSender.Encryption: ExpressibleByArgument {}
