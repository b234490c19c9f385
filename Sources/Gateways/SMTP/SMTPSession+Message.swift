import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Routing
import SMTPWire
import WireCore

/// The message itself: DATA and BDAT into a body sink, the checks on its header section, the
/// trace lines, and the durable accept before `250`.
extension SMTPSession {
    // MARK: DATA and BDAT

    func data() async -> Outcome {
        guard var current = transaction else { return await protocolError(.c503NeedMail, details: "DATA before MAIL") }
        guard !current.usedBDAT else { return await protocolError(.c503BDATMixed, details: "DATA after BDAT") }
        guard !current.recipients.isEmpty else {
            reply(.c554NoValidRecipients)
            return .proceed
        }
        current.usedData = true
        current.bodyStarted = backend.now()
        let sink = makeSink(for: current)
        current.sink = sink
        transaction = current
        if await synchronizationViolated(after: "DATA") {
            sink.discard()
            failTransaction(.c554Synchronization)
            return .close
        }
        reply(.c354StartInput)
        var scanner = SMTPBodyScanner(mode: .data, lineLimit: policy.limits.textLineLength)
        var output: [UInt8] = []
        let limit = sizeLimit
        var tooBig = false
        var spoolFailed = false
        while true {
            let finished = input.scan(into: &scanner, output: &output)
            if scanner.error == nil && !tooBig && !spoolFailed {
                if scanner.produced > limit {
                    // Keep reading to the terminator, storing nothing more.
                    tooBig = true
                    sink.discard()
                } else {
                    do { try sink.append(output) } catch {
                        logger.error("spooling a message failed", metadata: ["error": "\(error)"])
                        spoolFailed = true
                        sink.discard()
                    }
                }
            }
            output.removeAll(keepingCapacity: true)
            if finished { break }
            transaction?.bodyBytes = Int64(scanner.produced)
            guard await receive() else {
                sink.discard()
                transaction?.failure = timedOut ? "timeout" : "disconnected"
                transaction = nil
                return .close
            }
        }
        transaction?.bodyBytes = Int64(scanner.produced)
        if let error = scanner.error {
            // The client's line endings cannot be trusted: nothing of this transaction counts,
            // and nothing more from this connection is read (SMTP smuggling).
            sink.discard()
            let response = error == .lineTooLong ? SMTPReply.c500TextLineTooLong : Self.reply(for: error)
            failTransaction(response)
            reply(response)
            await recordIDS(.syntaxError, details: "\(error) in DATA")
            return error == .lineTooLong ? .proceed : .close
        }
        if await synchronizationViolated(after: "the end of the message") {
            sink.discard()
            failTransaction(.c554Synchronization)
            return .close
        }
        if tooBig || spoolFailed {
            failTransaction(tooBig ? .c552TooBig : .c451LocalError(context.id))
            reply(tooBig ? .c552TooBig : .c451LocalError(context.id))
            if tooBig { await recordIDS(.tooBig, details: "more than \(limit) bytes") }
            return .proceed
        }
        return await complete()
    }

    /// The sink for a transaction's body, with its trace lines fixed now (RFC 5321 §4.4: the
    /// time stamp is when the message is received; the body is arriving from this moment).
    func makeSink(for transaction: Transaction) -> SMTPBodySink {
        let messageID = backend.makeNonce()
        let returnPath = "Return-Path: <\(transaction.reversePath?.description ?? "")>\r\n"
        let received = receivedHeader(messageID: messageID, recipients: transaction.recipients,
                                       smtpUTF8: transaction.parameters.smtpUTF8)
        return SMTPBodySink(messageID: messageID, trace: Array((returnPath + received).utf8),
                            returnPathLength: returnPath.utf8.count, memoryLimit: 1 << 20, spoolDirectory: backend.spoolDirectory)
    }

    func bdat(size: Int, last: Bool) async -> Outcome {
        // RFC 3030 §2: the chunk's octets follow whatever the outcome; read them first.
        let limit = sizeLimit
        var current = transaction
        let chunkFailed = current == nil || current?.usedData == true || current?.failed == true
        if var open = current, !chunkFailed {
            open.usedBDAT = true
            if open.bodyStarted == nil { open.bodyStarted = backend.now() }
            if open.scanner == nil { open.scanner = SMTPBodyScanner(mode: .chunk, lineLimit: policy.limits.textLineLength) }
            if open.sink == nil { open.sink = makeSink(for: open) }
            current = open
        }
        var remaining = size
        var output: [UInt8] = []
        var spoolFailed = false
        while remaining > 0 {
            if input.isEmpty {
                guard await receive() else {
                    transaction?.sink?.discard()
                    transaction?.failure = timedOut ? "timeout" : "disconnected"
                    transaction = nil
                    return .close
                }
                continue
            }
            let piece = input.take(upTo: remaining)
            remaining -= piece.count
            if !chunkFailed, var open = current, var scanner = open.scanner, let sink = open.sink {
                piece.withUnsafeBufferPointer { _ = scanner.scan($0, into: &output) }
                if scanner.error == nil && scanner.produced <= limit && !spoolFailed {
                    do { try sink.append(output) } catch { spoolFailed = true }
                }
                output.removeAll(keepingCapacity: true)
                open.scanner = scanner
                open.bodyBytes = Int64(scanner.produced)
                current = open
            }
        }
        guard var open = current else {
            return await protocolError(.c503NeedMail, details: "BDAT without MAIL")
        }
        if open.usedData { return await protocolError(.c503BDATMixed, details: "BDAT after DATA") }
        if chunkFailed || open.failed {
            if last { transaction = nil }
            reply(SMTPReply(554, "5.5.0", "Transaction failed earlier; send RSET"))
            return .proceed
        }
        guard !open.recipients.isEmpty else {
            open.sink?.discard()
            transaction = open
            failTransaction(.c554NoValidRecipients)
            reply(.c554NoValidRecipients)
            return .proceed
        }
        guard var scanner = open.scanner else { return .proceed }
        if last { scanner.finishChunks() }
        let failure: SMTPReply?
        if let error = scanner.error {
            failure = error == .lineTooLong ? .c500TextLineTooLong : Self.reply(for: error)
            await recordIDS(.syntaxError, details: "\(error) in BDAT")
        } else if scanner.produced > limit {
            failure = .c552TooBig
            await recordIDS(.tooBig, details: "more than \(limit) bytes")
        } else if spoolFailed {
            failure = .c451LocalError(context.id)
        } else {
            failure = nil
        }
        if let failure {
            open.sink?.discard()
            open.failed = !last
            open.failure = SMTPSessionLog.code(failure)
            transaction = open
            if last { transaction = nil }
            reply(failure)
            return .proceed
        }
        open.scanner = scanner
        transaction = open
        guard last else {
            reply(SMTPReply(250, "2.0.0", "\(size) octets received"))
            return .proceed
        }
        return await complete()
    }

    /// The body is complete: checks on its header section, then the durable accept, then 250.
    func complete() async -> Outcome {
        guard let current = transaction, let sink = current.sink else { return .proceed }
        if Self.countReceived(sink.head) >= policy.limits.maxHops {
            sink.discard()
            failTransaction(.c554TooManyHops)
            reply(.c554TooManyHops)
            return .proceed
        }
        // Quota: when every recipient is a local mailbox the message does not fit, refuse it.
        let localUsers = current.recipients.compactMap { recipient -> String? in
            if case .local(let user) = recipient.decision { return user }
            return nil
        }
        if !localUsers.isEmpty && localUsers.count == current.recipients.count {
            var checks: [StorageCheck] = []
            for user in localUsers { checks.append(await backend.storage(for: user, adding: sink.size)) }
            if !checks.contains(.fits) {
                let refusal: SMTPReply = checks.contains(.full) ? .c452MailboxFull : .c552MailboxTooSmall
                sink.discard()
                failTransaction(refusal)
                reply(refusal)
                return .proceed
            }
        }
        // RFC 6409 §8.1: the From: addresses of authenticated mail are the user's own too.
        if let user = context.authenticatedUser {
            for address in MIMEParser.summarise(sink.head).envelope.from {
                guard let mailbox = address.mailbox, let host = address.host else { continue }
                let text = "\(mailbox)@\(host)"
                if await !backend.mayUse(sender: text, user: user) {
                    sink.discard()
                    failTransaction(.c553SenderNotOwned(text))
                    reply(.c553SenderNotOwned(text))
                    return .proceed
                }
            }
        }
        let message: SMTPMessage
        do {
            var body = try sink.finish()
            var blob = sink.blob
            var size = sink.size
            if sink.containsNUL {
                // NUL octets cannot go out in IMAP's BODY[] or POP3's RETR: the parts holding them
                // are stored base64-encoded, as for an APPENDed literal8. A large (spooled) body
                // or a header with NUL is refused instead of being rewritten.
                guard case .memory(let bytes) = body else {
                    if case .spooled(let path) = body { try? FileManager.default.removeItem(atPath: path) }
                    failTransaction(.c554NULOctets)
                    reply(.c554NULOctets)
                    return .proceed
                }
                let stored = BinaryContent.storable(bytes)
                guard !stored.contains(0) else {
                    failTransaction(.c554NULOctets)
                    reply(.c554NULOctets)
                    return .proceed
                }
                body = .memory(stored)
                blob = BlobID.of(stored)
                size = stored.count
            }
            message = SMTPMessage(messageID: sink.messageID, reversePath: current.reversePath, parameters: current.parameters,
                                  recipients: current.recipients, body: body, blob: blob, size: size,
                                  returnPathLength: sink.returnPathLength, head: sink.head, refused: current.refused,
                                  bodyStarted: current.bodyStarted ?? backend.now())
        } catch {
            sink.discard()
            logger.error("finishing a spooled message failed", metadata: ["error": "\(error)"])
            failTransaction(.c451LocalError(context.id))
            reply(.c451LocalError(context.id))
            return .proceed
        }
        do {
            try await backend.accept(message, notes: notes, session: context)
            notes = []
        } catch {
            logger.error("accepting a message failed", metadata: ["error": "\(String(reflecting: error))"])
            failTransaction(.c451LocalError(context.id))
            reply(.c451LocalError(context.id))
            return .proceed
        }
        transaction?.accepted = true
        transaction = nil
        sessionLog.accepted(current.reversePath, size: Int64(message.size))
        logger.info("message accepted", metadata: [
            "message": "\(message.messageID)", "size": "\(message.size)", "recipients": "\(current.recipients.count)",
        ])
        reply(SMTPReply(250, "2.0.0", "OK queued as \(message.messageID)"))
        return .proceed
    }

    /// `Received:` lines in the header section (RFC 5321 §6.3: loop detection).
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
        header += "; \(Self.rfc5322Date(backend.now()))\r\n"
        return header
    }

    /// RFC 5322 §3.3 date-time in UTC: `Sun, 22 Nov 2026 13:45:07 +0000`.
    static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (proleptic Gregorian).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1]) \(year) \(two(secondOfDay / 3_600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) +0000"
    }
}
