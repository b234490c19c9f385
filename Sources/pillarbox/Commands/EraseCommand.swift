import ArgumentParser
import Commands
import Delivery
import EventLog
import Facts
import Foundation
import Logging
import Projections

/// `pillarbox erase`: erasure from the append-only log by destroying keys.
struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase mail for good: destroy the keys it is sealed under.",
        subcommands: [User.self, Messages.self])

    struct User: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a user and destroy their key: every message body only they held becomes unreadable, "
                + "by the server too. Bodies other users hold stay readable to them.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The user (also one removed earlier, whose key is still there).") var name: String
        @Option(help: "Why, recorded with the erasure.") var reason: String?
        @Flag(help: "Only say what would be erased.") var dryRun = false

        func run() async throws {
            let (configuration, logger) = try options.global.load()
            let id = name.lowercased()
            let (erasure, sent) = try await withProjectionEngine(configuration, logger: logger) { engine in
                let directory = Directory(engine: engine, vault: SecretVault(keys: configuration.keys, logger: logger),
                                          actor: commandLineActor)
                // The directory as it was, for the addresses that were theirs; the server's copies
                // of the mail they sent go once the erasure itself went through.
                let before = try await DirectorySnapshot.load(from: engine)
                let erasure = try await directory.eraseUser(name, reason: reason, dryRun: dryRun)
                let sent = try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "erase", actor: commandLineActor)) {
                    try await TransitRelease(engine: engine).release(dryRun: dryRun, directory: before) { $0.sender == id }
                }
                if !dryRun { try await EraseCommand.rebuildSealedFieldProjections(engine) }
                return (erasure, sent)
            }
            if !dryRun { await EraseCommand.retireErased(configuration, logger: logger) }
            let output = options.output
            if output.json {
                print(try EraseCommand.json(erasure, sent: sent))
                return
            }
            let verb = dryRun ? "would erase" : "erased"
            output.print(record: [
                ("user", erasure.user + (erasure.existed ? "" : " (removed earlier)")),
                ("messages in folders", "\(erasure.messages) (\(erasure.bytes) bytes)"),
                ("bodies \(verb)", "\(erasure.erasedBodies)"),
                ("bodies others still hold", "\(erasure.sharedBodies)"),
                ("key destroyed", dryRun ? "no (dry run)" : erasure.keyID.map { $0.uuidString.lowercased() } ?? "none"),
            ] + EraseCommand.record(sent, dryRun: dryRun))
        }
    }

    struct Messages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase the messages that came into their folders before a date: expunged, and each owner's key to "
                + "their bodies destroyed, so a body no one else holds becomes unreadable. The server lets go of its copies of "
                + "mail sent out before the date as well (the folder `Outqueue`). `mail.retention` does the same each day.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "Messages saved in their folder before this date (YYYY-MM-DD, UTC) or ISO 8601 time.") var before: String
        @Option(help: "Only this user's (repeat for more); everyone's by default.") var user: [String] = []
        @Option(help: "Only this folder's (`Outqueue`: only the server's copies of mail sent out).") var folder: String?
        @Flag(help: "Only say what would be erased.") var dryRun = false

        func run() async throws {
            guard let cutoff = (try? Date(before, strategy: .iso8601)) ?? (try? Date(before + "T00:00:00Z", strategy: .iso8601)) else {
                throw CommandFailure("--before: \(before) is neither a date nor a time")
            }
            let (configuration, logger) = try options.global.load()
            let folder = self.folder
            let senders = Set(user.map { $0.lowercased() })
            let (erasure, sent) = try await withProjectionEngine(configuration, logger: logger) { engine in
                try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "erase", actor: commandLineActor)) {
                    let erasure = try await MailStore(engine: engine).eraseMessages(users: user.isEmpty ? nil : user,
                                                                                    dryRun: dryRun) { _, name in
                        folder == nil || folder == name ? cutoff : nil
                    }
                    // The server's copies of mail sent out before the date (by these users).
                    var sent = TransitRelease.Outcome()
                    if folder == nil || folder == TransitRelease.folderName {
                        sent = try await TransitRelease(engine: engine).release(dryRun: dryRun) { message in
                            message.finished.map { $0 < cutoff } == true
                                && (senders.isEmpty || message.sender.map(senders.contains) == true)
                        }
                    }
                    if !dryRun && (erasure.messages > 0 || sent.bodies > 0) {
                        try await EraseCommand.rebuildSealedFieldProjections(engine)
                    }
                    return (erasure, sent)
                }
            }
            if !dryRun && (erasure.messages > 0 || sent.bodies > 0) { await EraseCommand.retireErased(configuration, logger: logger) }
            let output = options.output
            if output.json {
                print(try EraseCommand.json(erasure, sent: sent))
                return
            }
            output.print(record: [
                ("users", "\(erasure.users)"),
                (dryRun ? "messages that would be erased" : "messages erased", "\(erasure.messages) (\(erasure.bytes) bytes)"),
                ("bodies no longer held by their owner", "\(erasure.bodies)"),
            ] + EraseCommand.record(sent, dryRun: dryRun))
        }
    }

    /// An erasure's JSON with what it let go of among the server's copies of sent mail (`sent`).
    static func json(_ erasure: some Encodable, sent: TransitRelease.Outcome) throws -> String {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(erasure)) as? [String: Any] ?? [:]
        object["sent"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(sent))
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    static func record(_ sent: TransitRelease.Outcome, dryRun: Bool) -> [(String, String)] {
        [
            ("sent mail " + (dryRun ? "the server would let go of" : "the server let go of"),
             "\(sent.messages) messages, \(sent.bodies) bodies (\(sent.unreadable) unreadable now)"),
            ("sent mail kept (still in use)", "\(sent.kept) bodies"),
        ]
    }

    /// The projections that keep fields sealed in the log (subjects, message summaries).
    static let sealedFieldProjections = ["mailbox", "msgaudit", "logdb", "outqueue", "lists", "autoresponder"]

    /// After keys were destroyed: the projections that keep sealed fields are rebuilt from the
    /// log, which no longer opens the erased ones, and swapped in (the old tables, with those
    /// fields in clear, are dropped).
    static func rebuildSealedFieldProjections(_ engine: ProjectionEngine) async throws {
        for projection in try engine.projections(named: sealedFieldProjections) {
            _ = try await engine.rebuild(projection)
        }
    }

    /// Then, as the database's owner, the destroyed key's row and the write-ahead log that
    /// still held the erased rows are cleared out (KeyStore.retireErased).
    static func retireErased(_ configuration: BootstrapConfiguration, logger: Logger) async {
        let database: Database
        do {
            database = try await Database.open(configuration, logger: logger)
        } catch {
            logger.warning("could not open the database to clear what the erasure left behind",
                           metadata: ["error": "\(String(reflecting: error))"])
            return
        }
        do {
            try await (database.owner ?? database.endpoint).withConnection(applicationName: "pillarbox-erase", logger: logger) {
                await KeyStore.retireErased(on: $0, logger: logger)
            }
        } catch {
            logger.warning("could not reach the database as its owner to clear what the erasure left behind",
                           metadata: ["error": "\(String(reflecting: error))"])
        }
        await database.close(logger: logger)
    }
}
