import EventLog
import Facts
import Foundation
import Metrics
import Logging
import MailCore
import Projections
import Routing
import SMTPWire

/// The facts an SMTP session leaves: each accepted message as one append holding
/// `MessageAccepted` and its body (group-committed, or from its spool file), and at the
/// session's end `SessionEnded` with the transactions it refused. The local delivery agent and
/// the queue follow these facts from the log.
final class SMTPAcceptance: Sendable {
    let store: EventStore
    let scoring: SMTPIntrusionScoring
    let logger: Logger
    let clock: @Sendable () -> Date

    init(store: EventStore, scoring: SMTPIntrusionScoring, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.scoring = scoring
        self.logger = logger
        self.clock = clock
    }

    /// The decoded Subject, for the queue and the logs (the header section only is parsed).
    static func subject(of message: [UInt8]) -> String? {
        // The header parser stops at the empty line that ends the header.
        let limits = MIMELimits()
        return MessageHeader.parse(message, maxBytes: limits.maxHeaderBytes, maxFields: limits.maxHeaderFields)
            .first("Subject").map(EncodedWord.decode)
    }

    /// The session's record, the transactions it refused and the IDS events still collected,
    /// in one append.
    func sessionEnded(_ summary: SessionEnded, rejected: [MessageRejected], notes: [SMTPIDSNote],
                             session: SMTPSessionContext) async {
        do {
            var appends = [StreamAppend(stream: try StreamName(category: SessionEnded.category, id: summary.sessionID),
                                        expectedVersion: .noStream, events: [try EventData(summary)])]
            for message in rejected {
                appends.append(StreamAppend(stream: try StreamName(category: MessageRejected.category, id: message.messageID),
                                            expectedVersion: .noStream, events: [try EventData(message)]))
            }
            if !notes.isEmpty { appends.append(try scoring.append(notes, session: session)) }
            try await store.append(appends)
        } catch {
            logger.error("recording the session's end failed", metadata: ["session": "\(session.id)", "error": "\(error)"])
        }
    }

    /// A user's forwarding (VPOP3's `Forward To` with `Use Forwarding`): the message goes to
    /// the address instead of the mailbox, once (a forward to a user who forwards too is not
    /// followed), keeping the message as it is; a remote address gets an SRS envelope sender,
    /// so SPF at the destination checks our domain. Nil when the user does not forward.
    func forwarding(of user: String, address: String, reversePath: String, router: Router, notify: [String],
                    originalRecipient: String?) -> MessageAccepted.Recipient? {
        guard let record = router.snapshot.users[user], record.useForwarding else { return nil }
        let target = record.forwardTo.trimmingCharacters(in: .whitespaces)
        guard !target.isEmpty else { return nil }
        let original = originalRecipient ?? "rfc822;" + address
        guard let at = target.lastIndex(of: "@") else {
            // A bare name is a local user.
            guard router.snapshot.users[target.lowercased()] != nil else {
                logger.warning("a user's forwarding names no user; the message stays in their mailbox",
                               metadata: ["user": "\(user)", "forward_to": "\(target)"])
                return nil
            }
            return .init(address: target, route: .local, user: target.lowercased(), notify: notify, originalRecipient: original)
        }
        guard let recipient = onward(target, at: at, reversePath: reversePath, router: router, notify: notify, originalRecipient: original) else {
            logger.warning("a user's forwarding address goes nowhere; the message stays in their mailbox",
                           metadata: ["user": "\(user)", "forward_to": "\(target)"])
            return nil
        }
        return recipient
    }

    /// Where an address a message is passed on to goes: a local user's mailbox, the queue
    /// (with an SRS envelope sender) or a LAN server; nil when nowhere.
    func onward(_ target: String, at: String.Index, reversePath: String, router: Router, notify: [String],
                originalRecipient: String) -> MessageAccepted.Recipient? {
        switch router.route(localPart: String(target[..<at]), domain: String(target[target.index(after: at)...]),
                            from: RouteSender(user: nil, inRelayNetworks: true)) {
        case .local(let other):
            return .init(address: target, route: .local, user: other, notify: notify, originalRecipient: originalRecipient)
        case .remote:
            let sender = router.senderRewriting.map { $0.forward(reversePath, day: SenderRewriting.day(clock())) } ?? reversePath
            return .init(address: target, route: .remote, notify: notify, originalRecipient: originalRecipient,
                         envelopeSender: sender == reversePath ? nil : sender)
        case .lan(let lan, let to):
            return .init(address: to, route: .lan, notify: notify, originalRecipient: originalRecipient, lan: lan)
        default:
            return nil
        }
    }

    /// A user's assistants (VPOP3's `Assistant`, `;`-separated, and `Send Only To Assistant`):
    /// each gets a copy, or, redirected, only they do. Mail from one of the user's assistants
    /// (logged in as them, or sent from their address) goes to the user alone; an assistant's
    /// own assistants and forwarding are not followed. An assistant is a local user's name or
    /// an address (another domain's gets an SRS sender, as a forward). Nil when the user has
    /// no assistant that goes anywhere.
    func assistants(of user: String, address: String, reversePath: String, authUser: String?, router: Router, notify: [String],
                    originalRecipient: String?) -> [MessageAccepted.Recipient]? {
        guard let record = router.snapshot.users[user], !record.assistants.isEmpty else { return nil }
        let sender = authUser?.lowercased() ?? router.localUser(reversePath)
        let names = record.assistants.flatMap { $0.split(separator: ";") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let assistantUsers = Set(names.compactMap { $0.contains("@") ? router.localUser($0) : $0.lowercased() })
        if let sender, assistantUsers.contains(sender) { return nil }
        let original = originalRecipient ?? "rfc822;" + address
        var copies: [MessageAccepted.Recipient] = []
        var seen: Set<String> = [user]
        for name in names {
            guard let at = name.lastIndex(of: "@") else {
                let assistant = name.lowercased()
                guard router.snapshot.users[assistant] != nil, seen.insert(assistant).inserted else { continue }
                copies.append(.init(address: name, route: .local, user: assistant, notify: notify, originalRecipient: original))
                continue
            }
            guard let copy = onward(name, at: at, reversePath: reversePath, router: router, notify: notify, originalRecipient: original),
                  seen.insert(copy.user ?? copy.address.lowercased()).inserted else { continue }
            copies.append(copy)
        }
        guard !copies.isEmpty else { return nil }
        if record.sendOnlyToAssistant { return copies }
        return [.init(address: address, route: .local, user: user, notify: notify, originalRecipient: originalRecipient)] + copies
    }

    /// Makes the message durable: `MessageAccepted` with every recipient's route (lists
    /// expanded; a members-only list's remote members withheld unless the sender may relay),
    /// its body, and the session's collected IDS events, committed together.
    func accept(_ message: SMTPMessage, router: Router, mayRelay: Bool, notes: [SMTPIDSNote],
                session: SMTPSessionContext, receiptFields: [String] = []) async throws {
        var recipients: [MessageAccepted.Recipient] = []
        var loops: [RefusedRecipient] = []
        var parsed: MessageHeader?
        func header() -> MessageHeader {
            if let parsed { return parsed }
            let header = MessageHeader.parse(Array(message.head.prefix(64 * 1_024)))
            parsed = header
            return header
        }
        for recipient in message.recipients {
            let notify = recipient.parameters.notify.map(\.rawValue)
            let address = recipient.path.description
            switch recipient.decision {
            case .list(let name) where router.snapshot.lists[name]?.kind == .mailing:
                // The list agent distributes it from the log, with the list's headers.
                recipients.append(.init(address: address, route: .list, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient, list: name))
            case .listServer:
                recipients.append(.init(address: address, route: .listServer, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .mailCommands:
                recipients.append(.init(address: address, route: .mailCommands, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .list(let name):
                if router.hasLooped(list: name, xLoop: header().all("x-loop")) {
                    // Sent to a member that passed it back: expanding it again would go round for ever.
                    loops.append(RefusedRecipient(address: address, reason: .loop, reply: "554 5.4.6"))
                    logger.warning("a distribution list's message came back to the list; not expanded again", metadata: [
                        "list": "\(name)", "message": "\(message.messageID)",
                    ])
                    continue
                }
                let expanded = router.expand(list: name, address: address, notify: notify,
                                             originalRecipient: recipient.parameters.originalRecipient,
                                             remoteAllowed: router.snapshot.lists[name]?.isPublic == true || mayRelay)
                recipients += expanded.recipients
                for member in expanded.withheld {
                    logger.info("not sending a members-only list's message to its remote member", metadata: [
                        "list": "\(name)", "member": "\(member)",
                    ])
                }
            case .local(let user):
                let original = recipient.parameters.originalRecipient
                let reversePath = message.reversePath?.description ?? ""
                if let forward = forwarding(of: user, address: address, reversePath: reversePath,
                                            router: router, notify: notify, originalRecipient: original) {
                    recipients.append(forward)
                } else if let assisted = assistants(of: user, address: address, reversePath: reversePath,
                                                    authUser: session.authenticatedUser?.name, router: router, notify: notify,
                                                    originalRecipient: original) {
                    recipients += assisted
                } else {
                    recipients.append(.init(address: address, route: .local, user: user, notify: notify, originalRecipient: original))
                }
            case .senderReturn(let to):
                // Back to the sender of a message we forwarded: nothing of ours is added.
                recipients.append(.init(address: to, route: .remote, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient ?? "rfc822;" + address))
            case .remote:
                recipients.append(.init(address: address, route: .remote, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .lan(let target, let to):
                let original = recipient.parameters.originalRecipient ?? (to == address ? nil : "rfc822;" + address)
                recipients.append(.init(address: to, route: .lan, notify: notify, originalRecipient: original, lan: target))
            case .discard:
                recipients.append(.init(address: address, route: .discarded, notify: notify,
                                        originalRecipient: recipient.parameters.originalRecipient))
            case .unknownLocal, .relayDenied, .internetMailNotAllowed:
                continue
            }
        }
        var accepted = MessageAccepted(
            messageID: message.messageID, sessionID: session.id, service: session.service.rawValue,
            clientIP: session.clientIP, helo: session.helo ?? "", tls: session.tls, authUser: session.authenticatedUser?.name,
            reversePath: message.reversePath?.description ?? "", recipients: recipients,
            body: message.parameters.body?.rawValue, smtpUTF8: message.parameters.smtpUTF8, ret: message.parameters.ret?.rawValue,
            envelopeID: message.parameters.envelopeID, mailAuth: message.parameters.auth, size: Int64(message.size),
            blob: message.blob, returnPathLength: message.returnPathLength, subject: Self.subject(of: message.head),
            refused: loops.isEmpty ? message.refused : (message.refused ?? []) + loops, processingTime: max(0, clock().timeIntervalSince(message.bodyStarted)),
            priority: session.authenticatedUser?.sendPriority, spf: message.spf?.result,
            dkim: message.dkim, dmarc: message.dmarc, junk: message.junk ? true : nil, arc: message.arc)
        if !receiptFields.isEmpty, recipients.contains(where: { $0.route == .remote || $0.route == .lan }) {
            if receiptFields.contains(where: { header().first($0) != nil }) { accepted.receiptRequested = true }
        }
        let stream = try StreamName(category: MessageAccepted.category, id: message.messageID)
        switch message.body {
        case .memory(let bytes):
            // Group-committed with other sessions' messages; returns once durable. The local
            // delivery agent moves local copies into mailboxes from the log.
            var appends = [StreamAppend(stream: stream, expectedVersion: .noStream,
                                        events: [try EventData(accepted, blobs: [BlobData(bytes, holders: accepted.holders)])])]
            if !notes.isEmpty { appends.append(try scoring.append(notes, session: session)) }
            try await store.append(appends)
        case .spooled(let path):
            // A large body goes in from its spool file piece by piece, in the transaction that
            // appends the event referring to it.
            defer { try? FileManager.default.removeItem(atPath: path) }
            try store.learnDataKey(ofFile: path, id: message.blob)
            var appends = [StreamAppend(stream: stream, expectedVersion: .noStream, events: [try EventData(accepted)])]
            if !notes.isEmpty { appends.append(try scoring.append(notes, session: session)) }
            try await store.append(appends, storingBlob: message.blob, size: Int64(message.size), fromFile: path,
                                   holders: accepted.holders)
        }
        Counter(label: "pillarbox_messages_accepted_total", dimensions: [("service", session.service.rawValue)]).increment()
    }
}
