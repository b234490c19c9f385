import Foundation
import Logging
import MailCore
import Projections

/// One SMTP conversation (RFC 5321), from greeting to close. Reads through an `ClientTransport`,
/// decides through an `SMTPBackend`; owns nothing else. Replies to pipelined commands are
/// collected and written together before the session waits for more input (RFC 2920).
public final class SMTPSession {
    struct Transaction {
        var reversePath: SMTPPath?
        var parameters: SMTPMailParameters
        var recipients: [SMTPAcceptedRecipient] = []
        var usedBDAT = false
        var usedData = false
        var sink: SMTPBodySink?
        var scanner: SMTPBodyScanner?
        /// Set once a chunk failed: later chunks are read and dropped.
        var failed = false
    }

    enum Outcome {
        case proceed
        case close
    }

    let transport: ClientTransport
    let backend: SMTPBackend
    var context: SMTPSessionContext
    var logger: Logger
    var policy: SMTPPolicy
    var input = SMTPInput()
    var output: [UInt8] = []
    var transaction: Transaction?
    var authFailures = 0
    var errors = 0
    /// IDS events that score nothing, written with the next message or at the end.
    var notes: [SMTPIDSNote] = []
    let implicitTLS: Bool

    public init(transport: ClientTransport, backend: SMTPBackend, context: SMTPSessionContext, logger: Logger) {
        self.transport = transport
        self.backend = backend
        self.context = context
        self.logger = logger
        self.policy = backend.policy()
        self.implicitTLS = context.tls != nil
        self.logger[metadataKey: "session"] = "\(context.id)"
        self.logger[metadataKey: "client"] = "\(context.clientIP)"
    }

    var hostname: String { backend.hostname }

    /// Runs the conversation to its end; never throws (failures become replies and a close).
    public func run() async {
        reply(SMTPReply(220, nil, "\(hostname) ESMTP Pillarbox ready"))
        while true {
            let line: ArraySlice<UInt8>
            switch await nextLine(limit: policy.limits.commandLineLength) {
            case .line(let bytes): line = bytes
            case .error(let reply):
                self.reply(reply)
                await finish()
                return
            case .end:
                await finish()
                return
            }
            let outcome: Outcome
            switch SMTPCommandParser.parse(line) {
            case .success(let command):
                outcome = await handle(command)
            case .failure(let error):
                outcome = await syntaxError(error)
            }
            if case .close = outcome {
                await finish()
                return
            }
        }
    }

    private func finish() async {
        await flush()
        await transport.close()
        if !notes.isEmpty { await backend.record(notes, session: context) }
    }

    // MARK: Input and output

    enum LineResult {
        case line(ArraySlice<UInt8>)
        case error(SMTPReply)
        case end
    }

    func reply(_ reply: SMTPReply) {
        output.append(contentsOf: reply.bytes)
    }

    func flush() async {
        guard !output.isEmpty else { return }
        let bytes = output
        output = []
        do { try await transport.write(bytes) } catch {
            logger.debug("write failed", metadata: ["error": "\(error)"])
        }
    }

    /// Waits for more input; false when the connection ended or timed out (a reply is queued).
    func receive() async -> Bool {
        await flush()
        switch await transport.read() {
        case .bytes(let bytes):
            input.append(bytes)
            return true
        case .tlsStarted:
            // Only expected right after STARTTLS, which handles it itself.
            return true
        case .timedOut:
            reply(.c421Timeout(hostname))
            return false
        case .closed:
            return false
        }
    }

    func nextLine(limit: Int) async -> LineResult {
        while true {
            do {
                if let line = try input.nextLine(limit: limit) { return .line(line) }
            } catch {
                return .error(Self.reply(for: error))
            }
            guard await receive() else { return .end }
        }
    }

    static func reply(for error: SMTPInputError) -> SMTPReply {
        switch error {
        case .bareLineFeed: .c500BareLineFeed
        case .bareCarriageReturn: .c500BareCarriageReturn
        case .lineTooLong: .c500LineTooLong
        }
    }

    // MARK: Commands

    func handle(_ command: SMTPCommand) async -> Outcome {
        switch command {
        case .helo(let name): return await hello(name, extended: false)
        case .ehlo(let name): return await hello(name, extended: true)
        case .mail(let path, let parameters): return await mail(path, parameters)
        case .rcpt(let path, let parameters): return await recipient(path, parameters)
        case .data: return await data()
        case .bdat(let size, let last): return await bdat(size: size, last: last)
        case .rset:
            transaction = nil
            reply(.c250Reset)
            return .proceed
        case .noop:
            reply(.c250OK)
            return .proceed
        case .quit:
            reply(.c221Closing(hostname))
            return .close
        case .help:
            reply(SMTPReply(214, "2.0.0", ["Pillarbox SMTP; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN STARTTLS AUTH",
                                           "See RFC 5321"]))
            return .proceed
        case .vrfy(let text): return await verify(text, expand: false)
        case .expn(let text): return await verify(text, expand: true)
        case .startTLS: return await startTLS()
        case .auth(let mechanism, let initial): return await authenticate(mechanism, initial)
        }
    }

    func syntaxError(_ error: SMTPSyntaxError) async -> Outcome {
        let response: SMTPReply
        switch error {
        case .unknownCommand: response = .c500UnknownCommand
        case .badArguments(let text): response = .c501Syntax(text)
        case .badAddress(let text): response = .c501Address(text, sender: false)
        case .badParameter(let text): response = SMTPReply(555, "5.5.4", "Parameter not recognized: \(text)")
        }
        return await protocolError(response, details: "\(response.code) \(response.lines.joined())")
    }

    /// An out-of-sequence or malformed command: the reply, IDS event 9, and after too many the end.
    func protocolError(_ response: SMTPReply, details: String) async -> Outcome {
        reply(response)
        errors += 1
        await backend.record(.syntaxError, details: details, session: context)
        if errors >= policy.limits.maxErrors {
            reply(SMTPReply(421, "4.7.0", "Too many errors, closing connection"))
            return .close
        }
        return .proceed
    }

    func hello(_ name: String, extended: Bool) async -> Outcome {
        let lowered = name.lowercased()
        if policy.refuseHelo.contains(where: { !$0.isEmpty && lowered.contains($0.lowercased()) }) {
            reply(.c554HeloRefused)
            return .close
        }
        policy = backend.policy()
        context.helo = name
        context.esmtp = extended
        transaction = nil
        guard extended else {
            reply(SMTPReply(250, nil, "\(hostname) Hello \(name) [\(context.clientIP)]"))
            return .proceed
        }
        var lines = ["\(hostname) Hello \(name) [\(context.clientIP)]", "PIPELINING", "SIZE \(policy.limits.maxMessageSize)",
                     "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"]
        if policy.dsn { lines.append("DSN") }
        if context.tls == nil && transport.tlsAvailable { lines.append("STARTTLS") }
        if context.authenticatedUser == nil, mayAuthenticate {
            lines.append("AUTH " + offeredMechanisms.map(\.rawValue).joined(separator: " "))
        }
        if policy.vrfyEnabled { lines.append("VRFY") }
        lines.append("HELP")
        reply(SMTPReply(250, nil, lines))
        return .proceed
    }

    var mayAuthenticate: Bool { context.tls != nil || policy.authWithoutTLS }

    var offeredMechanisms: [SASLMechanism] {
        SASLMechanism.allCases.filter { $0 != .cramMD5 || policy.cramMD5 }
    }

    func mail(_ path: SMTPPath?, _ parameters: SMTPMailParameters) async -> Outcome {
        guard context.helo != nil else { return await protocolError(.c503NeedHello, details: "MAIL before HELO") }
        guard transaction == nil else { return await protocolError(.c503NestedMail, details: "nested MAIL") }
        if context.service != .smtp && context.authenticatedUser == nil {
            reply(context.tls == nil && !policy.authWithoutTLS ? .c530TLSRequired : .c530AuthRequired)
            return .proceed
        }
        policy = backend.policy()
        if path?.isInternationalised == true && !parameters.smtpUTF8 {
            reply(SMTPReply(553, "5.6.7", "Non-ASCII sender address requires the SMTPUTF8 parameter"))
            return .proceed
        }
        if !policy.dsn && (parameters.ret != nil || parameters.envelopeID != nil) {
            reply(.c555BadParameter)
            return .proceed
        }
        if let size = parameters.size {
            // RFC 1870 §6.1: refuse a declared size above the limit at MAIL FROM.
            if size > sizeLimit {
                reply(.c552TooBig)
                await backend.record(.tooBig, details: "declared SIZE=\(size), limit \(sizeLimit)", session: context)
                return .proceed
            }
        }
        transaction = Transaction(reversePath: path, parameters: parameters)
        reply(.c250SenderOK)
        return .proceed
    }

    /// The service limit, or the authenticated user's lower "max outgoing message size".
    var sizeLimit: Int {
        let userLimit = context.authenticatedUser.map { Int($0.maxOutgoingSize) } ?? 0
        return userLimit > 0 ? min(userLimit, policy.limits.maxMessageSize) : policy.limits.maxMessageSize
    }

    func recipient(_ path: SMTPPath, _ parameters: SMTPRecipientParameters) async -> Outcome {
        guard var current = transaction else { return await protocolError(.c503NeedMail, details: "RCPT before MAIL") }
        guard current.recipients.count < policy.limits.maxRecipients else {
            reply(.c452TooManyRecipients)
            return .proceed
        }
        if path.isInternationalised && !current.parameters.smtpUTF8 {
            reply(.c553NeedsSMTPUTF8)
            return .proceed
        }
        if !policy.dsn && (!parameters.notify.isEmpty || parameters.originalRecipient != nil) {
            reply(.c555BadParameter)
            return .proceed
        }
        let decision = await backend.resolve(path, session: context, policy: policy)
        switch decision {
        case .local, .discard, .remote:
            if case .local = decision {
                notes.append(SMTPIDSNote(kind: .goodLocalRecipient, details: "<\(path)>"))
            } else if case .remote = decision, context.authenticatedUser == nil {
                notes.append(SMTPIDSNote(kind: .relayAllowed, details: "<\(path)>"))
            }
            current.recipients.append(SMTPAcceptedRecipient(path: path, parameters: parameters, decision: decision))
            transaction = current
            reply(.c250RecipientOK)
        case .unknownLocal:
            reply(.c550UnknownUser)
            await backend.record(.badLocalRecipient, details: "<\(path)>", session: context)
        case .relayDenied:
            reply(.c550RelayDenied)
            await backend.record(.relayDenied, details: "<\(path)>", session: context)
        case .internetMailNotAllowed:
            reply(.c550NoInternetMail)
        }
        return .proceed
    }

    // MARK: DATA and BDAT

    func data() async -> Outcome {
        guard var current = transaction else { return await protocolError(.c503NeedMail, details: "DATA before MAIL") }
        guard !current.usedBDAT else { return await protocolError(.c503BDATMixed, details: "DATA after BDAT") }
        guard !current.recipients.isEmpty else {
            reply(.c554NoValidRecipients)
            return .proceed
        }
        current.usedData = true
        let sink = makeSink(for: current)
        current.sink = sink
        transaction = current
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
            guard await receive() else {
                sink.discard()
                transaction = nil
                return .close
            }
        }
        if let error = scanner.error {
            // The client's line endings cannot be trusted: nothing of this transaction counts,
            // and nothing more from this connection is read (SMTP smuggling).
            sink.discard()
            transaction = nil
            reply(error == .lineTooLong ? .c500TextLineTooLong : Self.reply(for: error))
            await backend.record(.syntaxError, details: "\(error) in DATA", session: context)
            return error == .lineTooLong ? .proceed : .close
        }
        if tooBig || spoolFailed {
            transaction = nil
            reply(tooBig ? .c552TooBig : .c451LocalError(context.id))
            if tooBig { await backend.record(.tooBig, details: "more than \(limit) bytes", session: context) }
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
            transaction = nil
            reply(.c554NoValidRecipients)
            return .proceed
        }
        guard var scanner = open.scanner else { return .proceed }
        if last { scanner.finishChunks() }
        let failure: SMTPReply?
        if let error = scanner.error {
            failure = error == .lineTooLong ? .c500TextLineTooLong : Self.reply(for: error)
            await backend.record(.syntaxError, details: "\(error) in BDAT", session: context)
        } else if scanner.produced > limit {
            failure = .c552TooBig
            await backend.record(.tooBig, details: "more than \(limit) bytes", session: context)
        } else if spoolFailed {
            failure = .c451LocalError(context.id)
        } else {
            failure = nil
        }
        if let failure {
            open.sink?.discard()
            open.failed = !last
            transaction = last ? nil : open
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
        transaction = nil
        if Self.countReceived(sink.head) >= policy.limits.maxHops {
            sink.discard()
            reply(.c554TooManyHops)
            return .proceed
        }
        let message: SMTPMessage
        do {
            let body = try sink.finish()
            message = SMTPMessage(messageID: sink.messageID, reversePath: current.reversePath, parameters: current.parameters,
                                  recipients: current.recipients, body: body, blob: sink.blob, size: sink.size,
                                  returnPathLength: sink.returnPathLength, head: sink.head)
        } catch {
            sink.discard()
            logger.error("finishing a spooled message failed", metadata: ["error": "\(error)"])
            reply(.c451LocalError(context.id))
            return .proceed
        }
        do {
            try await backend.accept(message, notes: notes, session: context)
            notes = []
        } catch {
            logger.error("accepting a message failed", metadata: ["error": "\(String(reflecting: error))"])
            reply(.c451LocalError(context.id))
            return .proceed
        }
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

    // MARK: VRFY, EXPN

    func verify(_ text: String, expand: Bool) async -> Outcome {
        guard policy.vrfyEnabled else {
            reply(.c502VRFYDisabled)
            return .proceed
        }
        guard policy.vrfyNetworks.allows(context.clientIP) else {
            reply(.c550VRFYNotAllowed)
            return .proceed
        }
        var argument = text
        if argument.hasPrefix("<") && argument.hasSuffix(">") { argument = String(argument.dropFirst().dropLast()) }
        if expand {
            let name = argument.split(separator: "@").first.map(String.init) ?? argument
            guard let members = await backend.expand(name) else {
                reply(SMTPReply(550, "5.1.1", "No such list"))
                return .proceed
            }
            reply(SMTPReply(250, "2.1.5", members.isEmpty ? ["(no members)"] : members.map { "<\($0)>" }))
            return .proceed
        }
        let address = argument.contains("@") ? argument : argument + "@" + "localhost"
        var cursor = ByteCursor(Array("<\(address)>".utf8))
        guard let path = try? SMTPPathParser.parse(&cursor, allowPostmaster: false) else {
            reply(.c252CannotVerify)
            return .proceed
        }
        switch await backend.resolve(path, session: context, policy: policy) {
        case .local(let user): reply(SMTPReply(250, "2.1.5", "\(user) <\(path)>"))
        case .unknownLocal: reply(.c550UnknownUser)
        default: reply(.c252CannotVerify)
        }
        return .proceed
    }

    // MARK: STARTTLS

    func startTLS() async -> Outcome {
        guard context.tls == nil else { return await protocolError(.c503TLSActive, details: "STARTTLS inside TLS") }
        guard transport.tlsAvailable else {
            reply(.c454TLSUnavailable)
            return .proceed
        }
        // RFC 3207 §5 / CVE-2011-0411: anything pipelined after STARTTLS was sent in plain
        // text and must never run inside TLS. Refuse the upgrade if it is there now.
        guard input.isEmpty else {
            input.discardAll()
            reply(.c554TLSInjection)
            await backend.record(.syntaxError, details: "commands pipelined after STARTTLS", session: context)
            return .close
        }
        await flush()
        do {
            try await transport.startTLS(reply: SMTPReply.c220ReadyForTLS.bytes)
        } catch {
            return .close
        }
        // Anything that arrives before the TLS marker was sent in plain text after STARTTLS.
        while true {
            switch await transport.read() {
            case .bytes:
                await backend.record(.syntaxError, details: "commands pipelined after STARTTLS", session: context)
                return .close
            case .tlsStarted(let version):
                input.discardAll()
                // RFC 3207 §4.2: forget everything learnt before TLS.
                context.tls = version ?? "TLS"
                context.helo = nil
                context.esmtp = false
                context.authenticatedUser = nil
                transaction = nil
                return .proceed
            case .timedOut, .closed:
                return .close
            }
        }
    }

    // MARK: AUTH

    func authenticate(_ name: String, _ initial: String?) async -> Outcome {
        guard context.helo != nil else { return await protocolError(.c503NeedHello, details: "AUTH before EHLO") }
        guard context.authenticatedUser == nil else { return await protocolError(.c503AlreadyAuthenticated, details: "second AUTH") }
        guard transaction == nil else { return await protocolError(.c503AuthInTransaction, details: "AUTH in a transaction") }
        guard let mechanism = SASLMechanism(rawValue: name), offeredMechanisms.contains(mechanism) else {
            reply(.c504UnknownMechanism)
            return .proceed
        }
        guard mayAuthenticate else {
            reply(.c538EncryptionRequired)
            return .proceed
        }
        var exchange = SASLExchange(mechanism: mechanism, hostname: hostname, nonce: backend.makeNonce())
        var initialBytes: [UInt8]?
        if let initial {
            guard let decoded = Base64.decode(Array(initial.utf8)) else {
                reply(.c501AuthMalformed)
                return .proceed
            }
            initialBytes = decoded
        }
        var step = exchange.start(initial: initialBytes)
        while true {
            switch step {
            case .challenge(let bytes):
                reply(SMTPReply(334, nil, Base64.encode(bytes)))
                let line: ArraySlice<UInt8>
                switch await nextLine(limit: policy.limits.authLineLength) {
                case .line(let bytes): line = bytes
                case .error(let reply):
                    self.reply(reply)
                    return .close
                case .end:
                    return .close
                }
                switch SMTPCommandParser.saslResponse(line) {
                case .data(let data): step = exchange.respond(data)
                case .cancel: step = exchange.cancel()
                case .malformed:
                    reply(.c501AuthMalformed)
                    return .proceed
                }
            case .checkPassword(let user, let password):
                let record = await backend.checkPassword(user: user, password: password)
                step = exchange.passwordChecked(record != nil)
            case .needCredentials(let user):
                step = exchange.credentials(await backend.credentials(user: user, mechanism: mechanism))
            case .success(let user):
                guard let record = await backend.user(named: user), !record.lockedOut, record.protocols.contains(.smtp) else {
                    return await authFailed(user: user, reason: "not allowed to use SMTP")
                }
                context.authenticatedUser = record
                logger.info("authenticated", metadata: ["user": "\(record.name)", "mechanism": "\(mechanism.rawValue)"])
                reply(.c235Authenticated)
                return .proceed
            case .failure(.cancelled):
                reply(.c501AuthCancelled)
                return .proceed
            case .failure(.malformed):
                return await authFailed(user: nil, reason: "malformed \(mechanism.rawValue) exchange")
            case .failure(.badCredentials):
                return await authFailed(user: nil, reason: "bad credentials (\(mechanism.rawValue))")
            }
        }
    }

    func authFailed(user: String?, reason: String) async -> Outcome {
        authFailures += 1
        reply(.c535BadCredentials)
        await backend.record(.authenticationFailure, details: reason, session: context)
        if authFailures >= policy.limits.maxAuthFailures {
            reply(.c421TooManyAuthFailures)
            return .close
        }
        return .proceed
    }
}
