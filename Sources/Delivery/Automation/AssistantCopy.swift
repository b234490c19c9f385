import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Projections
import Routing

/// VPOP3's one-shot "copy what is already in the inbox to the assistants": every message in
/// the user's INBOX now is sent again to each of their assistants, as a new accepted message
/// (service `assistant-copy`) with the user's address as its envelope sender, all in one
/// transaction. Local assistants get it in their INBOX; others through the queue.
public enum AssistantCopy {
    public struct Result: Sendable {
        public var messages: Int
        public var assistants: [String]
    }

    public static func copyInbox(of name: String, engine: ProjectionEngine, logger: Logger) async throws -> Result {
        let snapshot = try await DirectorySnapshot.load(from: engine)
        let user = name.lowercased()
        guard let record = snapshot.users[user] else { throw DirectoryError.notFound("user", name) }
        var router = Router(snapshot: snapshot)
        router.defaultMappings = true
        let domain = snapshot.mailDomain ?? "localhost"
        let names = record.assistants.flatMap { $0.split(separator: ";") }.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var recipients: [MessageAccepted.Recipient] = []
        for assistant in names {
            let address = assistant.contains("@") ? assistant : "\(assistant)@\(domain)"
            guard let recipient = Answering.recipient(address, router: router), recipient.user != user,
                  !recipients.contains(where: { $0.address.lowercased() == recipient.address.lowercased() }) else { continue }
            recipients.append(recipient)
        }
        guard !recipients.isEmpty else {
            throw DirectoryError.invalid("assistants", "\(name) has no assistant that mail can go to")
        }
        let reader = MailReader(engine: engine)
        guard let inbox = try await reader.mailbox(user, named: "INBOX") else { return Result(messages: 0, assistants: recipients.map(\.address)) }
        let messages = try await reader.messages(user, mailboxID: inbox.id)
        let sender = "\(user)@\(domain)"
        var appends: [PendingAppend] = []
        for message in messages {
            guard let stored = try await engine.store.blob(message.blob) else { continue }
            let bytes = ListPost.withoutReturnPath(stored)
            let subject = MIMEParser.summarise(Array(bytes.prefix(MessageHeader.parse(bytes).size))).subjectText ?? ""
            appends.append(try Answering.accepted(bytes, id: ReportMail.randomID(), from: sender, to: recipients, helo: domain,
                                                  subject: subject, service: "assistant-copy"))
        }
        if !appends.isEmpty {
            _ = try await engine.transaction { try await $0.append(appends) }
        }
        logger.info("copied the inbox to the assistants", metadata: ["user": "\(user)", "messages": "\(appends.count)"])
        return Result(messages: appends.count, assistants: recipients.map(\.address))
    }
}
