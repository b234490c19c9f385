import DNS
import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Metrics
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle
import SMTPClient
import Synchronization

/// The queue runner: sends queued messages to the servers of their recipients' domains and
/// records what happened on each message's stream. The one writer of the delivery-state facts.
///
/// `outqueue.outrecipients` (the queue's projection) says which messages have recipients due;
/// the message's own stream, read under a per-message claim, says what is true. The claim is
/// a PostgreSQL session advisory lock held on one connection for as long as the message is in
/// hand, so any number of `serve` processes on one database send each recipient once, and a
/// process that dies drops its claims with its connection.
public final class DeliveryScheduler: Service, Sendable {
    public static let consumerName = "delivery-scheduler"

    let engine: ProjectionEngine
    let settings: LiveSettings
    let directory: LiveDirectory
    let hostname: String
    let logger: Logger
    let sessions: SessionCache
    let limiter = DestinationLimiter()
    private let inFlight = Mutex<Set<String>>([])
    private let wakeup = Wakeup()
    private let resolvers = UnboundResolverCache()
    /// A resolver to use instead of one built from `dns.*` (tests).
    let fixedResolver: (any DNS.Resolver)?
    /// Opens relay passwords; nil where no key directory is available (relays then log in with nothing).
    let vault: SecretVault?
    let windows = SendingWindows()
    let connector: Connector
    let dkimKeys = DKIMKeyCache()
    let mtaSTS: MTASTSPolicies

    /// `dataDirectory` is where `CONNECT.NOW` is looked for.
    public init(engine: ProjectionEngine, settings: LiveSettings, directory: LiveDirectory, hostname: String,
                resolver: (any DNS.Resolver)? = nil, vault: SecretVault? = nil, dataDirectory: String? = nil, logger: Logger) {
        self.vault = vault
        self.engine = engine
        self.settings = settings
        self.directory = directory
        self.hostname = hostname
        self.fixedResolver = resolver
        self.sessions = SessionCache(perKey: { settings.value(.outqueueMaxConcurrentDeliveries) })
        var logger = logger
        logger[metadataKey: "service"] = "\(Self.consumerName)"
        self.logger = logger
        self.connector = Connector(store: engine.store, settings: settings, dataDirectory: dataDirectory, logger: logger)
        self.mtaSTS = MTASTSPolicies(store: engine.store, logger: logger)
    }

    var store: EventStore { engine.store }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                // Appends to message streams (new mail, administrators' actions) wake the loop,
                // at most every 50 ms: the queue's projection gathers for longer than that before
                // it shows new mail, and under a stream of local mail each append would otherwise
                // send the loop to the queue for nothing.
                group.addTask {
                    while !Task.isCancelled {
                        let generation = self.store.appendGeneration(for: [MessageAccepted.category])
                        await self.store.waitForAppend(after: generation, categories: [MessageAccepted.category],
                                                       timeout: .seconds(60))
                        self.wakeup.signal()
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                // So do administrators' connection requests.
                group.addTask {
                    while !Task.isCancelled {
                        let generation = self.store.appendGeneration(for: [ConnectionFacts.category])
                        await self.store.waitForAppend(after: generation, categories: [ConnectionFacts.category],
                                                       timeout: .seconds(60))
                        self.wakeup.signal()
                    }
                }
                // A changed `outqueue.*`, `connections.*` or `lan.*` setting (a pause lifted, a
                // limit raised, a schedule edited) wakes it too.
                group.addTask {
                    for await change in self.settings.changes()
                    where ["outqueue.", "connections.", "lan."].contains(where: { change.key.hasPrefix($0) }) {
                        self.wakeup.signal()
                    }
                }
                // `CONNECT.NOW` in the data directory: looked for every two seconds.
                group.addTask {
                    while !Task.isCancelled {
                        if self.connector.connectNowWaiting { self.wakeup.signal() }
                        try? await Task.sleep(for: .seconds(2))
                    }
                }
                group.addTask { await self.schedule() }
                await self.wakeup.whenCancelled()
                group.cancelAll()
            }
            await self.sessions.closeAll()
        }
    }

    /// Claims and delivers due messages until cancelled, re-connecting after a database failure.
    private func schedule() async {
        var outage = OutageLog(logger: logger, what: "the delivery scheduler's database connection")
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { claims in
                    outage.succeeded()
                    try await self.schedule(claims: claims)
                }
            } catch {
                if Task.isCancelled { return }
                outage.failed(error)
                try? await Task.sleep(for: max(outage.retryDelay, .seconds(1)))
            }
        }
    }

    private func schedule(claims: PostgresConnection) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            var lastSignal = ContinuousClock.now
            // Due messages from the last look at the queue, in order: one query serves many
            // deliveries, and the queue is read again when they are all started.
            var candidates: ArraySlice<String> = []
            // The small bodies of the candidates, as the queue's projection names them.
            var smallBodies: [String: BlobID] = [:]
            var nextDue: Date?
            while !Task.isCancelled {
                // The connector schedule: runs due, asked for or ended.
                let nextPoll = try await connector.tick(now: Date())
                var foundNothing = false
                let maximum = settings.value(.outqueueMaxConcurrentDeliveries)
                // Claims of deliveries that ended are released together.
                let ended = unclaimed.withLock { ended in defer { ended = [] }; return ended }
                if !ended.isEmpty { try await release(ended, on: claims) }
                var free = maximum - inFlight.withLock { $0.count }
                if free > 0 {
                    if candidates.isEmpty {
                        let now = Date()
                        let (due, bodies, next) = try await dueMessages(excluding: inFlight.withLock { $0 }, recorded: recorded(at: now),
                                                                limit: max(Self.batch, maximum), lanOnly: !outqueueOpen(),
                                                                online: connector.online, at: now, on: claims)
                        candidates = due[...]
                        smallBodies = bodies
                        nextDue = next
                        foundNothing = due.isEmpty
                    }
                    while free > 0, !candidates.isEmpty {
                        let running = inFlight.withLock { $0 }
                        var wanted: [String] = []
                        while wanted.count < free, let id = candidates.popFirst() {
                            if !running.contains(id) { wanted.append(id) }
                        }
                        // Another process holding a message's claim is sending it; this one leaves it.
                        let claimed = try await claim(wanted, on: claims)
                        guard !claimed.isEmpty else { continue }
                        inFlight.withLock { $0.formUnion(claimed) }
                        free -= claimed.count
                        let bodies = claimed.compactMap { smallBodies[$0] }
                        group.addTask { await self.deliver(claimed, smallBodies: bodies) }
                    }
                }
                // A run ends once nothing waiting for it is left to send.
                if foundNothing, connector.hasRuns, inFlight.withLock({ $0.isEmpty }) { try await connector.endRuns(now: Date()) }
                // The queue's projection follows the log a moment behind an append: for a few
                // seconds after one, look again shortly even when nothing else wakes the loop.
                var wait: Duration = ContinuousClock.now - lastSignal < .seconds(3) || connector.hasRuns ? .milliseconds(250) : .seconds(30)
                for time in [nextDue, nextPoll].compactMap({ $0 }) {
                    let until = time.timeIntervalSinceNow
                    wait = min(wait, .milliseconds(max(0, Int64(until * 1000)) + 5))
                }
                if !candidates.isEmpty, free == 0 {
                    // Waiting for a delivery to end: it signals.
                    wait = .seconds(30)
                }
                if await wakeup.wait(timeout: wait) { lastSignal = .now }
            }
        }
    }

    /// Due messages read from the queue at once.
    static let batch = 500

    /// Messages this process has just tried, with the attempts their streams now hold: until
    /// the queue's projection (a moment behind the log) shows as many, its view of them is
    /// older than what was recorded, and they are not taken from it.
    private let recent = Mutex<[String: (attempts: Int, at: Date)]>([:])

    /// Messages whose deliveries ended, still claimed.
    private let unclaimed = Mutex<[String]>([])

    private func finished(_ id: String, recordedAttempts: Int?) {
        if let recordedAttempts { recent.withLock { $0[id] = (recordedAttempts, Date()) } }
        unclaimed.withLock { $0.append(id) }
        inFlight.withLock { _ = $0.remove(id) }
    }

    /// The attempts recorded lately (a minute: the projection is seconds behind at worst, and
    /// a message taken too early is only read again and left).
    private func recorded(at now: Date) -> [String: Int] {
        recent.withLock { recent in
            recent = recent.filter { now.timeIntervalSince($0.value.at) < 60 }
            return recent.mapValues(\.attempts)
        }
    }

    /// The settings' policy, read again only when a setting has changed since.
    private let policyCache = Mutex<(generation: Int, policy: Policy)?>(nil)

    func currentPolicy() -> Policy {
        let generation = settings.generation
        if let cached = policyCache.withLock({ $0 }), cached.generation == generation { return cached.policy }
        let policy = Policy(settings: settings)
        policyCache.withLock { $0 = (generation, policy) }
        return policy
    }

    /// Whether the outqueue sends at all now (the LAN queue always does): not paused. Which
    /// senders send is the connector's to say.
    func outqueueOpen() -> Bool {
        !settings.value(.outqueuePaused)
    }

    /// Messages with recipients due at `now`, first by priority then by age; and when the
    /// next recipient not yet due will be. `lanOnly`: only the LAN queue's recipients count.
    /// Recipients waiting for a connection in `online` are due whatever their next try says.
    private func dueMessages(excluding busy: Set<String>, recorded: [String: Int], limit: Int, lanOnly: Bool, online: [String],
                             at now: Date, on connection: PostgresConnection) async throws -> ([String], [String: BlobID], Date?) {
        let waiting = online.map { "waiting for connection \($0)" }
        let busy = Array(busy)
        let recordedIDs = Array(recorded.keys)
        let recordedAttempts = recordedIDs.map { recorded[$0]! }
        let rows = try await connection.query("""
            SELECT m.msgid, CASE WHEN m.size <= \(Self.prefetchLimit) THEN m.blob END FROM outqueue.outmessages m
            WHERE m.finishedtime IS NULL AND NOT m.held AND NOT (m.msgid = ANY(\(busy)))
              AND NOT EXISTS (SELECT 1 FROM unnest(\(recordedIDs)::text[], \(recordedAttempts)::bigint[]) AS r(msgid, attempts)
                              WHERE r.msgid = m.msgid AND m.attempts < r.attempts)
              AND EXISTS (SELECT 1 FROM outqueue.outrecipients r WHERE r.msgid = m.msgid AND r.finished IS NULL
                          AND (r.nexttry IS NULL OR r.nexttry <= \(now) OR r.status = ANY(\(waiting)))
                          AND (NOT \(lanOnly) OR r.queue <> 'outqueue'))
            ORDER BY \(unescaped: Self.order(MailSenders(settings.value(.senders)).defaultSender)) LIMIT \(limit)
            """, logger: logger)
        var due: [String] = []
        var bodies: [String: BlobID] = [:]
        for try await (id, blob) in rows.decode((String, ByteBuffer?).self) {
            due.append(id)
            if let blob, blob.readableBytes == 32 { bodies[id] = BlobID(digest: Array(buffer: blob)) }
        }
        guard due.count < limit else { return (due, bodies, nil) }
        let next = try await connection.query("""
            SELECT min(r.nexttry) FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid)
            WHERE r.finished IS NULL AND NOT m.held AND r.nexttry > \(now) AND (NOT \(lanOnly) OR r.queue <> 'outqueue')
            """, logger: logger)
        var nextDue: Date?
        for try await value in next.decode(Date?.self) { nextDue = value }
        return (due, bodies, nextDue)
    }

    /// VPOP3's "Send smaller messages first" and "Reverse send order" (the two together send
    /// the biggest first), after the priority. The default sender's choice orders the whole
    /// queue: which sender a message goes through is decided once it is claimed.
    static func order(_ sender: MailSender) -> String {
        switch (sender.smallestFirst, sender.reverseOrder) {
        case (false, false): "m.priority, m.created, m.msgid"
        case (false, true): "m.priority, m.created DESC, m.msgid"
        case (true, false): "m.priority, m.size, m.created, m.msgid"
        case (true, true): "m.priority, m.size DESC, m.created DESC, m.msgid"
        }
    }

    // MARK: One message

    /// Claims messages for this process: a PostgreSQL session advisory lock per message, held
    /// on `claims` until released (or until the connection ends with the process). Returns the
    /// ones it got, in order; the others are being sent by another process.
    private func claim(_ ids: [String], on claims: PostgresConnection) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        let rows = try await claims.query("""
            SELECT id FROM unnest(\(ids)::text[]) WITH ORDINALITY AS m(id, n)
            WHERE pg_try_advisory_lock(hashtextextended('pillarbox outbound ' || id, 0)) ORDER BY n
            """, logger: logger)
        var claimed: [String] = []
        for try await id in rows.decode(String.self) { claimed.append(id) }
        return claimed
    }

    private func release(_ ids: [String], on claims: PostgresConnection) async throws {
        _ = try await claims.query("""
            SELECT pg_advisory_unlock(hashtextextended('pillarbox outbound ' || id, 0)) FROM unnest(\(ids)::text[]) AS m(id)
            """, logger: logger)
    }

    /// Bodies up to this size are read with their messages' streams, together; larger ones are
    /// streamed piece by piece while they are sent.
    static let prefetchLimit: Int64 = 256 << 10

    /// Delivers claimed messages: their streams read in one go, and their small bodies (as the
    /// queue's projection names them) at the same time, then each sent on its own task.
    private func deliver(_ ids: [String], smallBodies: [BlobID]) async {
        let store = self.store
        async let prefetched = smallBodies.isEmpty ? [:] : (try? await store.blobs(smallBodies)) ?? [:]
        let loaded: [String: (message: OutboundMessage, acceptedEventID: UUID)]
        do {
            loaded = try await OutboundMessage.load(ids, from: store, logger: logger)
        } catch {
            _ = await prefetched
            logger.error("could not read claimed messages; they stay queued", metadata: ["error": "\(error)"])
            for id in ids { finished(id, recordedAttempts: nil) }
            wakeup.signal()
            return
        }
        // A body that cannot be read here (or fails its digest) is streamed instead, where the
        // failure is the one message's own.
        // Each stream names its body; one the projection did not (or named otherwise) is read now.
        var bodies = await prefetched
        let missing = Set(loaded.values.map(\.message.accepted).filter { $0.size <= Self.prefetchLimit }.map(\.blob))
            .subtracting(bodies.keys)
        if !missing.isEmpty { bodies.merge((try? await store.blobs(Array(missing))) ?? [:]) { first, _ in first } }
        // Each message's recipients by sender, decided in the order the messages were claimed
        // (the queue's order), so a sending limit's allowance goes to the first in that order.
        let now = Date()
        let senders = MailSenders(settings.value(.senders))
        let lan = LANForwarding(settings.value(.lanForwarding))
        let open = outqueueOpen()
        var shares: [String: [SenderShare]] = [:]
        for id in ids {
            guard let message = loaded[id]?.message, !message.bounceRequested else { continue }
            shares[id] = await self.shares(of: message, senders: senders, lan: lan, outqueueOpen: open, at: now)
        }
        let decided = shares
        let read = bodies
        await withDiscardingTaskGroup { group in
            for id in ids {
                group.addTask {
                    var attempts: Int?
                    if let (message, acceptedEventID) = loaded[id] {
                        attempts = await self.deliverClaimed(message, acceptedEventID: acceptedEventID, shares: decided[id] ?? [],
                                                             at: now, body: read[message.accepted.blob])
                    }
                    self.finished(id, recordedAttempts: attempts)
                    self.wakeup.signal()
                }
            }
        }
    }

    /// Delivers a claimed message's due recipients and records what happened. Returns, when
    /// attempts were recorded, how many the message's stream now holds.
    private func deliverClaimed(_ message: OutboundMessage, acceptedEventID: UUID, shares: [SenderShare], at now: Date,
                                body: [UInt8]?) async -> Int? {
        let messageID = message.accepted.messageID
        do {
            return try await deliverClaimedThrowing(message, acceptedEventID: acceptedEventID, shares: shares, at: now, body: body)
        } catch {
            logger.error("delivering a queued message failed; it stays queued", metadata: [
                "message": "\(messageID)", "error": "\(error)",
            ])
            return nil
        }
    }

    /// A message's due recipients, by the sender domain filtering chooses (the default one
    /// for the rest), with those a sender's X per Y minutes holds back.
    struct SenderShare: Sendable {
        var sender: MailSender
        var recipients: [OutboundMessage.Recipient]
        /// Recipients not tried now, what they wait for and until when.
        var waiting: [OutboundMessage.Recipient] = []
        var windowFrees: Date?
        var waitingFor = "sending limit"
        /// Where the sender's password is sealed.
        var password: SealedPassword

        init(sender: MailSender, recipients: [OutboundMessage.Recipient], password: SealedPassword? = nil) {
            self.sender = sender
            self.recipients = recipients
            self.password = password ?? SealedPassword(purpose: MailSender.passwordPurpose, subject: MailSender.passwordSubject(sender.name))
        }
    }

    /// A message's due recipients by the way they leave: each LAN target (always), and each
    /// sender (when the outqueue is not paused), with those whose connection is not online, or
    /// over their sender's sending limit, held back.
    func shares(of message: OutboundMessage, senders: MailSenders, lan: LANForwarding, outqueueOpen: Bool,
                at now: Date) async -> [SenderShare] {
        let allDue = message.due(at: now, online: outqueueOpen ? Set(connector.online) : [])
        // The LAN queue: each target a relay of its own, never scheduled, never limited.
        let byTarget = Dictionary(grouping: allDue.filter { $0.lan != nil }) { $0.lan! }
        var shares = byTarget.keys.sorted { $0.label < $1.label }.map { target in
            Self.lanShare(target, rules: lan, recipients: byTarget[target]!)
        }
        guard outqueueOpen else { return shares }
        let due = allDue.filter { $0.lan == nil }
        let bySender = Dictionary(grouping: due) { senders.choose(sender: $0.envelopeSender, recipient: $0.address).name }
        let connections = connector.connections
        for name in bySender.keys.sorted() {
            guard let sender = senders.named(name) else { continue }
            var share = SenderShare(sender: sender, recipients: bySender[name]!)
            let connection = connections.connection(for: sender, senders: senders)
            if !connector.sends(connection, senders: senders) {
                // Waiting, visibly, for the connection's next run.
                share.waiting = share.recipients
                share.recipients = []
                share.windowFrees = connector.nextPoll(connection.name) ?? .distantFuture
                share.waitingFor = "connection \(connection.name)"
                shares.append(share)
                continue
            }
            if !connections.sendsImmediately(connection, senders: senders) { connector.counted(connection.name) }
            if let limit = sender.rateLimit {
                let (granted, next) = await takeFromWindow(sender, wanted: share.recipients.count, limit: limit, now: now)
                if granted < share.recipients.count {
                    share.waiting = Array(share.recipients[granted...])
                    share.recipients = Array(share.recipients[..<granted])
                    share.windowFrees = next ?? now.addingTimeInterval(60)
                }
            }
            shares.append(share)
        }
        return shares
    }

    private func deliverClaimedThrowing(_ message: OutboundMessage, acceptedEventID: UUID, shares: [SenderShare], at now: Date,
                                        body: [UInt8]?) async throws -> Int? {
        let messageID = message.accepted.messageID
        let policy = currentPolicy()
        var plan = DeliveryPlan(message: message, policy: policy, hostname: hostname)
        var content = OutgoingContent(body: body, skip: message.accepted.returnPathLength)
        if message.bounceRequested {
            let reply = RemoteReply(code: 550, enhanced: "5.0.0", text: "returned to the sender by the postmaster", fromServer: false)
            plan.fail(message.unfinished.map(\.rcptid), reply: reply, remoteMTA: nil)
        } else {
            guard !shares.isEmpty else { return nil }
            // Rewritten and signed once for every attempt of this round (RFC 6376).
            if shares.contains(where: { !$0.recipients.isEmpty }) { content = await outgoingContent(message, body: body, policy: policy) }
            for share in shares {
                let sender = share.sender, recipients = share.recipients
                let policy = policy.for(sender)
                if let frees = share.windowFrees {
                    // X per Y minutes: the recipients over the allowance wait, visibly, for the window.
                    plan.wait(share.waiting.map(\.rcptid), until: min(frees, plan.expiry), for: share.waitingFor, now: now)
                }
                guard !recipients.isEmpty else { continue }
                switch sender.method {
                case .direct:
                    // Recipients of one domain share a transaction, up to the per-message limit.
                    let byDomain = Dictionary(grouping: recipients) { Self.domain(of: $0.address) }
                    for domain in byDomain.keys.sorted() {
                        let recipients = byDomain[domain]!
                        for group in Self.groups(of: recipients, size: policy.maxRecipientsPerMessage) {
                            await limiter.acquire(domain, limit: policy.maxPerDestination)
                            let attempt = await attempt(message, group, domain: domain, number: plan.nextAttemptNumber,
                                                        policy: policy, content: content.reaching(group))
                            await limiter.release(domain)
                            plan.record(attempt)
                        }
                    }
                case .relay:
                    // A relay takes every domain in one transaction, up to the per-message limit.
                    for group in Self.groups(of: recipients, size: policy.maxRecipientsPerMessage) {
                        let attempt = await relayAttempt(message, group, sender: sender, password: share.password,
                                                         number: plan.nextAttemptNumber, policy: policy, content: content.reaching(group))
                        plan.record(attempt)
                    }
                }
            }
            plan.decideWarnings(at: Date())
        }
        var appends = [StreamAppend(stream: try DeliveryFacts.stream(messageID), events: try plan.events())]
        appends += try await reports(for: plan, message: message, body: body, causation: acceptedEventID)
        try await store.append(appends)
        for attempt in plan.attempts {
            for outcome in attempt.outcomes {
                let result = outcome.reply.code < 400 ? "delivered" : outcome.reply.code < 500 ? "deferred" : "failed"
                Counter(label: "pillarbox_delivery_recipients_total", dimensions: [("route", attempt.route), ("result", result)]).increment()
            }
        }
        for line in plan.logLines { logger.info("\(line)", metadata: ["message": "\(messageID)"]) }
        return plan.attempts.isEmpty ? nil : plan.message.attempts
    }

    /// `recipients` in transactions of at most `size`.
    static func groups(of recipients: [OutboundMessage.Recipient], size: Int) -> [[OutboundMessage.Recipient]] {
        stride(from: 0, to: recipients.count, by: max(size, 1)).map { Array(recipients[$0..<min($0 + max(size, 1), recipients.count)]) }
    }

    static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return address[address.index(after: at)...].lowercased()
    }

    /// `content`: what is sent in place of the stored message's start (DKIM signatures, a
    /// rewritten header); nil for the stored message without its `Return-Path:` line.
    func envelope(_ message: OutboundMessage, _ recipients: [OutboundMessage.Recipient], content: OutgoingContent? = nil) -> OutboundEnvelope {
        let accepted = message.accepted
        let body = accepted.body?.uppercased()
        return OutboundEnvelope(
            sender: recipients.first?.envelopeSender ?? accepted.reversePath,
            recipients: recipients.map { .init(address: $0.address, notify: $0.notify.isEmpty ? nil : $0.notify,
                                               originalRecipient: $0.originalRecipient) },
            size: Int(accepted.size) - (content?.skip ?? accepted.returnPathLength) + (content?.added ?? 0), eightBit: body == "8BITMIME" || body == "BINARYMIME",
            needsSMTPUTF8: accepted.smtpUTF8, returnContent: accepted.ret, envelopeID: accepted.envelopeID)
    }

    /// Streams the content: its DKIM signatures and rewritten header, then the stored message
    /// from `content.skip` on, dot-stuffed.
    func bodyWriter(_ message: OutboundMessage, content: OutgoingContent) -> BodyWriter {
        let store = self.store
        let blob = message.accepted.blob
        let skip = content.skip
        let start = content.start
        if let body = content.body {
            // Read with the message and already checked against its digest.
            // Sent in one write: one system call and one wait, not three.
            return { connection in
                var stuffer = DotStuffer()
                var data = start.isEmpty ? [] : stuffer.stuff(start[...])
                data += stuffer.stuff(body.dropFirst(skip))
                data += stuffer.finish()
                try await connection.write(data)
            }
        }
        return { connection in
            var stuffer = DotStuffer()
            if !start.isEmpty { try await connection.write(stuffer.stuff(start[...])) }
            var toSkip = skip
            let found = try await store.forEachPiece(of: blob) { piece in
                var slice = piece[...]
                if toSkip > 0 {
                    let dropped = min(toSkip, slice.count)
                    slice = slice.dropFirst(dropped)
                    toSkip -= dropped
                }
                guard !slice.isEmpty else { return }
                try await connection.write(stuffer.stuff(slice))
            }
            guard found else { throw TransferFailure.body("the stored body is missing") }
            try await connection.write(stuffer.finish())
        }
    }

    func resolver(_ policy: Policy) throws -> any DNS.Resolver {
        if let fixedResolver { return fixedResolver }
        return try resolvers.resolver(servers: policy.dnsServers, timeoutSeconds: policy.dnsTimeout, trustAnchors: policy.trustAnchors)
    }

    // MARK: Notifications

    /// The DSNs a plan calls for, as new messages from `<>` with the original as their cause.
    private func reports(for plan: DeliveryPlan, message: OutboundMessage, body: [UInt8]?,
                         causation: UUID) async throws -> [StreamAppend] {
        guard !plan.reports.isEmpty else { return [] }
        // The original goes back whole (RET=FULL) or as its header; either way it is read once.
        var original = body ?? []
        if body == nil { _ = try await store.forEachPiece(of: message.accepted.blob) { original += $0 } }
        original = Array(original.dropFirst(message.accepted.returnPathLength))
        var router = Router(snapshot: directory.snapshot)
        router.lanForwarding = LANForwarding(settings.value(.lanForwarding), bareUserNames: settings.value(.lanBareUserNames))
        var appends: [StreamAppend] = []
        for report in plan.reports {
            let domain = Self.domain(of: report.to)
            let localPart = report.to.lastIndex(of: "@").map { String(report.to[..<$0]) } ?? report.to
            let route: MessageAccepted.Recipient
            switch router.route(localPart: localPart, domain: domain, from: RouteSender(user: nil, inRelayNetworks: true)) {
            case .local(let user): route = .init(address: report.to, route: .local, user: user)
            case .remote: route = .init(address: report.to, route: .remote, notify: ["NEVER"])
            case .lan(let target, let to): route = .init(address: to, route: .lan, notify: ["NEVER"], lan: target)
            default:
                logger.warning("a delivery status notification has nowhere to go", metadata: ["to": "\(report.to)"])
                continue
            }
            let id = report.messageID
            var rendered = report.report
            rendered.original = original
            let returnPath = "Return-Path: <>\r\n"
            let bytes = Array(returnPath.utf8) + rendered.render()
            let blob = BlobData(bytes)
            let accepted = MessageAccepted(
                messageID: id, sessionID: "", service: "dsn", clientIP: "", helo: hostname, tls: nil, authUser: nil,
                reversePath: "", recipients: [route], body: "8BITMIME", smtpUTF8: false, ret: nil, envelopeID: nil,
                mailAuth: nil, size: Int64(bytes.count), blob: blob.id, returnPathLength: returnPath.utf8.count,
                subject: rendered.subjectLine)
            appends.append(StreamAppend(stream: try DeliveryFacts.stream(id), expectedVersion: .noStream,
                                        events: [try EventData(accepted, causationID: causation, blobs: [blob])]))
        }
        return appends
    }
}
