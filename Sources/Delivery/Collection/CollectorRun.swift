import EventLog
import Facts
import Foundation
import Logging
import MailCore
import POP3Wire
import Projections
import Routing

/// One collection from one ISP mailbox over POP3, exactly once:
///
/// 1. The collector stream's version is read, then the UIDLs already collected (the inline
///    `collection.uidls`, written in the transaction of each message's record).
/// 2. Each message on the server whose UIDL is not among them is downloaded and appended as
///    its `message_accepted` (with its body, which the local delivery agent files) together
///    with `message_collected`, in one transaction, expecting the collector stream's version:
///    another process that recorded a message meanwhile makes the append fail, and the run
///    reads the set again before going on.
/// 3. Only then, DELE for the messages recorded whose time on the server is up, and QUIT,
///    which makes the server delete them; `collected_messages_deleted` follows the QUIT's +OK.
///
/// A crash before step 2's commit leaves nothing recorded: the message is downloaded again next
/// time, and the first copy never existed. A crash after it leaves the UIDL remembered: the
/// message is not downloaded again, only deleted when its time comes.
struct CollectorRun {
    let collector: MailCollector
    let password: String
    let engine: ProjectionEngine
    let snapshot: DirectorySnapshot
    let policy: Policy
    let logger: Logger
    let now: @Sendable () -> Date

    /// What the run takes from the settings.
    struct Policy: Sendable {
        var hostname: String
        var maxMessageSize: Int
        var maxHops: Int
        var mainAdministrator: String
        var defaultMappings: Bool
        var timeout: Duration = .seconds(60)
        var trustedCertificates: String?
    }

    struct Outcome: Sendable {
        var collected = 0
        var deleted = 0
        var failure: String?
    }

    var store: EventStore { engine.store }

    func run(trigger: String) async -> CollectorRunEnded {
        let started = now()
        var outcome = Outcome()
        do {
            try await collect(&outcome)
        } catch {
            outcome.failure = "\(error)"
            logger.warning("collection failed", metadata: ["collector": "\(collector.name)", "error": "\(error)"])
        }
        let result = outcome.failure ?? "ok: \(outcome.collected) collected, \(outcome.deleted) deleted"
        return CollectorRunEnded(collector: collector.name, started: started, trigger: trigger, result: result,
                                 collected: outcome.collected, deleted: outcome.deleted, failed: outcome.failure != nil)
    }

    private func collect(_ outcome: inout Outcome) async throws {
        guard let endpoint = collector.endpoint else { throw CollectionFailure("the server \(collector.server) is not a host name") }
        let connection: RemoteConnection
        do {
            connection = try await RemoteConnection.connect(host: endpoint.host, port: endpoint.port, timeout: policy.timeout)
        } catch {
            throw CollectionFailure("\(endpoint): \(error)")
        }
        let pop3 = POP3Exchange(connection: connection, timeout: policy.timeout)
        do {
            try await collect(over: pop3, endpoint: endpoint, &outcome)
        } catch {
            await pop3.close()
            throw error
        }
        await pop3.close()
    }

    private func collect(over pop3: POP3Exchange, endpoint: MailSender.RelayServer, _ outcome: inout Outcome) async throws {
        let verification: RemoteConnection.Verification = collector.verifyCertificate
            ? .full(extraTrust: collector.trustedCertificates ?? policy.trustedCertificates) : .none

        if collector.encryption == .ssl { try await pop3.startTLS(serverName: endpoint.host, verification: verification) }
        let greeting = try await pop3.status()
        guard case .ok(let greetingText) = greeting else { throw CollectionFailure("greeting: \(greeting.text)") }
        if collector.encryption == .stls || collector.encryption == .stlsIfAvailable {
            let answer = try await pop3.command("STLS")
            if answer.isOK {
                try await pop3.startTLS(serverName: endpoint.host, verification: verification)
            } else if collector.encryption == .stls {
                _ = try? await pop3.command("QUIT")
                throw CollectionFailure("the server does not offer STLS (\(answer.text)); the password was not sent")
            }
        }
        try await pop3.logIn(user: collector.user, password: password, method: collector.authentication, greeting: greetingText)

        let (uidlAnswer, uidlListing) = try await pop3.multiline("UIDL", limit: 16 << 20)
        guard uidlAnswer.isOK else { throw CollectionFailure("UIDL: \(uidlAnswer.text) (a server without UIDL cannot be collected exactly once)") }
        let listed: [(number: Int, uid: String)]
        do { listed = try POP3ClientReader.uniqueIDs(uidlListing) } catch { throw CollectionFailure(POP3Exchange.describe(error)) }
        // RFC 1939 §7 wants unique ids; a server that lists one twice would have its messages
        // taken for each other: such a UIDL is left alone.
        var counts: [String: Int] = [:]
        for entry in listed { counts[entry.uid, default: 0] += 1 }
        let duplicated = Set(counts.filter { $0.value > 1 }.map(\.key))
        if !duplicated.isEmpty {
            logger.warning("the server lists a UIDL for more than one message; those messages are left on the server",
                           metadata: ["collector": "\(collector.name)", "uidls": "\(duplicated.sorted().prefix(10))"])
        }
        let (listAnswer, sizeListing) = try await pop3.multiline("LIST", limit: 16 << 20)
        guard listAnswer.isOK else { throw CollectionFailure("LIST: \(listAnswer.text)") }
        let sizes: [Int: Int]
        do { sizes = try POP3ClientReader.sizes(sizeListing) } catch { throw CollectionFailure(POP3Exchange.describe(error)) }

        let stream = try MessageCollected.stream(collector: collector.name)
        var version = try await store.version(of: stream)
        var remembered = try await CollectionProjection.remembered(collector.name, engine: engine)
        let limit = min(collector.maxSizeKiB > 0 ? collector.maxSizeKiB * 1024 : Int.max, policy.maxMessageSize)

        for (number, uid) in listed where !duplicated.contains(uid) {
            if remembered.collected[uid] != nil || remembered.left[uid] != nil { continue }
            let size = sizes[number] ?? 0
            if size > limit {
                try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(size),
                                                           reason: "larger than \(limit) bytes"), stream: stream, version: &version)
                remembered.left[uid] = now()
                continue
            }
            // The body may run a little past LIST's size (line ends); the bound leaves room.
            let answer: POP3ServerStatus, message: [UInt8]
            do {
                (answer, message) = try await pop3.multiline("RETR \(number)", limit: max(size, 1) * 2 + 65_536)
            } catch let failure as CollectionFailure where failure.tooLarge {
                // Far larger than LIST said: left on the server (recorded, so the next run does
                // not stop at it again); this run ends, its connection being mid-response.
                try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(size),
                                                           reason: "larger than the size the server listed"),
                                 stream: stream, version: &version)
                throw failure
            }
            guard answer.isOK else { throw CollectionFailure("RETR \(number): \(answer.text)") }
            let header = MessageHeader.parse(message)
            if let reason = refusal(header) {
                try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(message.count),
                                                           reason: reason), stream: stream, version: &version)
                remembered.left[uid] = now()
                continue
            }
            var recorded = try await accept(message, header: header, uid: uid, stream: stream, version: version)
            if case .raced = recorded {
                // Another process recorded something for this collector: read again, and take
                // this message only if it is still not there.
                version = try await store.version(of: stream)
                remembered = try await CollectionProjection.remembered(collector.name, engine: engine)
                if remembered.collected[uid] == nil {
                    recorded = try await accept(message, header: header, uid: uid, stream: stream, version: version)
                }
            }
            if case .recorded(let newVersion) = recorded {
                version = newVersion
                remembered.collected[uid] = (now(), false)
                outcome.collected += 1
            }
        }

        // Deletions, only of messages whose record has committed.
        let cutoff = now().addingTimeInterval(-Double(collector.leaveOnServerDays) * 86_400)
        var deleting: [String] = []
        for (number, uid) in listed where !duplicated.contains(uid) {
            guard let record = remembered.collected[uid], collector.leaveOnServerDays == 0 || record.collected <= cutoff else { continue }
            let answer = try await pop3.command("DELE \(number)")
            if answer.isOK { deleting.append(uid) }
        }
        try await pop3.expectOK("QUIT")
        if !deleting.isEmpty {
            try await appendBookkeeping(CollectedMessagesDeleted(collector: collector.name, uidls: deleting), stream: stream, version: &version)
            outcome.deleted = deleting.count
        }
        // A UIDL the server no longer lists is forgotten once `hold_obsolete_uidl_days` have
        // passed since it was collected (when it went from the server is not recorded).
        let present = Set(listed.map(\.uid))
        let holdUntil = now().addingTimeInterval(-Double(collector.holdObsoleteUIDLDays) * 86_400)
        let obsolete = remembered.collected.filter { !present.contains($0.key) && $0.value.collected <= holdUntil }.map(\.key).sorted()
        let leftGone = remembered.left.filter { !present.contains($0.key) }.map(\.key)
        if !obsolete.isEmpty || !leftGone.isEmpty {
            try await appendBookkeeping(CollectorUIDLsForgotten(collector: collector.name, uidls: obsolete + leftGone.sorted(),
                                                                actor: "collector \(collector.name)"), stream: stream, version: &version)
        }
    }

    /// Why a downloaded message is not taken: more `Received:` fields than allowed (a loop).
    private func refusal(_ header: MessageHeader) -> String? {
        let hops = header.all("Received").count
        // RFC 5321 §6.3: a loop shows as too many Received: fields.
        if hops > policy.maxHops { return "\(hops) Received: fields (a mail loop)" }
        return nil
    }

    enum Recorded {
        case recorded(Int64)
        case raced
    }

    /// Routes the message and appends its acceptance with its collection, expecting the
    /// collector stream at `version`.
    private func accept(_ message: [UInt8], header parsed: MessageHeader, uid: String, stream: StreamName,
                        version: Int64?) async throws -> Recorded {
        let header = Array(message.prefix(parsed.size))
        var router = Router(snapshot: snapshot)
        router.defaultMappings = policy.defaultMappings
        router.mainAdministrator = policy.mainAdministrator
        let routing = CollectedMailRouting(router: router, routing: collector.routing)
        var found = routing.recipients(header: header)
        var how = "all-to"
        if case .parseHeaders(let rules) = collector.routing {
            how = "headers"
            if found.isEmpty {
                // VPOP3's routing errors; the error notices and bounces are not sent yet: each
                // keeps the message with the user named (or the main administrator).
                how = "routing error: \(rules.onError)"
                let fallback: String = switch rules.onError {
                case .errorToUser(let user), .messageToUser(let user): user
                case .errorToAdministrator, .messageToAdministrator, .bounce: policy.mainAdministrator
                }
                if let route = CollectedMailRouting.target(fallback, router: router) {
                    found = [.init(address: fallback, route: route)]
                }
            }
        }
        var recipients: [MessageAccepted.Recipient] = []
        for recipient in found {
            switch recipient.route {
            case .local(let user):
                recipients.append(.init(address: recipient.address, route: .local, user: user))
            case .list(let name):
                recipients += router.expand(list: name, address: recipient.address, notify: [], originalRecipient: nil,
                                            remoteAllowed: false).recipients
            default:
                break
            }
        }
        let trace = "Received: from \(collector.endpoint?.host ?? collector.server) by \(policy.hostname) with POP3"
            + " id \(uid.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }.prefix(70));\r\n\t\(Self.date(now()))\r\n"
        let stored = Array(trace.utf8) + message
        let blob = BlobData(stored)
        let messageID = ReportMail.randomID()
        let returnPath = parsed.first("Return-Path")
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "<> \t")) } ?? ""
        let accepted = MessageAccepted(
            messageID: messageID, sessionID: "", service: "pop3-collector", clientIP: collector.endpoint?.host ?? collector.server,
            helo: "", tls: nil, authUser: nil, reversePath: returnPath, recipients: recipients, body: nil, smtpUTF8: false,
            ret: nil, envelopeID: nil, mailAuth: nil, size: Int64(stored.count), blob: blob.id, returnPathLength: 0,
            subject: MIMEParser.summarise(header).subjectText)
        let collected = MessageCollected(collector: collector.name, uidl: uid, size: Int64(message.count),
                                         server: collector.server, account: collector.user, messageID: messageID,
                                         recipients: recipients.map(\.address), routing: how)
        do {
            // With the inline `collection.uidls` in the same transaction.
            let messageStream = try DeliveryFacts.stream(messageID)
            try await engine.transaction { transaction in
                try await transaction.append([
                    PendingAppend(stream: messageStream, expectedVersion: .noStream, events: [PendingEvent(accepted, blobs: [blob])]),
                    PendingAppend(stream: stream, expectedVersion: version.map { .exactly($0) } ?? .noStream,
                                  events: [PendingEvent(collected)]),
                ])
            }
        } catch is WrongExpectedVersion {
            return .raced
        }
        return .recorded((version ?? -1) + 1)
    }

    /// A left message's record, once per UIDL.
    private func record(left: MessageLeftOnServer, stream: StreamName, version: inout Int64?) async throws {
        try await appendBookkeeping(left, stream: stream, version: &version)
        logger.info("message left on the server", metadata: ["collector": "\(collector.name)", "uidl": "\(left.uidl)",
                                                             "reason": "\(left.reason)"])
    }

    /// Appends one of the collector's own records, keeping `version` current.
    private func appendBookkeeping(_ event: some Event, stream: StreamName, version: inout Int64?) async throws {
        try await engine.transaction { transaction in
            try await transaction.append([PendingAppend(stream: stream, expectedVersion: .any, events: [PendingEvent(event)])])
        }
        version = try await store.version(of: stream)
    }

    /// RFC 5322 §3.3 date-time, for the trace field.
    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
