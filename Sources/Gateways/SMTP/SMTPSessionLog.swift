import Facts
import Foundation
import Metrics
import Projections
import Routing
import SMTPWire
import WireCore

/// What an SMTP session did, for `session_ended` and `message_rejected`: counters per sender
/// domain, and the transactions that ended without a message accepted.
struct SMTPSessionLog {
    /// Refused recipients kept per transaction; the rest are only counted.
    static let refusedKept = 100
    /// Rejected transactions kept per session; the rest are only counted.
    static let rejectedKept = 100

    let startedAt: Date
    var authSuccesses = 0
    var messages = 0
    var bytes: Int64 = 0
    /// In the order the domains first appeared.
    private(set) var senders: [SessionEnded.SenderTally] = []
    private(set) var rejected: [MessageRejected] = []

    init(startedAt: Date) {
        self.startedAt = startedAt
    }

    /// `550 5.1.1`: a reply's codes, the way the logs show it.
    static func code(_ reply: SMTPReply) -> String {
        reply.enhanced.map { "\(reply.code) \($0)" } ?? String(reply.code)
    }

    static func domain(_ path: SMTPPath?) -> String {
        guard let path else { return "" }
        let text = path.description
        guard let at = text.lastIndex(of: "@") else { return "" }
        return text[text.index(after: at)...].lowercased()
    }

    mutating func tally(_ sender: SMTPPath?, _ change: (inout SessionEnded.SenderTally) -> Void) {
        let domain = Self.domain(sender)
        if let index = senders.firstIndex(where: { $0.domain == domain }) {
            change(&senders[index])
        } else {
            var tally = SessionEnded.SenderTally(domain: domain)
            change(&tally)
            senders.append(tally)
        }
    }

    mutating func accepted(_ sender: SMTPPath?, size: Int64) {
        messages += 1
        bytes += size
        tally(sender) {
            $0.messages += 1
            $0.bytes += size
        }
    }

    /// A transaction that ended without its message accepted.
    mutating func ended(_ transaction: SMTPStateMachine.Transaction, session: SMTPSessionContext, messageID: String, at now: Date) {
        guard !transaction.recipients.isEmpty || !transaction.refused.isEmpty || transaction.bodyStarted != nil else {
            // MAIL FROM and nothing else: no message to speak of.
            return
        }
        let processing = transaction.bodyStarted.map { max(0, now.timeIntervalSince($0)) } ?? 0
        add(MessageRejected(
            messageID: messageID, sessionID: session.id, service: session.service.rawValue, clientIP: session.clientIP,
            authUser: session.authenticatedUser?.name, reversePath: transaction.reversePath?.description ?? "",
            recipients: transaction.recipients.compactMap(Self.recipient), refused: transaction.refused,
            size: transaction.bodyBytes, errorCode: transaction.failure ?? "abandoned", processingTime: processing,
            spf: transaction.spf?.result, dkim: transaction.dkim, dmarc: transaction.dmarc))
    }

    /// A MAIL FROM refused for its declared size.
    mutating func refusedAtMail(_ sender: SMTPPath?, size: Int64, reply: SMTPReply, session: SMTPSessionContext, messageID: String) {
        add(MessageRejected(
            messageID: messageID, sessionID: session.id, service: session.service.rawValue, clientIP: session.clientIP,
            authUser: session.authenticatedUser?.name, reversePath: sender?.description ?? "", recipients: [], refused: [],
            size: size, errorCode: Self.code(reply), processingTime: 0))
    }

    private mutating func add(_ message: MessageRejected) {
        Counter(label: "pillarbox_messages_rejected_total", dimensions: [("service", message.service)]).increment()
        if rejected.count < Self.rejectedKept { rejected.append(message) }
    }

    static func recipient(_ accepted: SMTPAcceptedRecipient) -> MessageAccepted.Recipient? {
        let address = accepted.path.description
        switch accepted.decision {
        case .local(let user): return .init(address: address, route: .local, user: user)
        case .list(let name): return .init(address: address, route: .list, list: name)
        case .listServer: return .init(address: address, route: .listServer)
        case .mailCommands: return .init(address: address, route: .mailCommands)
        case .remote, .senderReturn: return .init(address: address, route: .remote)
        case .lan(let target, _): return .init(address: address, route: .lan, lan: target)
        case .discard: return .init(address: address, route: .discarded)
        case .unknownLocal, .relayDenied, .internetMailNotAllowed: return nil
        }
    }

    func summary(context: SMTPSessionContext, authFailures: Int, errorCode: String, endedAt: Date) -> SessionEnded {
        let fromLocalUser = context.service != .smtp || context.authenticatedUser != nil
        return SessionEnded(
            sessionID: context.id, kind: fromLocalUser ? .smtpInternal : .smtpIncoming, service: context.service.rawValue,
            clientIP: context.clientIP, startedAt: startedAt, duration: max(0, endedAt.timeIntervalSince(startedAt)),
            user: context.authenticatedUser?.name, helo: context.helo, tls: context.tls, errorCode: errorCode,
            messages: messages, bytes: bytes, authSuccesses: authSuccesses, authFailures: authFailures, senders: senders)
    }
}
