import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Routing
import SMTPWire
import WireCore

/// The message: DATA and BDAT, the checks on its header section, the trace lines, and the
/// durable accept before 250.
extension SMTPStateMachine {
    mutating func data(buffered: Int) {
        guard var current = transaction else { return protocolError(.c503NeedMail, details: "DATA before MAIL") }
        guard !current.usedBDAT else { return protocolError(.c503BDATMixed, details: "DATA after BDAT") }
        guard !current.recipients.isEmpty else {
            reply(.c554NoValidRecipients)
            return then(.proceed)
        }
        current.usedData = true
        current.bodyStarted = environment.now()
        openBody(&current)
        transaction = current
        if synchronizationViolated(after: "DATA", buffered: buffered,
                                   then: .closeWith(SMTPSessionLog.code(.c554Synchronization))) {
            failTransaction(.c554Synchronization)
            return
        }
        reply(.c354StartInput)
        let limit = sizeLimit
        ask(.dataBody(limit: limit), .readBody(.data(limit: limit, lineLimit: policy.limits.textLineLength)))
    }

    /// Opens the transaction's body, with its trace lines fixed now (RFC 5321 §4.4: the time
    /// stamp is when the message is received; the body is arriving from this moment).
    mutating func openBody(_ transaction: inout Transaction) {
        let messageID = environment.makeID()
        let returnPath = "Return-Path: <\(transaction.reversePath?.description ?? "")>\r\n"
        // Results of the checks on mail from outside go above this line once the message is in.
        let received = receivedHeader(messageID: messageID, recipients: transaction.recipients,
                                      smtpUTF8: transaction.parameters.smtpUTF8)
        transaction.bodyOpen = true
        transaction.messageID = messageID
        transaction.returnPathLength = returnPath.utf8.count
        actions.append(.openBody(messageID: messageID, trace: Array((returnPath + received).utf8),
                                 returnPathLength: returnPath.utf8.count))
    }

    mutating func dataRead(_ read: BodyRead, limit: Int) {
        guard case .read(let error, let produced, let spoolFailed, let buffered) = read else { return bodyEnded(read) }
        transaction?.bodyBytes = Int64(produced)
        if let error {
            // The client's line endings cannot be trusted: nothing of this transaction counts,
            // and nothing more from this connection is read (SMTP smuggling).
            let response = error == .lineTooLong ? SMTPReply.c500TextLineTooLong : Self.reply(for: error)
            failTransaction(response)
            reply(response)
            return recordIDS(.syntaxError, details: "\(error) in DATA", then: error == .lineTooLong ? .proceed : .close)
        }
        if synchronizationViolated(after: "the end of the message", buffered: buffered,
                                   then: .closeWith(SMTPSessionLog.code(.c554Synchronization))) {
            failTransaction(.c554Synchronization)
            return
        }
        let tooBig = produced > limit
        if tooBig || spoolFailed {
            let response: SMTPReply = tooBig ? .c552TooBig : .c451LocalError(context.id)
            failTransaction(response)
            reply(response)
            if tooBig { return recordIDS(.tooBig, details: "more than \(limit) bytes", then: .proceed) }
            return then(.proceed)
        }
        complete()
    }

    /// The connection ended while a body was being read: the transaction with it.
    mutating func bodyEnded(_ read: BodyRead) {
        let timedOut = read == .connectionEnded(timedOut: true)
        if timedOut { reply(.c421Timeout(hostname)) }
        transaction?.failure = timedOut ? "timeout" : "disconnected"
        transaction = nil
        then(.close)
    }

    mutating func bdat(size: Int, last: Bool) {
        // RFC 3030 §2: the chunk's octets follow whatever the outcome; read them first.
        let limit = sizeLimit
        let failedBefore = transaction == nil || transaction?.usedData == true || transaction?.failed == true
        if var open = transaction, !failedBefore {
            open.usedBDAT = true
            if open.bodyStarted == nil { open.bodyStarted = environment.now() }
            if !open.bodyOpen { openBody(&open) }
            transaction = open
        }
        ask(.chunk(size: size, last: last, limit: limit, failedBefore: failedBefore),
              .readBody(.chunk(size: size, last: last, limit: limit, lineLimit: policy.limits.textLineLength, store: !failedBefore)))
    }

    mutating func chunkRead(_ read: BodyRead, size: Int, last: Bool, limit: Int, failedBefore: Bool) {
        guard case .read(let error, let produced, let spoolFailed, _) = read else { return bodyEnded(read) }
        guard var open = transaction else { return protocolError(.c503NeedMail, details: "BDAT without MAIL") }
        if open.usedData { return protocolError(.c503BDATMixed, details: "BDAT after DATA") }
        if failedBefore || open.failed {
            if last { transaction = nil }
            reply(SMTPReply(554, "5.5.0", "Transaction failed earlier; send RSET"))
            return then(.proceed)
        }
        open.bodyBytes = Int64(produced)
        guard !open.recipients.isEmpty else {
            transaction = open
            failTransaction(.c554NoValidRecipients)
            reply(.c554NoValidRecipients)
            return then(.proceed)
        }
        var failure: SMTPReply?
        var ids: (IntrusionEventRecorded.Kind, String)?
        if let error {
            failure = error == .lineTooLong ? .c500TextLineTooLong : Self.reply(for: error)
            ids = (.syntaxError, "\(error) in BDAT")
        } else if produced > limit {
            failure = .c552TooBig
            ids = (.tooBig, "more than \(limit) bytes")
        } else if spoolFailed {
            failure = .c451LocalError(context.id)
        }
        if let failure {
            if open.bodyOpen { actions.append(.discardBody) }
            open.bodyOpen = false
            open.failed = !last
            open.failure = SMTPSessionLog.code(failure)
            transaction = open
            if last { transaction = nil }
            reply(failure)
            if let (kind, details) = ids { return recordIDS(kind, details: details, then: .proceed) }
            return then(.proceed)
        }
        transaction = open
        guard last else {
            reply(SMTPReply(250, "2.0.0", "\(size) octets received"))
            return then(.proceed)
        }
        complete()
    }

    /// The body is complete: finish it, check its header section, then the durable accept,
    /// then 250.
    mutating func complete() {
        ask(.finish, .finishBody)
    }

    mutating func bodyFinished(_ finished: FinishedBody?) {
        guard var current = transaction else { return then(.proceed) }
        current.bodyOpen = false
        transaction = current
        guard let finished else {
            failTransaction(.c451LocalError(context.id))
            reply(.c451LocalError(context.id))
            return then(.proceed)
        }
        self.finished = finished
        if Self.countReceived(finished.head) >= policy.limits.maxHops {
            return refuseFinished(.c554TooManyHops)
        }
        // Quota: when every recipient is a local mailbox the message does not fit, refuse it.
        let localUsers = current.recipients.compactMap { recipient -> String? in
            if case .local(let user) = recipient.decision { return user }
            return nil
        }
        if !localUsers.isEmpty && localUsers.count == current.recipients.count {
            return completeStorage(pending: localUsers, checks: [], size: finished.size)
        }
        checkFromAddresses()
    }

    mutating func completeStorage(pending: [String], checks: [StorageCheck], size: Int) {
        guard checks.count == pending.count else {
            return ask(.completeStorage(pending: pending, checks: checks, size: size),
                         .checkStorage(user: pending[checks.count], adding: size))
        }
        if !checks.contains(.fits) {
            return refuseFinished(checks.contains(.full) ? .c452MailboxFull : .c552MailboxTooSmall)
        }
        checkFromAddresses()
    }

    /// RFC 6409 §8.1: the From: addresses of authenticated mail are the user's own too.
    mutating func checkFromAddresses() {
        guard let user = context.authenticatedUser, let finished else { return authenticate() }
        let addresses = MIMEParser.summarise(finished.head).envelope.from.compactMap { address -> String? in
            guard let mailbox = address.mailbox, let host = address.host else { return nil }
            return "\(mailbox)@\(host)"
        }
        completeSender(pending: addresses, user: user)
    }

    mutating func completeSender(pending: [String], user: UserRecord) {
        guard let next = pending.first else { return authenticate() }
        ask(.completeSender(pending: pending, user: user), .checkSender(next, user: user))
    }

    /// Mail from outside: DKIM and DMARC over the whole message, the results (SPF's too) in
    /// an `Authentication-Results:` field above the trace line (RFC 8601), any that claim to
    /// be ours removed, and the DMARC policy applied when `smtp.dmarc_policy` is `enforce`.
    mutating func authenticate() {
        guard isFromOutside, let finished else { return store() }
        ask(.authenticate, .authenticate(finished, spf: transaction?.spf, policy: policy))
    }

    mutating func authenticated(_ result: SMTPAuthentication, _ body: FinishedBody?) {
        guard let body else {
            if case .spooled(let path) = finished?.body { actions.append(.removeSpool(path)) }
            finished = nil
            failTransaction(.c451LocalError(context.id))
            reply(.c451LocalError(context.id))
            return then(.proceed)
        }
        finished = body
        var dmarc = result.dmarc
        if policy.dmarcPolicy == "enforce", let disposition = dmarc?.disposition { dmarc?.applied = disposition }
        transaction?.dkim = result.dkim
        transaction?.arc = result.arc
        transaction?.dmarc = dmarc
        if let dmarc {
            actions.append(.log(.info, "DMARC checked", [
                "message": "\(transaction?.messageID ?? "")", "from": "\(dmarc.fromDomain)", "result": "\(dmarc.result)",
                "applied": "\(dmarc.applied)",
            ]))
        }
        if dmarc?.applied == "reject", let domain = dmarc?.fromDomain {
            // RFC 7489 §6.7 / §10.3: refuse at the end of DATA, naming the policy.
            return refuseFinished(SMTPReply(550, "5.7.1", "Message refused by the DMARC policy of \(domain)"))
        }
        store()
    }

    /// Refuses the finished message: its body is dropped.
    mutating func refuseFinished(_ response: SMTPReply) {
        if case .spooled(let path) = finished?.body { actions.append(.removeSpool(path)) }
        finished = nil
        failTransaction(response)
        reply(response)
        then(.proceed)
    }

    /// Hands the message to the backend to make durable.
    mutating func store() {
        guard let current = transaction, var finished else { return then(.proceed) }
        if finished.containsNUL {
            // NUL octets cannot go out in IMAP's BODY[] or POP3's RETR: the parts holding them
            // are stored base64-encoded, as for an APPENDed literal8. A large (spooled) body
            // or a header with NUL is refused instead of being rewritten.
            guard case .memory(let bytes) = finished.body else { return refuseFinished(.c554NULOctets) }
            let stored = BinaryContent.storable(bytes)
            guard !stored.contains(0) else { return refuseFinished(.c554NULOctets) }
            finished.body = .memory(stored)
            finished.blob = BlobID.of(stored)
            finished.size = stored.count
        }
        self.finished = nil
        let message = SMTPMessage(messageID: current.messageID, reversePath: current.reversePath, parameters: current.parameters,
                                  recipients: current.recipients, body: finished.body, blob: finished.blob, size: finished.size,
                                  returnPathLength: finished.returnPathLength, head: finished.head, refused: current.refused,
                                  bodyStarted: current.bodyStarted ?? environment.now(), spf: current.spf,
                                  dkim: current.dkim, dmarc: current.dmarc, junk: current.dmarc?.applied == "quarantine", arc: current.arc)
        ask(.accept(message), .accept(message, notes: notes, session: context))
    }

    mutating func accepted(_ message: SMTPMessage, committed: Bool) {
        guard committed else {
            failTransaction(.c451LocalError(context.id))
            reply(.c451LocalError(context.id))
            return then(.proceed)
        }
        notes = []
        transaction?.accepted = true
        let reversePath = transaction?.reversePath
        transaction = nil
        sessionLog.accepted(reversePath, size: Int64(message.size))
        actions.append(.log(.info, "message accepted", [
            "message": "\(message.messageID)", "size": "\(message.size)", "recipients": "\(message.recipients.count)",
        ]))
        reply(SMTPReply(250, "2.0.0", "OK queued as \(message.messageID)"))
        then(.proceed)
    }

    /// RFC 5321 §4.4 trace line, with RFC 3848 protocol names (RFC 6531 §4.3 for UTF8SMTP).
    func receivedHeader(messageID: String, recipients: [SMTPAcceptedRecipient], smtpUTF8: Bool) -> String {
        var protocolName = smtpUTF8 ? "UTF8SMTP" : (context.esmtp ? "ESMTP" : "SMTP")
        if context.tls != nil { protocolName += "S" }
        if context.authenticatedUser != nil { protocolName += "A" }
        if protocolName == "SMTPS" || protocolName == "SMTPA" || protocolName == "SMTPSA" { protocolName = "E" + protocolName }
        let helo = (context.helo ?? "unknown").filter { $0.isASCII && !$0.isNewline }
        var header = "Received: from \(helo) ([\(context.clientIP)])\r\n\tby \(hostname) (Pillarbox) with \(protocolName) id \(messageID)"
        var details: [String] = []
        if let tls = context.tls { details.append("using \(tls)") }
        if let user = context.authenticatedUser { details.append("authenticated as \(user.name)") }
        if !details.isEmpty { header += "\r\n\t(\(details.joined(separator: "; ")))" }
        if recipients.count == 1, let only = recipients.first {
            header += "\r\n\tfor <\(only.path)>"
        }
        header += "; \(Self.rfc5322Date(environment.now()))\r\n"
        return header
    }

    /// Received lines in a header section: RFC 5321 §6.3's loop detection.
    static func countReceived(_ body: [UInt8]) -> Int {
        var count = 0
        var index = 0
        let received = Array("received:".utf8)
        while index < body.count {
            if body[index] == 0x0D { break } // the empty line ending the header
            if body.count - index >= received.count {
                var matches = true
                for offset in 0..<received.count where SMTPGrammar.lower(body[index + offset]) != received[offset] {
                    matches = false
                    break
                }
                if matches { count += 1 }
            }
            guard let next = body[index...].firstIndex(of: 0x0A) else { break }
            index = next + 1
        }
        return count
    }

    /// RFC 5322 §3.3 date-time in UTC: `Sun, 22 Nov 2026 13:45:07 +0000`.
    static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let civil = CivilDate(days: days)
        let (year, month, day) = (civil.year, civil.month, civil.day)
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1]) \(year) \(two(secondOfDay / 3_600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) +0000"
    }
}
