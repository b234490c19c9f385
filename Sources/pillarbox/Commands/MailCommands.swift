import ArgumentParser
import EventLog
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

    struct Queue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List messages waiting for remote delivery.")
        @OptionGroup var options: DirectoryOptions

        func run() async throws {
            let (configuration, logger) = try options.global.load()
            let rows = try await withProjectionEngine(configuration, logger: logger) { engine in
                var rows: [[String]] = []
                let query = try await engine.store.client.query("""
                    SELECT m.msgid, m.returnpath, r.address, m.size, m.created::text
                    FROM outqueue.outmessages m JOIN outqueue.outrecipients r USING (msgid)
                    WHERE m.finishedtime IS NULL ORDER BY m.created, m.msgid, r.rcptid
                    """, logger: logger)
                for try await (id, from, to, size, created) in query.decode((String, String, String, Int64, String).self) {
                    rows.append([id, from, to, String(size), created])
                }
                return rows
            }
            options.output.print(columns: ["msgid", "from", "to", "size", "created"], rows: rows)
        }
    }
}
