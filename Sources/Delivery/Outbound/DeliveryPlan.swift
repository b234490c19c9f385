import EventLog
import Facts
import Foundation

/// What one round of delivery for one message decided, from its attempts: which recipients
/// are delivered, deferred (and until when) or failed, which notifications the sender gets,
/// and the facts that say so. Pure: the attempts, the policy and the times are given.
struct DeliveryPlan {
    struct Report {
        var messageID: String
        var to: String
        var report: DeliveryReport
    }

    private(set) var message: OutboundMessage
    let policy: Policy
    let hostname: String
    private(set) var attempts: [DeliveryAttempted] = []
    private(set) var delivered: [(ids: [Int], host: String?)] = []
    private(set) var deferred: [(ids: [Int], next: Date, reason: String, waitingFor: String?)] = []
    private(set) var failures: [DeliveryFailed.Failure] = []
    private(set) var warned: [Int] = []
    private(set) var reports: [Report] = []
    private(set) var logLines: [String] = []
    /// Recipients delivered to a server without DSN whose sender asked to hear of success.
    private var relayed: [(rcptid: Int, host: String?, reply: RemoteReply)] = []
    private var failedIDs: Set<Int> = []

    init(message: OutboundMessage, policy: Policy, hostname: String) {
        self.message = message
        self.policy = policy
        self.hostname = hostname
    }

    var nextAttemptNumber: Int { message.attempts + 1 }

    var expiry: Date { message.arrivedAt.addingTimeInterval(TimeInterval(policy.maxQueueDays) * 86_400) }

    /// Takes in one attempt's outcome for its recipients.
    mutating func record(_ attempt: DeliveryAttempted) {
        attempts.append(attempt)
        message.apply(attempt)
        let end = attempt.startedAt.addingTimeInterval(attempt.duration)
        var accepted: [Int] = []
        var later: [Int] = []
        var reason = ""
        for outcome in attempt.outcomes {
            let reply = outcome.reply
            if reply.isPositive {
                accepted.append(outcome.rcptid)
                if let recipient = recipient(outcome.rcptid), recipient.notify.contains("SUCCESS"), attempt.serverOffersDSN == false {
                    relayed.append((outcome.rcptid, attempt.mxHost, reply))
                }
            } else if reply.isPermanent {
                failures.append(.init(rcptid: outcome.rcptid, reply: reply, remoteMTA: reply.fromServer ? attempt.mxHost : nil))
                failedIDs.insert(outcome.rcptid)
            } else if end >= expiry {
                // The queue lifetime is spent: a temporary failure is now a permanent one.
                var expired = reply
                expired.text += " (gave up after \(policy.maxQueueDays) days in the queue)"
                if expired.enhanced == nil || !reply.fromServer { expired.enhanced = "4.4.7" }
                failures.append(.init(rcptid: outcome.rcptid, reply: expired, remoteMTA: reply.fromServer ? attempt.mxHost : nil))
                failedIDs.insert(outcome.rcptid)
            } else {
                later.append(outcome.rcptid)
                reason = reply.description
            }
            logLines.append("to=<\(outcome.address)> relay=\(attempt.mxHost ?? "none")\(attempt.ip.map { "[\($0)]" } ?? "") "
                            + "attempt=\(attempt.attempt) tls=\(attempt.tlsVersion ?? "none") reply=\(reply)")
        }
        if !accepted.isEmpty { delivered.append((accepted, attempt.mxHost)) }
        if !later.isEmpty {
            let attemptsSoFar = later.compactMap { recipient($0)?.attempts }.max() ?? 1
            let next = min(end.addingTimeInterval(policy.retryDelay(afterAttempts: attemptsSoFar)), expiry)
            deferred.append((later, next, reason, nil))
        }
    }

    /// Recipients not tried this round: they wait for `what` (their sender's sending limit,
    /// their connection) until `until`. Not an attempt: nothing counts towards the retry
    /// schedule. Once the queue lifetime is spent, they fail instead.
    mutating func wait(_ ids: [Int], until: Date, for what: String, now: Date) {
        guard !ids.isEmpty else { return }
        guard now < expiry else {
            let reply = RemoteReply(code: 451, enhanced: "4.4.7",
                                    text: "not sent: still waiting for \(what) after \(policy.maxQueueDays) days in the queue",
                                    fromServer: false)
            return fail(ids, reply: reply, remoteMTA: nil)
        }
        deferred.append((ids, until, "waiting for \(what)", what))
    }

    /// Fails recipients without an attempt (an administrator's bounce).
    mutating func fail(_ ids: [Int], reply: RemoteReply, remoteMTA: String?) {
        for id in ids where !failedIDs.contains(id) {
            failures.append(.init(rcptid: id, reply: reply, remoteMTA: remoteMTA))
            failedIDs.insert(id)
        }
    }

    private func recipient(_ id: Int) -> OutboundMessage.Recipient? {
        message.recipients.first { $0.rcptid == id }
    }

    /// Delay warnings (`outqueue.delay_warning_hours`), once per recipient, to senders who did
    /// not turn them off with NOTIFY.
    mutating func decideWarnings(at now: Date) {
        guard policy.delayWarningHours > 0,
              now >= message.arrivedAt.addingTimeInterval(TimeInterval(policy.delayWarningHours) * 3_600) else { return }
        let waiting = Set(deferred.flatMap(\.ids))
        warned = message.recipients.filter { recipient in
            waiting.contains(recipient.rcptid) && !recipient.delayWarned
                && (recipient.notify.isEmpty || recipient.notify.contains("DELAY"))
        }.map(\.rcptid)
    }

    // MARK: Facts

    /// The facts for the message's stream, in order; notifications are decided here too.
    mutating func events() throws -> [EventData] {
        let id = message.accepted.messageID
        var events: [EventData] = try attempts.map { try EventData($0) }
        let finishing = Set(delivered.flatMap(\.ids)).union(failedIDs)
        let finishesMessage = message.finishes(finishing)
        for (index, entry) in delivered.enumerated() {
            let last = index == delivered.count - 1 && failures.isEmpty
            events.append(try EventData(Delivered(messageID: id, recipients: entry.ids, mxHost: entry.host,
                                                  messageFinished: last && finishesMessage,
                                                  receiptRequested: message.accepted.receiptRequested == true)))
        }
        for entry in deferred {
            events.append(try EventData(DeliveryDeferred(messageID: id, recipients: entry.ids, nextAttempt: entry.next,
                                                         reason: entry.reason, waitingFor: entry.waitingFor)))
        }
        if !failures.isEmpty {
            let reportID = failureReport()
            events.append(try EventData(DeliveryFailed(messageID: id, failures: failures, dsnMessageID: reportID,
                                                       messageFinished: finishesMessage)))
        }
        if !warned.isEmpty, let reportID = delayReport() {
            events.append(try EventData(DelayWarningSent(messageID: id, recipients: warned, dsnMessageID: reportID)))
        }
        successReport()
        return events
    }

    /// RFC 3461 §4.1 and §6.2: a recipient's NOTIFY decides whether its sender hears of `kind`
    /// (no NOTIFY: failures and delays only); a message from `<>` never gets a report.
    private func wants(_ recipient: OutboundMessage.Recipient, _ kind: String) -> Bool {
        guard !recipient.envelopeSender.isEmpty, !recipient.notify.contains("NEVER") else { return false }
        if recipient.notify.isEmpty { return kind != "SUCCESS" }
        return recipient.notify.contains(kind)
    }

    private mutating func failureReport() -> String? {
        let entries = failures.compactMap { failure -> DeliveryReport.Recipient? in
            guard let recipient = recipient(failure.rcptid), wants(recipient, "FAILURE") else { return nil }
            return .init(finalRecipient: recipient.address, originalRecipient: recipient.originalRecipient, action: .failed,
                         status: failure.reply.status.first == "2" ? "5.0.0" : "5" + failure.reply.status.dropFirst(),
                         remoteMTA: failure.remoteMTA, diagnostic: failure.reply, lastAttempt: attempts.last?.startedAt)
        }
        return addReports(entries)
    }

    private mutating func delayReport() -> String? {
        let entries = warned.compactMap { id -> DeliveryReport.Recipient? in
            guard let recipient = recipient(id) else { return nil }
            return .init(finalRecipient: recipient.address, originalRecipient: recipient.originalRecipient, action: .delayed,
                         status: recipient.lastReply.map { "4" + $0.status.dropFirst() } ?? "4.0.0",
                         remoteMTA: recipient.lastRemoteMTA, diagnostic: recipient.lastReply,
                         lastAttempt: attempts.last?.startedAt, willRetryUntil: expiry)
        }
        return addReports(entries)
    }

    private mutating func successReport() {
        let entries = relayed.compactMap { entry -> DeliveryReport.Recipient? in
            guard let recipient = recipient(entry.rcptid), wants(recipient, "SUCCESS") else { return nil }
            return .init(finalRecipient: recipient.address, originalRecipient: recipient.originalRecipient, action: .relayed,
                         status: "2.0.0", remoteMTA: entry.host, diagnostic: entry.reply, lastAttempt: attempts.last?.startedAt)
        }
        _ = addReports(entries)
    }

    /// One report per reverse-path; returns the id of the first.
    private mutating func addReports(_ entries: [DeliveryReport.Recipient]) -> String? {
        guard !entries.isEmpty else { return nil }
        let bySender = Dictionary(grouping: entries) { entry in
            message.recipients.first { $0.address == entry.finalRecipient }?.envelopeSender ?? message.accepted.reversePath
        }
        var first: String?
        for sender in bySender.keys.sorted() where !sender.isEmpty {
            let messageID = Self.newMessageID()
            first = first ?? messageID
            let report = DeliveryReport(
                reportingMTA: hostname, to: sender, originalMessageID: message.accepted.messageID,
                originalSubject: message.accepted.subject?.value, envelopeID: message.accepted.envelopeID,
                arrivalDate: message.arrivedAt, recipients: bySender[sender]!, original: [],
                returnFull: message.accepted.ret?.uppercased() == "FULL", date: Date(), messageID: messageID,
                boundary: "dsn-" + messageID)
            reports.append(Report(messageID: messageID, to: sender, report: report))
        }
        return first
    }

    static func newMessageID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: (0..<24).map { _ in digits[Int(generator.next() % 16)] }, as: UTF8.self)
    }
}

extension DeliveryReport {
    var subjectLine: String {
        switch recipients.first?.action ?? .failed {
        case .failed: "Undelivered Mail Returned to Sender"
        case .delayed: "Delayed Mail (still being retried)"
        case .delivered, .relayed: "Successful Mail Delivery Report"
        }
    }
}
