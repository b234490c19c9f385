import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import Projections

/// `pillarbox lan`: the LAN forwarding rules of `lan.forwarding`, in order, passwords sealed.
struct LANCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lan", abstract: "LAN forwarding: addresses sent on to another SMTP server through the always-on LAN queue.",
        subcommands: [Set.self, List.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a rule (last in order) or change one; options not given keep their values.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The rule's name (letters, digits, -, _ and .).") var name: String
        @Option(name: .customLong("address"),
                help: "An address pattern (* and ? wildcards; ~@domain for the fallback; a bare name with lan.bare_user_names); repeat for more.")
        var addresses: [String] = []
        @Option(help: "The target SMTP server: a host name or an IP address.") var server: String?
        @Option(help: "The target port (25 or 587 as a rule).") var port: Int?
        @Option(help: "none, starttls (required) or starttls-if-available.") var encryption: MailSender.Encryption?
        @Option(help: "The SMTP AUTH user; empty to send without logging in.") var user: String?
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
        @Flag(help: "Forget the password.") var clearPassword = false
        @Option(help: "Rewrite the address: *@newdomain keeps the user part; a full address replaces it; empty for none.")
        var rewrite: String?
        @Option(help: "Move the rule to this place in the order (1 is first).") var position: Int?

        func run() async throws {
            if passwordStdin && clearPassword { throw ValidationError("--password-stdin and --clear-password together") }
            let password: SenderWriter.Password = passwordStdin ? .set(try readPasswordFromStandardInput())
                : clearPassword ? .clear : .keep
            let command = self
            let rule = try await options.withDirectory { directory in
                try await LANRuleWriter(engine: directory.engine, vault: directory.vault).set(
                    name, password: password, position: position, actor: commandLineActor) { command.apply(to: &$0) }
            }
            options.output.print(record: LANCommand.record(rule))
        }

        func apply(to rule: inout LANForwardRule) {
            if !addresses.isEmpty { rule.addresses = addresses }
            if let server { rule.server = server }
            if let port { rule.port = port }
            if let encryption { rule.encryption = encryption }
            if let user { rule.user = user.isEmpty ? nil : user }
            if let rewrite { rule.rewrite = rewrite.isEmpty ? nil : rewrite }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the rules in the order they are tried.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let rules = try await options.withDirectory { try await Settings(engine: $0.engine).value(SettingKey.lanForwarding) }
            options.output.print(columns: ["#", "name", "addresses", "server", "encryption", "user", "password", "rewrite"],
                                 rows: rules.enumerated().map { index, rule in
                [String(index + 1), rule.name, rule.addresses.joined(separator: " "), "\(rule.server):\(rule.port)",
                 rule.encryption.rawValue, rule.user ?? "", rule.passwordSecret == nil ? "" : "(sealed)", rule.rewrite ?? ""]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a rule (and its sealed password).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { directory in
                try await LANRuleWriter(engine: directory.engine, vault: directory.vault).remove(name, actor: commandLineActor)
            }
            options.output.done("removed LAN forwarding rule \(name)")
        }
    }

    /// A rule as shown: the password only as whether one is sealed.
    static func record(_ rule: LANForwardRule) -> [(String, String)] {
        [("name", rule.name), ("addresses", rule.addresses.joined(separator: " ")), ("server", rule.server),
         ("port", String(rule.port)), ("encryption", rule.encryption.rawValue), ("user", rule.user ?? ""),
         ("password", rule.passwordSecret == nil ? "" : "(sealed)"), ("rewrite", rule.rewrite ?? "")]
    }
}
