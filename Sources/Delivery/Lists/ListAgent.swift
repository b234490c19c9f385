import Crypto
import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle

/// The list agent: a consumer of `message_accepted` (posts to mailing lists, commands to the
/// ListServer) and of `list_post_moderated` (a moderator's decision). Everything it does with a
/// message — the copies it sends, the notices, the facts saying what it did, a membership
/// change — commits with its checkpoint, so each post and each command is handled once.
public struct ListAgent: ConsumerAgent {
    public static let consumerName = "list-agent"

    public let consumer: LogConsumer

    /// `unsubscribeKey` signs one-click unsubscribe links (nil: mailto links only).
    public init(engine: ProjectionEngine, directory: LiveDirectory, unsubscribeKey: SymmetricKey?,
                logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let work = ListWork(engine: engine, unsubscribeKey: unsubscribeKey, logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [MessageAccepted.category, ListPostDistributed.category],
                               store: engine.store,
                               registry: EventTypeRegistry([MessageAccepted.self, ListPostModerated.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { batch, connection in
            try await work.handle(batch, on: connection)
        }
    }

}

/// What the agent does with a batch: one transaction joined to the batch's, opened when there
/// is something to do.
struct ListWork: Sendable {
    let engine: ProjectionEngine
    let unsubscribeKey: SymmetricKey?
    let logger: Logger

    func handle(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        // One transaction and one reading of the directory for the batch, opened when there is
        // something to do; each event is handled at the time it was recorded.
        var opened: ListContext?
        func context(at time: Date) async throws -> ListContext {
            let context: ListContext
            if let opened {
                context = opened
            } else {
                context = try await ListContext(transaction: try await engine.transaction(joining: connection),
                                                settings: Settings(engine: engine).snapshot(on: connection),
                                                unsubscribeKey: unsubscribeKey, logger: logger)
                opened = context
            }
            context.now = time
            return context
        }
        for item in batch.items {
            switch item.event {
            case let accepted as MessageAccepted:
                let lists = Set(accepted.recipients.compactMap { $0.route == .list ? $0.list : nil })
                let commands = accepted.recipients.contains { $0.route == .listServer }
                guard !lists.isEmpty || commands else { continue }
                guard let stored = try await engine.store.blobs([accepted.blob], on: connection)[accepted.blob] else {
                    logger.error("a list post's body is missing", metadata: ["message": "\(accepted.messageID)"])
                    continue
                }
                let context = try await context(at: item.recorded.recordedAt)
                for list in lists.sorted() {
                    try await context.post(stored, accepted: accepted, to: list)
                }
                if commands { try await context.commands(stored, accepted: accepted) }
            case let decision as ListPostModerated:
                try await context(at: item.recorded.recordedAt).carryOut(decision)
            default:
                continue
            }
        }
    }
}

/// One message's handling: the directory as the batch's transaction sees it, the settings,
/// and the time the message was recorded (every expiry is measured against it).
final class ListContext {
    let transaction: ProjectionTransaction
    private(set) var snapshot: DirectorySnapshot
    private(set) var router: Router
    let domain: String
    let listServer: String
    let listServerReplyTo: String
    let mainAdministrator: String
    let reportBad: Bool
    let ignoreWithoutCommands: Bool
    let unsubscribeURL: String
    let unsubscribeKey: SymmetricKey?
    /// When the event being handled was recorded: every expiry is measured against it.
    var now = Date.distantPast
    let logger: Logger

    /// `settings` is the settings table, not the live copy: a post accepted right after a change
    /// is handled with it, as the log orders them.
    init(transaction: ProjectionTransaction, settings: SettingsSnapshot, unsubscribeKey: SymmetricKey?, logger: Logger) async throws {
        self.transaction = transaction
        snapshot = try await DirectorySnapshot.load(on: transaction.connection, logger: logger)
        var router = Router(snapshot: snapshot)
        router.defaultMappings = !settings.value(SettingKey<Bool>.disableDefaultMappings)
        let name = settings.value(SettingKey<String>.listServerName)
        router.listServerName = name
        self.router = router
        domain = snapshot.mailDomain ?? "localhost"
        listServer = "\(name.isEmpty ? "listserver" : name)@\(domain)"
        listServerReplyTo = settings.value(SettingKey<String>.listServerReplyTo)
        let administrator = settings.value(SettingKey<String>.mainAdministrator)
        mainAdministrator = administrator.contains("@") ? administrator : "\(administrator)@\(domain)"
        reportBad = settings.value(SettingKey<Bool>.listServerReportBad)
        ignoreWithoutCommands = settings.value(SettingKey<Bool>.listServerIgnoreWithoutCommands)
        unsubscribeURL = settings.value(SettingKey<String>.listUnsubscribeURL)
        self.unsubscribeKey = unsubscribeKey
        self.logger = logger
    }

    var connection: PostgresConnection { transaction.connection }

    /// The directory again, after a membership change made in this transaction.
    func reload() async throws {
        snapshot = try await DirectorySnapshot.load(on: transaction.connection, logger: logger)
        var updated = Router(snapshot: snapshot)
        updated.defaultMappings = router.defaultMappings
        updated.listServerName = router.listServerName
        router = updated
    }

    func listAddress(_ list: ListRecord) -> String { "\(list.name.lowercased())@\(domain)" }

    // MARK: Who is who

    func identity(_ address: String) -> String { ListMembership.identity(address, router: router) }

    /// Whether any of `addresses` is a member of `list` (directly).
    func isMember(_ addresses: [String], of list: String) -> Bool {
        let members = Set((snapshot.listMembers[list] ?? []).map(identity))
        return addresses.contains { members.contains(identity($0)) }
    }

    /// The moderators' addresses and identities: users, addresses, a distribution list's
    /// members; the main administrator when the list names none.
    func moderators(of list: ListRecord) -> [String] {
        var found: [String] = []
        for moderator in list.mailingOptions.moderators {
            let name = moderator.lowercased()
            if !name.contains("@"), snapshot.lists[name] != nil {
                found += (snapshot.listMembers[name] ?? []).map { $0.contains("@") ? $0 : "\($0)@\(domain)" }
            } else {
                found.append(name.contains("@") ? name : "\(name)@\(domain)")
            }
        }
        return found.isEmpty ? [mainAdministrator] : found
    }

    func isModerator(_ addresses: [String], of list: ListRecord) -> Bool {
        let moderators = Set(moderators(of: list).map(identity))
        return addresses.contains { moderators.contains(identity($0)) }
    }

    /// The addresses a message speaks for: its envelope sender, its From, its login.
    static func senders(_ accepted: MessageAccepted, header: MessageHeader) -> [String] {
        var found = [accepted.reversePath.lowercased()].filter { !$0.isEmpty }
        if let from = header.first("From").flatMap(ListPost.address(in:)) { found.append(from) }
        if let user = accepted.authUser { found.append(user.lowercased()) }
        return found
    }

    // MARK: Posts

    /// A post to `name`: refused, held or distributed, as the list's options say.
    func post(_ stored: [UInt8], accepted: MessageAccepted, to name: String) async throws {
        let header = MessageHeader.parse(stored)
        let sender = accepted.reversePath
        guard let list = snapshot.lists[name], list.kind == .mailing else {
            return try await refuse(name, accepted.messageID, sender: sender, "the list no longer exists", notify: nil)
        }
        let options = list.mailingOptions
        let addresses = Self.senders(accepted, header: header)
        let listID = Self.listID(list, domain: domain)
        if header.all("List-Id").contains(where: { $0.contains("<\(listID)>") }) {
            return try await refuse(name, accepted.messageID, sender: sender, "a loop: the post came through this list before", notify: nil)
        }
        if let banned = addresses.first(where: options.isBanned) {
            return try await refuse(name, accepted.messageID, sender: sender, "\(banned) is banned", notify: nil)
        }
        let member = isMember(addresses, of: name), moderator = isModerator(addresses, of: list)
        switch options.posting {
        case .anyone:
            break
        case .members where !member && !moderator:
            let notice = Answering.refusal(header, sender: sender) == nil
                ? "Your message to the list \(list.name) was not sent on: only its members may post to it."
                : nil
            return try await refuse(name, accepted.messageID, sender: sender, "not a member", notify: notice, original: stored)
        case .members:
            break
        case .moderatedNonMembers where !member && !moderator:
            return try await hold(stored, accepted: accepted, list: list, reason: "not a member")
        case .moderatedNonMembers:
            break
        case .moderated where !moderator:
            return try await hold(stored, accepted: accepted, list: list, reason: "the list is moderated")
        case .moderated:
            break
        }
        try await distribute(stored, list: list, messageID: accepted.messageID, sender: sender,
                             subject: accepted.subject, token: nil)
    }

    static func listID(_ list: ListRecord, domain: String) -> String { "\(list.name.lowercased()).\(domain)" }

    func refuse(_ list: String, _ messageID: String, sender: String, _ reason: String, notify text: String?,
                original: [UInt8]? = nil, token: String? = nil) async throws {
        var appends: [PendingAppend] = []
        var noticeID: String?
        if let text, !sender.isEmpty {
            let notice = try mail(to: [sender], from: "", subject: "Your message to \(list) was not sent on", text: text,
                                  attaching: original)
            noticeID = notice.id
            appends += notice.appends
        }
        appends.append(PendingAppend(stream: try ListPostDistributed.stream(list: list), expectedVersion: .any, events: [PendingEvent(
            ListPostRefused(list: list, messageID: messageID, sender: sender, reason: reason, noticeID: noticeID, token: token))]))
        try await transaction.append(appends)
        logger.info("list post refused", metadata: ["list": "\(list)", "message": "\(messageID)", "reason": "\(reason)"])
    }

    func hold(_ stored: [UInt8], accepted: MessageAccepted, list: ListRecord, reason: String) async throws {
        let token = Self.token()
        let expires = now.addingTimeInterval(Double(list.mailingOptions.confirmHours) * 3_600)
        let subject = DeliveryReport.oneLine(accepted.subject?.value ?? "(no subject)")
        let text = """
            A message to the list \(list.name) waits for a moderator (\(reason)).

            From: \(accepted.reversePath.isEmpty ? "<>" : accepted.reversePath)
            Subject: \(subject)

            To send it to the list, reply to this message (or send "approve \(token)" to \(listServer)).
            To reject it, send "reject \(token) <reason>" to \(listServer).
            Without a decision it is dropped after \(list.mailingOptions.confirmHours) hours.
            """
        let notice = try mail(to: moderators(of: list), from: "", subject: "approve \(token)", text: text,
                              attaching: ListPost.withoutReturnPath(stored), replyTo: listServer)
        try await transaction.append(notice.appends + [PendingAppend(
            stream: try ListPostDistributed.stream(list: list.name), expectedVersion: .any, events: [PendingEvent(
                ListPostHeld(list: list.name.lowercased(), messageID: accepted.messageID, blob: accepted.blob, sender: accepted.reversePath,
                             subject: accepted.subject, reason: reason, token: token, expiresAt: expires, noticeID: notice.id))])])
        logger.info("list post held", metadata: ["list": "\(list.name)", "message": "\(accepted.messageID)", "reason": "\(reason)"])
    }

    /// The post to every member, with the list's header fields; one copy for all, or one per
    /// member (slow posting, or one-click unsubscribe links that name the member).
    func distribute(_ stored: [UInt8], list: ListRecord, messageID: String, sender: String, subject: Personal<String>?,
                    token: String?) async throws {
        let options = list.mailingOptions
        let address = listAddress(list)
        let returnAddress = options.returnAddress.isEmpty ? mainAdministrator : options.returnAddress
        let expanded = router.expand(list: list.name.lowercased(), address: address, notify: [], originalRecipient: nil,
                                     remoteAllowed: true)
        let recipients = expanded.recipients.map { recipient -> MessageAccepted.Recipient in
            var recipient = recipient
            if recipient.route != .local { recipient.envelopeSender = returnAddress }
            return recipient
        }
        let post = ListPost.withoutReturnPath(stored)
        let encodedName = list.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? list.name
        var fields: [(name: String, value: String)] = []
        let description = list.description.isEmpty ? "" : "\"\(list.description.replacingOccurrences(of: "\"", with: "'"))\" "
        fields.append(("List-Id", "\(description)<\(Self.listID(list, domain: domain))>"))
        fields.append(("List-Post", "<mailto:\(address)>"))
        fields.append(("List-Help", "<mailto:\(listServer)?subject=help>"))
        fields.append(("List-Subscribe", "<mailto:\(listServer)?subject=subscribe%20\(encodedName)>"))
        fields.append(("Precedence", "list"))
        var replaced: Set<String> = []
        if options.replyToList {
            replaced.insert("reply-to")
            fields.append(("Reply-To", "<\(address)>"))
        }
        let mailtoUnsubscribe = "<mailto:\(listServer)?subject=unsubscribe%20\(encodedName)>"
        let perMember = options.slowPosting || (!unsubscribeURL.isEmpty && unsubscribeKey != nil)
        var copies: [(recipients: [MessageAccepted.Recipient], bytes: [UInt8])] = []
        if perMember {
            for recipient in recipients {
                var own = fields
                var ownReplaced = replaced
                let memberAddress = recipient.route == .local ? "\(recipient.user ?? recipient.address)@\(domain)" : recipient.address
                if let link = oneClickLink(list: list.name.lowercased(), address: memberAddress) {
                    own.append(("List-Unsubscribe", "\(mailtoUnsubscribe), <\(link)>"))
                    own.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
                } else {
                    own.append(("List-Unsubscribe", mailtoUnsubscribe))
                }
                if options.slowPosting {
                    ownReplaced.insert("to")
                    own.append(("To", "<\(memberAddress)>"))
                }
                copies.append(([recipient], ListPost.rewrite(post, subjectPrefix: options.subjectPrefix, replaced: ownReplaced, added: own)))
            }
        } else if !recipients.isEmpty {
            fields.append(("List-Unsubscribe", mailtoUnsubscribe))
            copies.append((recipients, ListPost.rewrite(post, subjectPrefix: options.subjectPrefix, replaced: replaced, added: fields)))
        }
        var appends: [PendingAppend] = []
        var ids: [String] = []
        for copy in copies {
            let id = ReportMail.randomID()
            ids.append(id)
            appends.append(try Answering.accepted(copy.bytes, id: id, from: returnAddress, to: copy.recipients, helo: domain,
                                                  subject: subject?.value ?? "", service: "list"))
        }
        appends.append(PendingAppend(stream: try ListPostDistributed.stream(list: list.name), expectedVersion: .any, events: [PendingEvent(
            ListPostDistributed(list: list.name.lowercased(), messageID: messageID, sender: sender, subject: subject,
                                members: recipients.count, copyIDs: ids, token: token))]))
        try await transaction.append(appends)
        logger.info("list post sent", metadata: ["list": "\(list.name)", "message": "\(messageID)", "members": "\(recipients.count)"])
    }

    /// The RFC 8058 link that takes `address` off `list`, signed so that nobody else can make
    /// one; nil when the server has no public URL or no key.
    func oneClickLink(list: String, address: String) -> String? {
        guard !unsubscribeURL.isEmpty, let unsubscribeKey else { return nil }
        return ListUnsubscribeLink.make(base: unsubscribeURL, list: list, address: address, key: unsubscribeKey)
    }

    /// A moderator's decision, carried out.
    func carryOut(_ decision: ListPostModerated) async throws {
        guard let pending = try await ListsProjection.pending(token: decision.token, on: connection, logger: logger),
              pending.kind == "post", let messageID = pending.messageID, let blob = pending.blob else {
            logger.info("a moderation decision for no held post", metadata: ["token": "\(decision.token)"])
            return
        }
        guard decision.approved else {
            let why = decision.reason.map { " The moderator wrote: \(DeliveryReport.oneLine($0))" } ?? ""
            return try await refuse(pending.list, messageID, sender: pending.address, "rejected by \(decision.actor)",
                                    notify: "Your message to the list \(pending.list) was rejected by its moderator.\(why)",
                                    token: decision.token)
        }
        guard pending.expiresAt > now else {
            return try await refuse(pending.list, messageID, sender: pending.address, "the hold expired", notify: nil, token: decision.token)
        }
        guard let list = snapshot.lists[pending.list], list.kind == .mailing,
              let stored = try await engine.store.blobs([blob], on: connection)[blob] else {
            return try await refuse(pending.list, messageID, sender: pending.address, "the list or the post is gone", notify: nil,
                                    token: decision.token)
        }
        try await distribute(stored, list: list, messageID: messageID, sender: pending.address,
                             subject: pending.subject.map { Personal($0, sealedWith: blob) },
                             token: decision.token)
    }

    var engine: ProjectionEngine { transaction.engine }

    // MARK: Mail this agent sends

    /// A plain-text message from the ListServer (`envelope` the reverse-path: empty for
    /// notices nobody should answer automatically), with `original` attached when given.
    func mail(to recipients: [String], from envelope: String, subject: String, text: String, attaching original: [UInt8]? = nil,
              replyTo: String? = nil) throws -> (id: String, appends: [PendingAppend]) {
        let id = ReportMail.randomID()
        let notice = NoticeMail(from: "<\(listServer)>", to: recipients, subject: subject, date: now, messageID: "\(id)@\(domain)",
                                replyTo: replyTo ?? (listServerReplyTo.isEmpty ? nil : listServerReplyTo), text: text)
        return (id, [try accepted(notice.bytes(attaching: original), id: id, from: envelope, to: recipients, subject: subject)])
    }

    func accepted(_ bytes: [UInt8], id: String, from envelope: String, to recipients: [String], subject: String) throws -> PendingAppend {
        var seen = Set<String>()
        let routed = recipients.filter { seen.insert($0.lowercased()).inserted }.compactMap { Answering.recipient($0, router: router) }
        return try Answering.accepted(bytes, id: id, from: envelope, to: routed, helo: domain, subject: subject, service: "list")
    }

    static func token() -> String { ReportMail.randomID() }
}
