import ArgumentParser
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
        subcommands: [List.self, Show.self, Queue.self])

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

    /// What an action on a queued message appends, given the message as its stream tells it.
    protocol QueueVerb {
        static var name: String { get }
        static var abstract: String { get }
        static func event(for message: OutboundMessage, by: String) throws -> EventData
    }

    enum Hold: QueueVerb {
        static let name = "hold"
        static let abstract = "Stop a message from being sent until it is released."
        static func event(for message: OutboundMessage, by: String) throws -> EventData {
            guard !message.held else { throw CommandFailure("\(message.accepted.messageID) is already held") }
            return try EventData(QueueHeld(messageID: message.accepted.messageID, by: by))
        }
    }

    enum Release: QueueVerb {
        static let name = "release"
        static let abstract = "Let a held message be sent again."
        static func event(for message: OutboundMessage, by: String) throws -> EventData {
            guard message.held else { throw CommandFailure("\(message.accepted.messageID) is not held") }
            return try EventData(QueueReleased(messageID: message.accepted.messageID, by: by))
        }
    }

    enum Delete: QueueVerb {
        static let name = "delete"
        static let abstract = "Remove a message's unsent recipients from the queue, telling no one."
        static func event(for message: OutboundMessage, by: String) throws -> EventData {
            try EventData(QueueDeleted(messageID: message.accepted.messageID, recipients: message.unfinished.map(\.rcptid), by: by))
        }
    }

    enum Retry: QueueVerb {
        static let name = "retry"
        static let abstract = "Try a message's waiting recipients now."
        static func event(for message: OutboundMessage, by: String) throws -> EventData {
            try EventData(RetryRequested(messageID: message.accepted.messageID, by: by))
        }
    }

    enum Bounce: QueueVerb {
        static let name = "bounce"
        static let abstract = "Fail a message's unsent recipients now and return it to its sender."
        static func event(for message: OutboundMessage, by: String) throws -> EventData {
            try EventData(BounceRequested(messageID: message.accepted.messageID, by: by))
        }
    }

    struct QueueAction<Verb: QueueVerb>: AsyncParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: Verb.name, abstract: Verb.abstract)
        }
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The message's id (msgid in the queue list).") var messageID: String

        func run() async throws {
            try await Queue.act(on: messageID, options: options) { try Verb.event(for: $0, by: "cli") }
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
            let priority = self.priority
            try await Queue.act(on: messageID, options: options) { message in
                try EventData(PriorityChanged(messageID: message.accepted.messageID, priority: priority, by: "cli"))
            }
            print("priority \(priority): \(messageID)")
        }
    }
}

extension MailCommand.Queue {
    /// Appends what `event` makes of the message, checked against its stream as read.
    static func act(on id: String, options: DirectoryOptions,
                    _ event: @escaping @Sendable (OutboundMessage) throws -> EventData) async throws {
        let (configuration, logger) = try options.global.load()
        try await withEventStore(configuration, logger: logger) { store in
            let stream = try DeliveryFacts.stream(id)
            // An action checked against the stream as read, appended only if nothing was
            // appended since (the scheduler may be recording an attempt at this moment).
            for _ in 0..<5 {
                guard let (message, _) = try await OutboundMessage.load(id, from: store, logger: logger) else {
                    throw CommandFailure("no queued message \(id)")
                }
                guard !message.isFinished else { throw CommandFailure("\(id) has no recipient left to send to") }
                let appended = try event(message)
                do {
                    try await store.append([appended], to: stream, expectedVersion: .exactly(message.version))
                    return
                } catch is WrongExpectedVersion {
                    continue
                }
            }
            throw CommandFailure("\(id) kept changing; try again")
        }
    }
}
