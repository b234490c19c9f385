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
    /// The run's session (LogDB type P): its collected messages point at it.
    let sessionID: String
    /// The TLS version once the session has it.
    let tlsState = TLSState()
    var tls: String? { tlsState.version }

    final class TLSState: @unchecked Sendable {
        var version: String?
    }

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
        var bytes: Int64 = 0
        var deleted = 0
        var deletedByRule = 0
        var failure: String?
        var connected = false
    }

    var store: EventStore { engine.store }

    /// The run's record, and its session's when it reached the server.
    func run(trigger: String) async -> (ended: CollectorRunEnded, session: SessionEnded?) {
        let started = now()
        var outcome = Outcome()
        do {
            try await collect(&outcome)
        } catch {
            outcome.failure = "\(error)"
            logger.warning("collection failed", metadata: ["collector": "\(collector.name)", "error": "\(error)"])
        }
        var result = outcome.failure ?? "ok: \(outcome.collected) collected, \(outcome.deleted) deleted"
        if outcome.deletedByRule > 0 { result += ", \(outcome.deletedByRule) deleted by rule" }
        let session = outcome.connected ? SessionEnded(
            sessionID: sessionID, kind: .pop3Collector, service: "pop3-collector", clientIP: collector.endpoint?.host ?? collector.server,
            startedAt: started, duration: now().timeIntervalSince(started), user: collector.user, tls: tls,
            errorCode: outcome.failure.map { String($0.prefix(200)) } ?? "", messages: outcome.collected, bytes: outcome.bytes) : nil
        let ended = CollectorRunEnded(collector: collector.name, started: started, trigger: trigger, result: result,
                                      collected: outcome.collected, deleted: outcome.deleted, failed: outcome.failure != nil,
                                      sessionID: session?.sessionID)
        return (ended, session)
    }

    private func collect(_ outcome: inout Outcome) async throws {
        guard let endpoint = collector.endpoint else { throw CollectionFailure("the server \(collector.server) is not a host name") }
        let connection: RemoteConnection
        do {
            connection = try await RemoteConnection.connect(host: endpoint.host, port: endpoint.port, timeout: policy.timeout)
        } catch {
            throw CollectionFailure("\(endpoint): \(error)")
        }
        outcome.connected = true
        if collector.mailboxProtocol == .imap {
            let imap = IMAPExchange(connection: connection, timeout: policy.timeout)
            do {
                try await collect(over: imap, endpoint: endpoint, &outcome)
            } catch {
                await imap.close()
                throw error
            }
            await imap.close()
            return
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

    func collect(over pop3: POP3Exchange, endpoint: MailSender.RelayServer, _ outcome: inout Outcome) async throws {
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
        tlsState.version = pop3.tls
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

        let entries = listed.filter { !duplicated.contains($0.uid) }.map { Listed(key: $0.number, uid: $0.uid, size: sizes[$0.number] ?? 0) }
        var state = try await MailboxState(collector: collector.name, engine: engine)
        let deletedByRule = try await take(entries, from: pop3, state: &state, outcome: &outcome)

        // Deletions, only of messages whose record has committed; they take effect at QUIT.
        var deleting: [String] = []
        for entry in entries where isDue(entry.uid, state) {
            if try await pop3.command("DELE \(entry.key)").isOK { deleting.append(entry.uid) }
        }
        try await pop3.expectOK("QUIT")
        try await recordDeletions(deleting, byRule: deletedByRule, state: &state, outcome: &outcome)
        try await forgetObsolete(present: Set(listed.map(\.uid)), state: &state)
    }

    /// A message on the server as its listing gives it: the protocol's handle for it (POP3's
    /// message number, IMAP's UID), its identity (UIDL, or UIDVALIDITY.UID) and its size.
    struct Listed {
        var key: Int
        var uid: String
        var size: Int
    }

    /// What a run knows of the collector's records while it goes.
    struct MailboxState {
        let stream: StreamName
        var version: Int64?
        var remembered: CollectionProjection.Remembered

        init(collector: String, engine: ProjectionEngine) async throws {
            stream = try MessageCollected.stream(collector: collector)
            version = try await engine.store.version(of: stream)
            remembered = try await CollectionProjection.remembered(collector, engine: engine)
        }
    }

    /// Whether a collected message's time on the server is up.
    func isDue(_ uid: String, _ state: MailboxState) -> Bool {
        guard let record = state.remembered.collected[uid] else { return false }
        let cutoff = now().addingTimeInterval(-Double(collector.leaveOnServerDays) * 86_400)
        return collector.leaveOnServerDays == 0 || record.collected <= cutoff
    }

    /// Takes each listed message not taken before, by the rules, the size limit and the
    /// routing; returns the messages download rules marked for deletion, with their rule.
    func take(_ entries: [Listed], from mailbox: some CollectedMailbox, state: inout MailboxState,
              outcome: inout Outcome) async throws -> [(uid: String, rule: String)] {
        let stream = state.stream
        let limit = min(collector.maxSizeKiB > 0 ? collector.maxSizeKiB * 1024 : Int.max, policy.maxMessageSize)
        var deletedByRule: [(uid: String, rule: String)] = []
        for entry in entries {
            let uid = entry.uid, size = entry.size
            if state.remembered.collected[uid] != nil { continue }
            // A message left on the server stays there, unless a reply to its notice asked for
            // it within the fetch window.
            var fetchAsked = false
            if let left = state.remembered.left[uid] {
                guard left.fetchRequested, now().timeIntervalSince(left.firstSeen) <= MessageLeftOnServer.fetchWindow else { continue }
                fetchAsked = true
            }
            var header: [UInt8]?
            if !fetchAsked, !collector.downloadRules.isEmpty {
                if collector.downloadRules.contains(where: \.readsHeader) { header = try await mailbox.header(of: entry.key) }
                let fields = MessageHeader.parse(header ?? [])
                if let rule = collector.downloadRules.first(where: { $0.matches(size: size, values: { fields.all($0) }) }) {
                    switch rule.action {
                    case .keep:
                        break
                    case .skip:
                        try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(size),
                                                                   reason: "download rule: \(rule)"), stream: stream, version: &state.version)
                        continue
                    case .delete:
                        if try await mailbox.delete(entry.key) { deletedByRule.append((uid, rule.description)) }
                        continue
                    }
                }
            }
            let bound = fetchAsked ? policy.maxMessageSize : limit
            if size > bound {
                var notice: Notice?
                if size <= policy.maxMessageSize {
                    let fields: [UInt8]
                    if let header { fields = header } else { fields = try await mailbox.header(of: entry.key) }
                    notice = try await oversizeNotice(header: fields, size: size, limit: bound)
                }
                try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(size),
                                                           reason: "larger than \(bound) bytes", token: notice?.token,
                                                           noticeID: notice?.messageID, notified: notice?.users),
                                 also: notice?.appends ?? [], stream: stream, version: &state.version)
                state.remembered.left[uid] = (now(), false)
                continue
            }
            // The body may run a little past the listed size (line ends); the bound leaves room.
            let message: [UInt8]
            do {
                message = try await mailbox.message(entry.key, limit: max(size, 1) * 2 + 65_536)
            } catch let failure as CollectionFailure where failure.tooLarge {
                // Far larger than the server said: left on the server (recorded, so the next run
                // does not stop at it again); this run ends, its connection being mid-response.
                try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(size),
                                                           reason: "larger than the size the server listed"),
                                 stream: stream, version: &state.version)
                throw failure
            }
            let parsed = MessageHeader.parse(message)
            if let reason = refusal(parsed) {
                try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(message.count),
                                                           reason: reason), stream: stream, version: &state.version)
                state.remembered.left[uid] = (now(), false)
                continue
            }
            var recorded = try await accept(message, header: parsed, uid: uid, stream: stream, version: state.version)
            if case .raced = recorded {
                // Another process recorded something for this collector: read again, and take
                // this message only if it is still not there.
                state.version = try await store.version(of: stream)
                state.remembered = try await CollectionProjection.remembered(collector.name, engine: engine)
                if state.remembered.collected[uid] == nil {
                    recorded = try await accept(message, header: parsed, uid: uid, stream: stream, version: state.version)
                }
            }
            switch recorded {
            case .recorded(let newVersion):
                state.version = newVersion
                state.remembered.collected[uid] = (now(), false)
                outcome.collected += 1
                outcome.bytes += Int64(message.count)
            case .left(let newVersion):
                state.version = newVersion
                state.remembered.left[uid] = (now(), false)
            case .raced:
                break
            }
        }
        return deletedByRule
    }

    /// Records deletions the server has carried out.
    func recordDeletions(_ deleted: [String], byRule: [(uid: String, rule: String)], state: inout MailboxState,
                         outcome: inout Outcome) async throws {
        for (rule, uids) in Dictionary(grouping: byRule, by: \.rule).sorted(by: { $0.key < $1.key }) {
            try await appendBookkeeping(CollectedMessagesDeleted(collector: collector.name, uidls: uids.map(\.uid), rule: rule),
                                        stream: state.stream, version: &state.version)
            outcome.deletedByRule += uids.count
        }
        if !deleted.isEmpty {
            try await appendBookkeeping(CollectedMessagesDeleted(collector: collector.name, uidls: deleted), stream: state.stream,
                                        version: &state.version)
            outcome.deleted = deleted.count
        }
    }

    /// A UIDL the server no longer lists is forgotten once `hold_obsolete_uidl_days` have
    /// passed since it was collected (when it went from the server is not recorded); a left
    /// message's record, as soon as it is gone.
    func forgetObsolete(present: Set<String>, state: inout MailboxState) async throws {
        let holdUntil = now().addingTimeInterval(-Double(collector.holdObsoleteUIDLDays) * 86_400)
        let obsolete = state.remembered.collected.filter { !present.contains($0.key) && $0.value.collected <= holdUntil }.map(\.key).sorted()
        let leftGone = state.remembered.left.filter { !present.contains($0.key) }.map(\.key)
        if !obsolete.isEmpty || !leftGone.isEmpty {
            try await appendBookkeeping(CollectorUIDLsForgotten(collector: collector.name, uidls: obsolete + leftGone.sorted(),
                                                                actor: "collector \(collector.name)"), stream: state.stream, version: &state.version)
        }
    }

    /// Why a downloaded message is not taken: more `Received:` fields than allowed (a loop).
    func refusal(_ header: MessageHeader) -> String? {
        let hops = header.all("Received").count
        // RFC 5321 §6.3: a loop shows as too many Received: fields.
        if hops > policy.maxHops { return "\(hops) Received: fields (a mail loop)" }
        return nil
    }

    enum Recorded {
        case recorded(Int64)
        /// Left on the server after all (nowhere to route it); the stream's version after.
        case left(Int64?)
        case raced
    }

    /// Routes the message and appends its acceptance with its collection, expecting the
    /// collector stream at `version`. A message whose header names no recipient the routing
    /// recognises meets the collector's routing-error action: kept for a user (or the main
    /// administrator), replaced by an error message with the original attached, or bounced;
    /// whatever it causes commits with its `message_collected`.
    func accept(_ message: [UInt8], header parsed: MessageHeader, uid: String, stream: StreamName,
                        version: Int64?) async throws -> Recorded {
        let header = Array(message.prefix(parsed.size))
        let router = makeRouter()
        var found = CollectedMailRouting(router: router, routing: collector.routing).recipients(header: header)
        var how = "all-to"
        var keep = true
        var errorTo: String?
        var bounce = false
        if case .parseHeaders(let rules) = collector.routing {
            how = "headers"
            if found.isEmpty {
                how = "routing error: \(rules.onError)"
                bounce = rules.bounceToSender
                let target: String?
                switch rules.onError {
                case .messageToUser(let user): target = user
                case .messageToAdministrator: target = policy.mainAdministrator
                case .errorToUser(let user): target = user; errorTo = user; keep = false
                case .errorToAdministrator: target = policy.mainAdministrator; errorTo = target; keep = false
                case .bounce: target = nil; keep = false; bounce = true
                }
                if let target, let route = CollectedMailRouting.target(target, router: router) {
                    found = [.init(address: target, route: route)]
                }
            }
        }
        let recipients = localRecipients(found, router: router)
        let returnPath = Self.address(parsed.first("Return-Path") ?? "")
        // Never a bounce to a bounce or to automatic mail (RFC 3834 §2): they are dropped.
        if bounce, returnPath.isEmpty || Self.isAutomatic(parsed) { bounce = false; how += ", no bounce (no sender or automatic mail)" }
        if !keep && errorTo != nil && recipients.isEmpty || keep && recipients.isEmpty && !bounce {
            // Nowhere to put it: left on the server, for an administrator to route and fetch again.
            var current = version
            try await record(left: MessageLeftOnServer(collector: collector.name, uidl: uid, size: Int64(message.count),
                                                       reason: "no recipient found, and \(how) has no user to go to"),
                             stream: stream, version: &current)
            return .left(current)
        }

        let trace = "Received: from \(collector.endpoint?.host ?? collector.server) by \(policy.hostname) with POP3"
            + " id \(uid.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }.prefix(70));\r\n\t\(Self.date(now()))\r\n"
        let stored = Array(trace.utf8) + message
        var appends: [PendingAppend] = []
        var messageID = ""
        if keep || errorTo != nil {
            let bytes = keep ? stored : errorMessage(original: stored, to: found.map(\.address), uid: uid)
            let blob = BlobData(bytes)
            messageID = ReportMail.randomID()
            let accepted = MessageAccepted(
                messageID: messageID, sessionID: sessionID, service: "pop3-collector",
                clientIP: collector.endpoint?.host ?? collector.server, helo: "", tls: tls, authUser: nil,
                reversePath: keep ? returnPath : "", recipients: recipients, body: nil, smtpUTF8: false, ret: nil, envelopeID: nil,
                mailAuth: nil, size: Int64(bytes.count), blob: blob.id, returnPathLength: 0,
                subject: keep ? MIMEParser.summarise(header).subjectText : Self.errorSubject)
            appends.append(PendingAppend(stream: try DeliveryFacts.stream(messageID), expectedVersion: .noStream,
                                         events: [PendingEvent(accepted, blobs: [blob])]))
        }
        if bounce, let append = try bounceMessage(original: stored, to: returnPath, router: router) {
            appends.append(append)
            how += ", bounced to \(returnPath)"
        }
        let collected = MessageCollected(collector: collector.name, uidl: uid, size: Int64(message.count),
                                         server: collector.server, account: collector.user, messageID: messageID,
                                         recipients: recipients.map(\.address), routing: how)
        appends.append(PendingAppend(stream: stream, expectedVersion: version.map { .exactly($0) } ?? .noStream,
                                     events: [PendingEvent(collected)]))
        do {
            // With the inline `collection.uidls` in the same transaction.
            _ = try await engine.transaction { transaction in try await transaction.append(appends) }
        } catch is WrongExpectedVersion {
            return .raced
        }
        return .recorded((version ?? -1) + 1)
    }

    func makeRouter() -> Router {
        var router = Router(snapshot: snapshot)
        router.defaultMappings = policy.defaultMappings
        router.mainAdministrator = policy.mainAdministrator
        return router
    }

    /// Local recipients for what the routing found: users, and lists expanded to their local
    /// members (collected mail goes to no remote address).
    func localRecipients(_ found: [CollectedMailRouting.Recipient], router: Router) -> [MessageAccepted.Recipient] {
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
        return recipients
    }

    static let errorSubject = "Collected message with no recognised recipient"

    /// VPOP3's routing-error message: what happened, with the original attached.
    func errorMessage(original: [UInt8], to: [String], uid: String) -> [UInt8] {
        var rules = ""
        if case .parseHeaders(let headers) = collector.routing { rules = headers.acceptedDomains.joined(separator: ";") }
        let domain = snapshot.defaultDomain ?? policy.hostname
        let notice = NoticeMail(
            from: "Mail collector \(collector.name) <postmaster@\(policy.hostname)>",
            to: to.map { $0.contains("@") ? $0 : "\($0)@\(domain)" }, subject: Self.errorSubject, date: now(),
            messageID: "\(ReportMail.randomID())@\(policy.hostname)", autoSubmitted: "auto-generated",
            text: "The collector \(collector.name) downloaded a message from the mailbox \(collector.user) at \(collector.server)\n"
                + "(UIDL \(DeliveryReport.oneLine(uid))), but none of its header fields names a recipient in\n"
                + "the accepted domains (\(rules)). It is attached.\n")
        return notice.bytes(attaching: original)
    }

    /// A delivery status notification to the original's sender, from `<>`: no recipient was
    /// recognised. Nil when the sender's address routes nowhere.
    func bounceMessage(original: [UInt8], to sender: String, router: Router) throws -> PendingAppend? {
        let id = DeliveryPlan.newMessageID()
        let account = collector.user.contains("@") ? collector.user : "\(collector.user)@\(collector.endpoint?.host ?? collector.server)"
        let report = DeliveryReport(
            reportingMTA: policy.hostname, to: sender, originalMessageID: id, originalSubject: nil, envelopeID: nil, arrivalDate: now(),
            recipients: [.init(finalRecipient: account, action: .failed, status: "5.1.1",
                               diagnostic: RemoteReply(code: 550, enhanced: "5.1.1",
                                                       text: "no recipient of this message is known here", fromServer: false))],
            original: original, returnFull: false, date: now(), messageID: id, boundary: "dsn-" + id)
        let domain = String(sender.split(separator: "@").last ?? "")
        let localPart = sender.lastIndex(of: "@").map { String(sender[..<$0]) } ?? sender
        let route: MessageAccepted.Recipient
        switch router.route(localPart: localPart, domain: domain, from: RouteSender(user: nil, inRelayNetworks: true)) {
        case .local(let user): route = .init(address: sender, route: .local, user: user)
        case .remote: route = .init(address: sender, route: .remote, notify: ["NEVER"])
        default: return nil
        }
        let returnPath = "Return-Path: <>\r\n"
        let bytes = Array(returnPath.utf8) + report.render()
        let blob = BlobData(bytes)
        let accepted = MessageAccepted(
            messageID: id, sessionID: sessionID, service: "dsn", clientIP: "", helo: policy.hostname, tls: nil, authUser: nil,
            reversePath: "", recipients: [route], body: "8BITMIME", smtpUTF8: false, ret: nil, envelopeID: nil, mailAuth: nil,
            size: Int64(bytes.count), blob: blob.id, returnPathLength: returnPath.utf8.count, subject: report.subjectLine)
        return PendingAppend(stream: try DeliveryFacts.stream(id), expectedVersion: .noStream, events: [PendingEvent(accepted, blobs: [blob])])
    }

    /// What a notice of a message left for its size causes: the notice to each local user the
    /// message is for (the routing-error target, or the main administrator, when its header
    /// names none), with a reply address carrying a fresh token.
    struct Notice {
        var token: String
        var messageID: String
        var users: [String]
        var appends: [PendingAppend]
    }

    func oversizeNotice(header: [UInt8], size: Int, limit: Int) async throws -> Notice? {
        let router = makeRouter()
        var found = CollectedMailRouting(router: router, routing: collector.routing).recipients(header: header)
        if found.isEmpty {
            var target = policy.mainAdministrator
            if case .parseHeaders(let rules) = collector.routing {
                switch rules.onError {
                case .errorToUser(let user), .messageToUser(let user): target = user
                default: break
                }
            }
            if let route = CollectedMailRouting.target(target, router: router) { found = [.init(address: target, route: route)] }
        }
        let recipients = localRecipients(found, router: router)
        guard !recipients.isEmpty else { return nil }
        let fields = MessageHeader.parse(header)
        let token = ReportMail.randomID()
        let domain = snapshot.mailDomain ?? policy.hostname
        let reply = "\(MessageLeftOnServer.replyPrefix)\(token)@\(domain)"
        let summary = MIMEParser.summarise(header)
        var text = ""
        func line(_ value: String = "") { text += value + "\r\n" }
        line("From: Mail collector \(collector.name) <\(reply)>")
        let shown = Set(recipients.map { $0.address.contains("@") ? $0.address : "\($0.address)@\(domain)" }).sorted()
        line("To: \(shown.map { "<\($0)>" }.joined(separator: ", "))")
        line("Subject: Large message waiting: \(DeliveryReport.oneLine(summary.subjectText ?? "(no subject)"))")
        line("Date: \(Self.date(now()))")
        line("Message-ID: <\(token)@\(policy.hostname)>")
        line("Auto-Submitted: auto-generated")
        line("MIME-Version: 1.0")
        line("Content-Type: text/plain; charset=utf-8")
        line("Content-Transfer-Encoding: 8bit")
        line()
        line("A message for you was not downloaded from the mailbox \(collector.user) at \(collector.server),")
        line("because it is larger than the collector \(collector.name) takes (\(limit / 1024) KiB).")
        line()
        line("  From:    \(DeliveryReport.oneLine(fields.first("From") ?? ""))")
        line("  Subject: \(DeliveryReport.oneLine(summary.subjectText ?? ""))")
        line("  Date:    \(DeliveryReport.oneLine(fields.first("Date") ?? ""))")
        line("  Size:    \((size + 1023) / 1024) KiB")
        line()
        line("To have it downloaded, reply to this message within 14 days; it is fetched")
        line("at the next collection. Otherwise it stays on the server.")
        let bytes = Array(text.utf8)
        let blob = BlobData(bytes)
        let messageID = ReportMail.randomID()
        let accepted = MessageAccepted(
            messageID: messageID, sessionID: sessionID, service: "pop3-collector", clientIP: "", helo: policy.hostname, tls: nil,
            authUser: nil, reversePath: "", recipients: recipients, body: "8BITMIME", smtpUTF8: false, ret: nil, envelopeID: nil,
            mailAuth: nil, size: Int64(bytes.count), blob: blob.id, returnPathLength: 0, subject: "Large message waiting")
        return Notice(token: token, messageID: messageID, users: Array(Set(recipients.compactMap(\.user))).sorted(),
                      appends: [PendingAppend(stream: try DeliveryFacts.stream(messageID), expectedVersion: .noStream,
                                              events: [PendingEvent(accepted, blobs: [blob])])])
    }

    /// The address in a `Return-Path:` value (`<a@b>` → `a@b`; `<>` → empty).
    static func address(_ value: String) -> String {
        value.trimmingCharacters(in: CharacterSet(charactersIn: "<> \t"))
    }

    /// Mail that must not be answered automatically (RFC 3834 §2): `Auto-Submitted:` other
    /// than `no`, or `Precedence:` bulk, junk or list.
    static func isAutomatic(_ header: MessageHeader) -> Bool {
        if let auto = header.first("Auto-Submitted")?.trimmingCharacters(in: .whitespaces).lowercased(), !auto.hasPrefix("no") { return true }
        if let precedence = header.first("Precedence")?.trimmingCharacters(in: .whitespaces).lowercased(),
           ["bulk", "junk", "list"].contains(precedence) { return true }
        return false
    }

    /// A left message's record, once per UIDL, with what it causes (its notice).
    func record(left: MessageLeftOnServer, also: [PendingAppend] = [], stream: StreamName, version: inout Int64?) async throws {
        try await engine.transaction { transaction in
            try await transaction.append(also + [PendingAppend(stream: stream, expectedVersion: .any, events: [PendingEvent(left)])])
        }
        version = try await store.version(of: stream)
        logger.info("message left on the server", metadata: ["collector": "\(collector.name)", "uidl": "\(left.uidl)",
                                                             "reason": "\(left.reason)"])
    }

    /// Appends one of the collector's own records, keeping `version` current.
    func appendBookkeeping(_ event: some Event, stream: StreamName, version: inout Int64?) async throws {
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
