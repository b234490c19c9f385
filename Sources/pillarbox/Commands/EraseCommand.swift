import ArgumentParser
import Commands
import Foundation

/// `pillarbox erase`: erasure from the append-only log by destroying keys.
struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase mail for good: destroy the keys it is sealed under.",
        subcommands: [User.self])

    struct User: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a user and destroy their key: every message body only they held becomes unreadable, "
                + "by the server too. Bodies other users hold stay readable to them.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The user (also one removed earlier, whose key is still there).") var name: String
        @Option(help: "Why, recorded with the erasure.") var reason: String?
        @Flag(help: "Only say what would be erased.") var dryRun = false

        func run() async throws {
            let erasure = try await options.withDirectory { try await $0.eraseUser(name, reason: reason, dryRun: dryRun) }
            let output = options.output
            if output.json {
                let data = try JSONEncoder().encode(erasure)
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let verb = dryRun ? "would erase" : "erased"
            output.print(record: [
                ("user", erasure.user + (erasure.existed ? "" : " (removed earlier)")),
                ("messages in folders", "\(erasure.messages) (\(erasure.bytes) bytes)"),
                ("bodies \(verb)", "\(erasure.erasedBodies)"),
                ("bodies others still hold", "\(erasure.sharedBodies)"),
                ("key destroyed", dryRun ? "no (dry run)" : erasure.keyID.map { $0.uuidString.lowercased() } ?? "none"),
            ])
        }
    }
}
