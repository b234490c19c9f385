import EventLog
import Commands
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle

/// How the mail command agent reaches the login IPS, which lives with the gateways: whether a
/// client address is blocked, and a failed login to count (and record).
public struct LoginChecks: Sendable {
    public let isBlocked: @Sendable (_ clientIP: String) -> Bool
    public let failed: @Sendable (_ user: String, _ reason: String, _ sessionID: String, _ clientIP: String) async -> Void

    public init(isBlocked: @escaping @Sendable (String) -> Bool,
                failed: @escaping @Sendable (String, String, String, String) async -> Void) {
        self.isBlocked = isBlocked
        self.failed = failed
    }
}

/// Mail commands (VPOP3's "controlling VPOP3 by email"): a consumer of `message_accepted` for
/// messages to `mailer_daemon@`. A user changes their forwarding, assistants or password, or
/// asks what they are, proving who they are by `USERNAME`/`PASSWORD` lines or by having sent
/// the message with SMTP AUTH; a wrong password counts in the login IPS. The change (the
/// directory's own facts), the answer to the sender, the notice to the user when the sender is
/// someone else, `mail_command_answered` and the consumer's checkpoint commit together.
public struct MailCommandAgent: ConsumerAgent {
    public static let consumerName = "mail-commands"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, vault: SecretVault, logins: LoginChecks, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let commands = MailCommands(engine: engine, vault: vault, logins: logins, logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [MessageAccepted.category], store: engine.store,
                               registry: EventTypeRegistry([MessageAccepted.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { batch, connection in
            try await commands.handle(batch, on: connection)
        }
    }
}

struct MailCommands: Sendable {
    let engine: ProjectionEngine
    let vault: SecretVault
    let logins: LoginChecks
    let logger: Logger

    /// What came of one message.
    struct Outcome {
        var user: String?
        var done = false
        var lines: [String] = []
        /// For the user's notice, when the sender is someone else.
        var changed: String?
    }

    func handle(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        var transaction: ProjectionTransaction?
        for item in batch.items {
            guard let accepted = item.event as? MessageAccepted, accepted.recipients.contains(where: { $0.route == .mailCommands })
            else { continue }
            guard let stored = try await engine.store.blobs([accepted.blob], on: connection)[accepted.blob] else {
                logger.error("a mail command's body is missing", metadata: ["message": "\(accepted.messageID)"])
                continue
            }
            if transaction == nil { transaction = try await engine.transaction(joining: connection) }
            try await answer(stored, accepted: accepted, at: item.recorded.recordedAt, transaction: transaction!)
        }
    }

    func answer(_ stored: [UInt8], accepted: MessageAccepted, at now: Date, transaction: ProjectionTransaction) async throws {
        let message = ListPost.withoutReturnPath(stored)
        let header = MessageHeader.parse(message)
        let sender = accepted.reversePath
        let subject = MIMEParser.summarise(Array(message.prefix(header.size))).subjectText ?? ""
        // The commands as written: a MIME message's first plain-text part, decoded.
        let request = MailCommandRequest.read(subject: subject, body: MessageText.plain(message, limit: 16 * 1024))
        let command = request.command?.rawValue ?? "(none)"
        let stream = try MailCommandAnswered.stream(messageID: accepted.messageID)

        if let automatic = Answering.automatic(header, sender: sender) {
            // A bounce or an autoresponder quoting a command must neither act nor be answered.
            try await transaction.append([PendingEvent(MailCommandAnswered(
                messageID: accepted.messageID, sender: sender, command: command, user: nil, outcome: "not answered",
                detail: automatic, replyID: nil, noticeID: nil))], to: stream, expectedVersion: .noStream)
            return
        }
        let snapshot = try await DirectorySnapshot.load(on: transaction.connection, logger: logger)
        let settings = try await Settings(engine: engine).snapshot(on: transaction.connection)
        let domain = snapshot.mailDomain ?? "localhost"
        var router = Router(snapshot: snapshot)
        router.defaultMappings = !settings.value(SettingKey<Bool>.disableDefaultMappings)

        var outcome = Outcome()
        if !request.problems.isEmpty {
            outcome.lines = ["Nothing was changed:"] + request.problems.map { "  - \($0)" }
        } else if let refusal = await authenticate(request, accepted: accepted, snapshot: snapshot, outcome: &outcome) {
            outcome.lines = ["Nothing was changed: \(refusal)"]
        } else if let user = outcome.user {
            do {
                try await carryOut(request, for: user, snapshot: snapshot, settings: settings, transaction: transaction,
                                   outcome: &outcome)
            } catch let error as DirectoryError {
                outcome.done = false
                outcome.changed = nil
                outcome.lines = ["Nothing was changed: \(error)"]
            }
        }

        // The answer, to the sender; the notice, to the user when the sender is not them.
        var appends: [PendingAppend] = []
        let administrator = "\(MailCommandAddress.localPart)@\(domain)"
        let originalID = header.first("Message-ID")?.trimmingCharacters(in: .whitespaces)
        var replyID: String?
        if !sender.isEmpty, let route = Answering.recipient(sender, router: router) {
            let id = ReportMail.randomID()
            replyID = id
            let text = ["Your message to \(administrator) (\(command)):", ""] + outcome.lines
            let notice = NoticeMail(from: "<\(administrator)>", to: [sender], subject: "\(command): \(outcome.done ? "done" : "refused")",
                                    date: now, messageID: "\(id)@\(domain)",
                                    inReplyTo: originalID.flatMap { $0.hasPrefix("<") && $0.count < 900 ? $0 : nil },
                                    text: text.joined(separator: "\n") + "\n")
            appends.append(try Answering.accepted(notice.bytes(), id: id, from: "", to: [route], helo: domain,
                                                  subject: "mail command", service: "mailcommands"))
        }
        var noticeID: String?
        if let user = outcome.user, let changed = outcome.changed, router.localUser(sender) != user {
            let id = ReportMail.randomID()
            noticeID = id
            let notice = NoticeMail(from: "<\(administrator)>", to: ["\(user)@\(domain)"], subject: "Your account was changed by mail",
                                    date: now, messageID: "\(id)@\(domain)", autoSubmitted: "auto-generated",
                                    text: "A message from \(sender.isEmpty ? "<>" : sender) to \(administrator) changed your account:\n\n"
                                        + changed + "\n\nIf you did not ask for this, change your password and tell your administrator.\n")
            appends.append(try Answering.accepted(notice.bytes(), id: id, from: "", to: [.init(address: "\(user)@\(domain)", route: .local, user: user)],
                                                  helo: domain, subject: "mail command notice", service: "mailcommands"))
        }
        appends.append(PendingAppend(stream: stream, expectedVersion: .noStream, events: [PendingEvent(MailCommandAnswered(
            messageID: accepted.messageID, sender: sender, command: command, user: outcome.user, outcome: outcome.done ? "done" : "refused",
            detail: outcome.lines.joined(separator: " ").trimmingCharacters(in: .whitespaces), replyID: replyID, noticeID: noticeID))]))
        try await transaction.append(appends)
        logger.info("mail command answered", metadata: ["command": "\(command)", "user": "\(outcome.user ?? "-")",
                                                         "outcome": "\(outcome.done ? "done" : "refused")"])
    }

    /// Who the command is for, proven by password or SMTP AUTH; the refusal, or nil with
    /// `outcome.user` set.
    func authenticate(_ request: MailCommandRequest, accepted: MessageAccepted, snapshot: DirectorySnapshot,
                      outcome: inout Outcome) async -> String? {
        let authUser = accepted.authUser?.lowercased()
        guard let name = request.username?.lowercased() ?? authUser else {
            return "no USERNAME line, and the message was not sent with SMTP AUTH"
        }
        guard let password = request.password else {
            guard name == authUser else { return "no PASSWORD line for \(name) (a message sent with SMTP AUTH as the user needs none)" }
            guard snapshot.users[name] != nil else { return "no such user" }
            outcome.user = name
            return nil
        }
        if !accepted.clientIP.isEmpty, logins.isBlocked(accepted.clientIP) {
            return "the sending address is blocked after failed logins"
        }
        guard let user = snapshot.users[name], !user.lockedOut, let credentials = user.credentials,
              credentials.verify(password: password) else {
            await logins.failed(name, "mail command: wrong user name or password", accepted.sessionID, accepted.clientIP)
            return "the user name or password is wrong"
        }
        outcome.user = name
        return nil
    }

    func carryOut(_ request: MailCommandRequest, for name: String, snapshot: DirectorySnapshot, settings: SettingsSnapshot,
                  transaction: ProjectionTransaction, outcome: inout Outcome) async throws {
        guard let command = request.command, let user = snapshot.users[name] else { return }
        let directory = Directory(engine: engine, passwordCost: .init(scryptLogN: settings.value(SettingKey<Int>.scryptCost)), vault: vault,
                                  actor: "mailcommand:\(name)")
        func forwarding(_ record: UserRecord) -> String {
            record.useForwarding && !record.forwardTo.isEmpty ? "Forwarding is on, to \(record.forwardTo)."
                : record.forwardTo.isEmpty ? "Forwarding is off." : "Forwarding is off (the address kept is \(record.forwardTo))."
        }
        func assistants(_ record: UserRecord) -> String {
            record.assistants.isEmpty ? "No assistants."
                : "Assistants: \(record.assistants.joined(separator: "; ")); "
                + (record.sendOnlyToAssistant ? "mail goes only to them." : "they get a copy.")
        }
        switch command {
        case .queryForwarding:
            outcome.lines = [forwarding(user)]
        case .queryAssistant:
            outcome.lines = [assistants(user)]
        case .setForwarding:
            guard let change = request.forwarding else { return }
            var updated = user
            switch change {
            case .to(let address):
                guard address.contains("@") || snapshot.users[address.lowercased()] != nil else {
                    throw DirectoryError.invalid("forward_to", "\(address) is neither an address nor a user here")
                }
                updated.forwardTo = address
                updated.useForwarding = true
            case .off:
                updated.useForwarding = false
            case .on:
                guard !user.forwardTo.isEmpty else { throw DirectoryError.invalid("forward_to", "no forwarding address is kept; use FORWARD TO") }
                updated.useForwarding = true
            }
            let result = updated
            try await directory.updateUser(name, in: transaction) { $0.forwardTo = result.forwardTo; $0.useForwarding = result.useForwarding }
            outcome.lines = [forwarding(result)]
            outcome.changed = forwarding(result)
        case .setAssistant:
            var updated = user
            if let list = request.assistants { updated.assistants = list }
            if let redirect = request.redirect { updated.sendOnlyToAssistant = redirect }
            let result = updated
            try await directory.updateUser(name, in: transaction) {
                $0.assistants = result.assistants
                $0.sendOnlyToAssistant = result.sendOnlyToAssistant
            }
            outcome.lines = [assistants(result)]
            outcome.changed = assistants(result)
        case .password:
            guard let password = request.newPassword else { return }
            try await directory.setPassword(name, password: password, in: transaction)
            outcome.lines = ["The password was changed."]
            outcome.changed = "The password was changed."
        }
        outcome.done = true
    }
}
