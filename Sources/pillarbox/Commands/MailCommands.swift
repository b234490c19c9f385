import ArgumentParser
import Commands
import Delivery
import EventLog
import Facts
import Foundation
import PostgresNIO
import Projections

/// Looking into mailboxes and the outgoing queue, as an administrator checking a delivery.
struct MailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail", abstract: "Users' folders and messages, and the outgoing queue.",
        subcommands: [List.self, Show.self, Export.self, Queue.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the messages in one of a user's folders.")
        @OptionGroup var options: DirectoryOptions
        @Argument var user: String
        @Option(help: "The folder.") var mailbox = "INBOX"

        func run() async throws {
            let rows = try await options.withDirectory { directory in
                let mail = directory.mail
                guard let folder = try await mail.reader.mailbox(user, named: mailbox) else {
                    throw CommandFailure("\(user) has no folder named \(mailbox)")
                }
                return try await mail.reader.messages(user, mailboxID: folder.id).map { message in
                    [String(message.uid), message.flags.joined(separator: " "),
                     message.internalDate.formatted(.iso8601), String(message.size), message.blob.description]
                }
            }
            options.output.print(columns: ["uid", "flags", "internal_date", "size", "blob"], rows: rows)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one stored message exactly as stored.")
        @OptionGroup var options: DirectoryOptions
        @Argument var user: String
        @Argument var uid: UInt32
        @Option(help: "The folder.") var mailbox = "INBOX"

        func run() async throws {
            let bytes = try await options.withDirectory { directory in
                let mail = directory.mail
                guard let folder = try await mail.reader.mailbox(user, named: mailbox),
                      let message = try await mail.reader.messages(user, mailboxID: folder.id, uids: [uid]).first,
                      let bytes = try await mail.engine.store.blob(message.blob) else {
                    throw CommandFailure("no message \(uid) in \(user)'s \(mailbox)")
                }
                return bytes
            }
            FileHandle.standardOutput.write(Data(bytes))
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write users' folders out as Maildir++: the mail as it is readable now, flags and dates kept, nothing erased.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "A new or empty directory to write into; one directory per user.") var to: String
        @Option(help: "Only this user's (repeat for more); every account by default.") var user: [String] = []

        func run() async throws {
            let target = to, users = user.isEmpty ? nil : user
            let outcome = try await options.withDirectory { directory in
                try await MailExport(reader: directory.mail.reader).export(users: users, to: target)
            }
            if options.output.json {
                print(String(decoding: try JSONEncoder().encode(outcome), as: UTF8.self))
                return
            }
            options.output.print(record: [
                ("users", "\(outcome.users)"), ("folders", "\(outcome.folders)"),
                ("messages", "\(outcome.messages) (\(outcome.bytes) bytes)"),
                ("left out, erased", "\(outcome.unreadable)"),
            ])
        }
    }

    /// The outgoing queue: listing it, and the administrator's actions on a message, each an
    /// event on the message's stream that the delivery scheduler acts on.
    struct Queue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The outgoing queue: list it, or hold, release, delete, retry or bounce a message.",
            subcommands: [QueueList.self, QueueAction<Hold>.self, QueueAction<Release>.self, QueueAction<Delete>.self,
                          QueueAction<Retry>.self, QueueAction<Bounce>.self, QueuePriority.self],
            defaultSubcommand: QueueList.self)
    }

    struct QueueList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List messages waiting for remote delivery: the outqueue and, beside it, the LAN queue.")
        @OptionGroup var options: DirectoryOptions
        @Flag(help: "Include delivered, failed and deleted recipients.") var all = false

        func run() async throws {
            let (configuration, logger) = try options.global.load()
            let everything = all
            let rows = try await withProjectionEngine(configuration, logger: logger) { engine in
                var rows: [[String]] = []
                let query = try await engine.store.client.query("""
                    SELECT m.msgid, r.rcptid, r.queue, CASE WHEN m.held AND r.finished IS NULL THEN 'held' ELSE r.status END,
                           r.returnpath, r.address, m.size, m.created, r.attempts, r.nexttry, coalesce(r.lastreply, '')
                    FROM outqueue.outmessages m JOIN outqueue.outrecipients r USING (msgid)
                    WHERE \(everything) OR r.finished IS NULL ORDER BY m.priority, m.created, m.msgid, r.rcptid
                    """, logger: logger)
                for try await (id, rcptid, queue, state, from, to, size, created, attempts, next, reply)
                    in query.decode((String, Int32, String, String, String, String, Int64, Date, Int64, Date?, String).self) {
                    rows.append([id, String(rcptid), queue, state, from, to, String(size), created.formatted(.iso8601),
                                 String(attempts), next?.formatted(.iso8601) ?? "", reply])
                }
                return rows
            }
            options.output.print(columns: ["msgid", "rcpt", "queue", "state", "from", "to", "size", "created", "attempts", "next_try",
                                           "last_reply"], rows: rows)
        }
    }

    /// A queue action as a command.
    protocol QueueVerb {
        static var name: String { get }
        static var abstract: String { get }
        static var action: Delivery.QueueAction { get }
    }

    enum Hold: QueueVerb {
        static let name = "hold", abstract = "Stop a message from being sent until it is released."
        static let action = Delivery.QueueAction.hold
    }

    enum Release: QueueVerb {
        static let name = "release", abstract = "Let a held message be sent again."
        static let action = Delivery.QueueAction.release
    }

    enum Delete: QueueVerb {
        static let name = "delete", abstract = "Remove a message's unsent recipients from the queue, telling no one."
        static let action = Delivery.QueueAction.delete
    }

    enum Retry: QueueVerb {
        static let name = "retry", abstract = "Try a message's waiting recipients now."
        static let action = Delivery.QueueAction.retry
    }

    enum Bounce: QueueVerb {
        static let name = "bounce", abstract = "Fail a message's unsent recipients now and return it to its sender."
        static let action = Delivery.QueueAction.bounce
    }

    struct QueueAction<Verb: QueueVerb>: AsyncParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: Verb.name, abstract: Verb.abstract)
        }
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The message's id (msgid in the queue list).") var messageID: String

        func run() async throws {
            try await Queue.act(Verb.action, on: messageID, options: options)
            print("\(Verb.name): \(messageID)")
        }
    }

    struct QueuePriority: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "priority", abstract: "Change a message's place in the queue (smaller goes first; mail is 0 unless its user's send priority says otherwise).")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The message's id (msgid in the queue list).") var messageID: String
        @Option(help: "The priority, -1000 to 1000 (a negative one as --priority=-10).") var priority: Int

        func run() async throws {
            guard (-1_000...1_000).contains(priority) else { throw ValidationError("the priority must be -1000...1000") }
            try await Queue.act(.priority(priority), on: messageID, options: options)
            print("priority \(priority): \(messageID)")
        }
    }
}

extension MailCommand.Queue {
    static func act(_ action: Delivery.QueueAction, on id: String, options: DirectoryOptions) async throws {
        let (configuration, logger) = try options.global.load()
        try await withEventStore(configuration, logger: logger) { store in
            do {
                try await action.apply(to: id, by: "cli", store: store, logger: logger)
            } catch let refused as Delivery.QueueAction.Refused {
                throw CommandFailure(refused.description)
            }
        }
    }
}
