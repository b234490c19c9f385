import Commands
import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle

/// The autoresponder agent: a consumer of `message_delivered` (mail that really landed in a
/// mailbox, as VPOP3's autoresponders require) that answers for users with autoresponders.
/// A batch's replies, their `autoresponder_replied` records (and the inline log they update)
/// and the consumer's checkpoint commit together: each delivered message is considered once,
/// across crashes too. Replies follow RFC 3834: sent from `<>` with `Auto-Submitted:
/// auto-replied`, `In-Reply-To` and `References`, never to a bounce, automatic or list mail, a
/// list or mail-system address, or the user's own address; at most once per sender per period.
public struct AutoresponderAgent: ConsumerAgent {
    public static let consumerName = "autoresponder"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, directory: LiveDirectory, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let answering = Answering(engine: engine, directory: directory, logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [MailboxStream.category], store: engine.store,
                               registry: EventTypeRegistry([MessageDelivered.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { batch, connection in
            try await answering.handle(batch, on: connection)
        }
    }
}

/// What the agent does with a batch.
struct Answering: Sendable {
    let engine: ProjectionEngine
    let directory: LiveDirectory
    let logger: Logger

    func handle(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        // From the settings table, not the live copy a moment behind the log.
        var responders: [Autoresponder]?
        var transaction: ProjectionTransaction?
        for item in batch.items {
            guard let delivered = item.event as? MessageDelivered else { continue }
            let user = String(item.recorded.stream.dropFirst(MailboxStream.category.count + 1))
            if responders == nil { responders = try await Settings(engine: engine).snapshot(on: connection).value(SettingKey.autoresponders) }
            let own = responders?.filter { $0.user == user && $0.enabled } ?? []
            guard !own.isEmpty else { continue }
            guard let body = try await engine.store.blobs([delivered.message.blob], on: connection)[delivered.message.blob] else { continue }
            if transaction == nil { transaction = try await engine.transaction(joining: connection) }
            try await answer(body, to: user, with: own, recordedAt: item.recorded.recordedAt, delivered: delivered,
                             transaction: transaction!, connection: connection)
        }
    }

    /// Why mail is a bounce or automatic (RFC 3834 §2: the sender, `Auto-Submitted`,
    /// `Precedence`), or nil.
    static func automatic(_ header: MessageHeader, sender: String) -> String? {
        if sender.isEmpty { return "no sender to answer (a bounce)" }
        if let auto = header.first("Auto-Submitted")?.trimmingCharacters(in: .whitespaces).lowercased(), !auto.hasPrefix("no") {
            return "automatic mail (Auto-Submitted: \(auto))"
        }
        if let precedence = header.first("Precedence")?.trimmingCharacters(in: .whitespaces).lowercased(),
           ["bulk", "list", "junk"].contains(precedence) {
            return "Precedence: \(precedence)"
        }
        return nil
    }

    /// Why mail must get no automatic answer (RFC 3834 §2), or nil.
    static func refusal(_ header: MessageHeader, sender: String) -> String? {
        if let automatic = automatic(header, sender: sender) { return automatic }
        for field in ["List-Id", "List-Unsubscribe", "List-Post", "Mailing-List", "X-Autoreply", "X-Autorespond"] where header.first(field) != nil {
            return "list or automatic mail (\(field))"
        }
        let local = (sender.lastIndex(of: "@").map { String(sender[..<$0]) } ?? sender).lowercased()
        if local == "mailer-daemon" || local == "postmaster" || local == "listserv" || local == "majordomo"
            || local.hasPrefix("owner-") || local.hasSuffix("-request") || local.hasPrefix("bounce") || local.hasSuffix("-bounces") {
            return "a mail system or list address (\(local))"
        }
        return nil
    }

    func answer(_ body: [UInt8], to user: String, with responders: [Autoresponder], recordedAt: Date, delivered: MessageDelivered? = nil,
                transaction: ProjectionTransaction, connection: PostgresConnection) async throws {
        let header = MessageHeader.parse(body)
        let sender = (header.first("Return-Path") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "<> \t"))
        let stream = try AutoresponderReplied.stream(user: user)
        func passOver(_ reason: String) async throws {
            try await transaction.append([PendingEvent(AutoresponderPassedOver(user: user, sender: sender, reason: reason))],
                                         to: stream, expectedVersion: .any)
        }
        if let reason = Self.refusal(header, sender: sender) { return try await passOver(reason) }
        let snapshot = directory.snapshot
        var router = Router(snapshot: snapshot)
        router.defaultMappings = true
        if router.localUser(sender) == user {
            return try await passOver("the user's own address")
        }
        let values: (String) -> [String] = { header.all($0) }
        guard let responder = responders.first(where: { responder in
            responder.isActive(at: recordedAt) && !responder.filters.contains { $0.matches(values) }
                && (responder.triggers.isEmpty || responder.triggers.contains { $0.matches(values) })
        }) else {
            return try await passOver("no autoresponder applies")
        }
        if responder.periodHours > 0,
           let last = try await AutoresponderProjection.lastReply(user: user, sender: sender, on: connection, logger: logger),
           recordedAt.timeIntervalSince(last) < Double(responder.periodHours) * 3_600 {
            return try await passOver("answered at \(last.formatted(.iso8601)), within \(responder.periodHours) hours")
        }

        let domain = snapshot.mailDomain ?? "localhost"
        let address = "\(user)@\(domain)"
        let summary = MIMEParser.summarise(Array(body.prefix(header.size)))
        let subject = summary.subjectText ?? ""
        let fills = ["sender": sender, "subject": subject, "date": header.first("Date") ?? "", "user": user, "address": address]
        var text = ""
        func line(_ value: String = "") { text += value + "\r\n" }
        let replyID = ReportMail.randomID()
        line("From: <\(address)>")
        line("To: <\(sender)>")
        line("Subject: \(Self.encodedWord(DeliveryReport.oneLine(Autoresponder.fill(responder.subject, fills))))")
        line("Date: \(CollectorRun.date(recordedAt))")
        line("Message-ID: <\(replyID)@\(domain)>")
        if let original = header.first("Message-ID")?.trimmingCharacters(in: .whitespaces), original.hasPrefix("<"), original.count < 900 {
            line("In-Reply-To: \(original)")
            line("References: \(original)")
        }
        line("Auto-Submitted: auto-replied")
        line("MIME-Version: 1.0")
        line("Content-Type: text/plain; charset=utf-8")
        line("Content-Transfer-Encoding: 8bit")
        line()
        let filled = Autoresponder.fill(responder.text, fills)
        for bodyLine in filled.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
            line(String(bodyLine))
        }
        let reply = Array(text.utf8)
        var appends: [PendingAppend] = []
        guard let route = Self.recipient(sender, router: router) else {
            return try await passOver("the sender's address goes nowhere (\(sender))")
        }
        appends.append(try Self.accepted(reply, id: replyID, from: "", to: [route], helo: domain, subject: "autoreply"))
        var copyID: String?
        if let copyTo = responder.copyTo, let copy = Self.recipient(copyTo, router: router) {
            let id = ReportMail.randomID()
            copyID = id
            appends.append(try Self.accepted(body, id: id, from: address, to: [copy], helo: domain, subject: subject))
        }
        appends.append(PendingAppend(stream: stream, expectedVersion: .any, events: [PendingEvent(
            AutoresponderReplied(user: user, responder: responder.name, sender: sender,
                                 subject: delivered.flatMap { delivered in
                                     summary.subjectText.map { Personal($0, sealedWith: delivered.message.blob) }
                                 },
                                 replyID: replyID, copyID: copyID))]))
        try await transaction.append(appends)
        if !responder.keepOriginal, let delivered {
            // VPOP3's "Keep Original Message" off: answered, the message leaves the mailbox.
            try await MailStore(engine: engine).expunge(user: user, mailboxID: delivered.message.mailboxID, uids: [delivered.message.uid],
                                                        onlyDeleted: false, in: transaction)
        }
        logger.info("autoresponder answered", metadata: ["user": "\(user)", "responder": "\(responder.name)", "sender": "\(sender)"])
    }

    static func recipient(_ address: String, router: Router) -> MessageAccepted.Recipient? {
        let domain = String(address.split(separator: "@").last ?? "")
        let localPart = address.lastIndex(of: "@").map { String(address[..<$0]) } ?? address
        switch router.route(localPart: localPart, domain: domain, from: RouteSender(user: nil, inRelayNetworks: true)) {
        case .local(let user): return .init(address: address, route: .local, user: user)
        case .remote: return .init(address: address, route: .remote, notify: ["NEVER"])
        case .lan(let target, let to): return .init(address: to, route: .lan, notify: ["NEVER"], lan: target)
        default: return nil
        }
    }

    /// A message this server sends, as its acceptance.
    static func accepted(_ bytes: [UInt8], id: String, from: String, to: [MessageAccepted.Recipient], helo: String,
                         subject: String, service: String = "autoresponder") throws -> PendingAppend {
        let returnPath = "Return-Path: <\(from)>\r\n"
        let stored = Array(returnPath.utf8) + bytes
        let blob = BlobData(stored)
        let accepted = MessageAccepted(
            messageID: id, sessionID: "", service: service, clientIP: "", helo: helo, tls: nil, authUser: nil,
            reversePath: from, recipients: to, body: "8BITMIME", smtpUTF8: false, ret: nil, envelopeID: nil, mailAuth: nil,
            size: Int64(stored.count), blob: blob.id, returnPathLength: returnPath.utf8.count, subject: subject)
        return PendingAppend(stream: try DeliveryFacts.stream(id), expectedVersion: .noStream,
                             events: [PendingEvent(accepted, blobs: [blob])])
    }

    /// A header value as is when it is ASCII, else as RFC 2047 encoded words (UTF-8, base64),
    /// each under 76 characters and cut between characters.
    static func encodedWord(_ text: String) -> String {
        guard !text.unicodeScalars.allSatisfy(\.isASCII) else { return text }
        var words: [String] = []
        var chunk = ""
        for character in text {
            if (chunk + String(character)).utf8.count > 45 {
                words.append("=?utf-8?B?\(Data(chunk.utf8).base64EncodedString())?=")
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?\(Data(chunk.utf8).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    static func day(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }
}
