import Facts
import Foundation
import Logging
import MailCore
import Projections
import Routing
import SMTPWire
import WireCore

/// One SMTP conversation (RFC 5321), from greeting to close. Reads through an `ClientTransport`,
/// decides through an `SMTPBackend`; owns nothing else. Replies to pipelined commands are
/// collected and written together before the session waits for more input (RFC 2920).
public final class SMTPSession {
    struct Transaction {
        /// Tells one transaction from the next (for the session log).
        var number: Int
        var reversePath: SMTPPath?
        var parameters: SMTPMailParameters
        var recipients: [SMTPAcceptedRecipient] = []
        var usedBDAT = false
        var usedData = false
        var sink: SMTPBodySink?
        var scanner: SMTPBodyScanner?
        /// Set once a chunk failed: later chunks are read and dropped.
        var failed = false
        /// Recipients refused so far (the first `SMTPSessionLog.refusedKept`).
        var refused: [RefusedRecipient] = []
        /// The reply that failed the transaction, kept for the session log.
        var failure: String?
        var accepted = false
        var bodyStarted: Date?
        var bodyBytes: Int64 = 0
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
    var input = LineBuffer()
    var output: [UInt8] = []
    /// The open mail transaction. Whenever one ends without its message accepted, the session
    /// log keeps it as a rejected message.
    var transaction: Transaction? {
        didSet {
            guard let old = oldValue, old.number != transaction?.number, !old.accepted else { return }
            sessionLog.ended(old, session: context, messageID: backend.makeNonce(), at: backend.now())
        }
    }
    var transactionCount = 0
    var sessionLog: SMTPSessionLog
    var lastReply: SMTPReply?
    var timedOut = false
    var authFailures = 0
    var errors = 0
    /// IDS events that score nothing, written with the next message or at the end.
    var notes: [SMTPIDSNote] = []
    /// IDS kinds already written as events in this session.
    var idsSeen = Set<IntrusionEventRecorded.Kind>()
    let implicitTLS: Bool
    /// Called once when the session's connection is over, before its record is written: frees
    /// the client's connection slot at once.
    var onClose: @Sendable () -> Void = {}

    public init(transport: ClientTransport, backend: SMTPBackend, context: SMTPSessionContext, logger: Logger) {
        self.transport = transport
        self.backend = backend
        self.context = context
        self.logger = logger
        self.policy = backend.policy()
        self.implicitTLS = context.tls != nil
        self.sessionLog = SMTPSessionLog(startedAt: backend.now())
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
                await finish(SMTPSessionLog.code(reply))
                return
            case .end:
                await finish(timedOut ? "timeout" : "disconnected")
                return
            }
            let outcome: Outcome
            let parsed = SMTPCommandParser.parse(line)
            switch parsed {
            case .success(let command):
                outcome = await handle(command)
            case .failure(let error):
                outcome = await syntaxError(error)
            }
            if case .close = outcome {
                await finish(lastReply.map { $0.code == 221 ? "" : SMTPSessionLog.code($0) } ?? "")
                return
            }
            if case .success(let command) = parsed, command.endsPipelineGroup,
               await synchronizationViolated(after: "\(command.verb)") {
                await finish(SMTPSessionLog.code(.c554Synchronization))
                return
            }
        }
    }

    /// RFC 2920 §3.1: EHLO, HELO, DATA, VRFY, EXPN, NOOP and QUIT (and the end of a message)
    /// may only end a group of pipelined commands. A client that has not authenticated and sends
    /// more before their reply went out is refused and disconnected (Postfix's
    /// `smtpd_forbid_unauth_pipelining`): it is not waiting for replies, and may be smuggling.
    func synchronizationViolated(after what: String) async -> Bool {
        guard context.authenticatedUser == nil, !input.isEmpty else { return false }
        let pending = input.count
        _ = input.discardAll()
        reply(.c554Synchronization)
        logger.notice("input pipelined behind a command that ends a group", metadata: ["after": "\(what)", "octets": "\(pending)"])
        await recordIDS(.syntaxError, details: "\(pending) octets pipelined after \(what)")
        return true
    }

    /// Ends the session: the open transaction, if any, counts as abandoned (or as failed by
    /// the reply that closed the session), and the session's record goes to the log with the
    /// IDS events still collected.
    private func finish(_ errorCode: String) async {
        onClose()
        await flush()
        await transport.close()
        if transaction != nil {
            if !errorCode.isEmpty, transaction?.failure == nil { transaction?.failure = errorCode }
            transaction = nil
        }
        let ended = sessionLog.summary(context: context, authFailures: authFailures, errorCode: errorCode, endedAt: backend.now())
        await backend.sessionEnded(ended, rejected: sessionLog.rejected, notes: notes, session: context)
        notes = []
    }

    /// Records an IDS event: the session's first of its kind at once, later ones only scored
    /// and folded into one event written with the session's end.
    func recordIDS(_ kind: IntrusionEventRecorded.Kind, details: String) async {
        let first = idsSeen.insert(kind).inserted
        let score = await backend.record(kind, details: details, session: context, append: first)
        if !first { addNote(SMTPIDSNote(kind: kind, details: details, score: score)) }
    }

    /// Keeps a note for the session's end, folding repeats so the list stays short.
    func addNote(_ note: SMTPIDSNote) {
        notes.append(note)
        if notes.count > 32 { notes = SMTPIDSNote.folded(notes) }
    }

    /// Ends the open transaction with a failure reply.
    func failTransaction(_ reply: SMTPReply) {
        transaction?.failure = SMTPSessionLog.code(reply)
        transaction = nil
    }

    // MARK: Input and output

    enum LineResult {
        case line(ArraySlice<UInt8>)
        case error(SMTPReply)
        case end
    }

    func reply(_ reply: SMTPReply) {
        output.append(contentsOf: reply.bytes)
        lastReply = reply
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
            timedOut = true
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

    static func reply(for error: LineError) -> SMTPReply {
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
        case .badSenderAddress(let text): response = .c501Address(text, sender: true)
        case .badParameter(let text): response = SMTPReply(555, "5.5.4", "Parameter not recognized: \(text)")
        }
        return await protocolError(response, details: "\(response.code) \(response.lines.joined())")
    }

    /// An out-of-sequence or malformed command: the reply, IDS event 9, and after too many the end.
    func protocolError(_ response: SMTPReply, details: String) async -> Outcome {
        reply(response)
        errors += 1
        await recordIDS(.syntaxError, details: details)
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
        var parameters = parameters
        // RFC 4954 §5: AUTH= from a client that has not authenticated and is not trusted counts as AUTH=<>.
        if context.authenticatedUser == nil && !policy.relayNetworks.allows(context.clientIP) { parameters.auth = nil }
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
                sessionLog.refusedAtMail(path, size: Int64(size), reply: .c552TooBig, session: context, messageID: backend.makeNonce())
                await recordIDS(.tooBig, details: "declared SIZE=\(size), limit \(sizeLimit)")
                return .proceed
            }
        }
        // RFC 6409 §8.1: an authenticated client sends as one of its user's own addresses.
        if let user = context.authenticatedUser, let path, !(await backend.mayUse(sender: path.description, user: user)) {
            reply(.c553SenderNotOwned(path.description))
            sessionLog.refusedAtMail(path, size: 0, reply: .c553SenderNotOwned(path.description), session: context,
                                     messageID: backend.makeNonce())
            return .proceed
        }
        transactionCount += 1
        transaction = Transaction(number: transactionCount, reversePath: path, parameters: parameters)
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
        if case .local(let user) = decision {
            switch await backend.storage(for: user, adding: current.parameters.size ?? 0) {
            case .fits: break
            case .full:
                refuse(path, .mailboxFull, .c452MailboxFull)
                return .proceed
            case .tooBig:
                refuse(path, .mailboxFull, .c552MailboxTooSmall)
                return .proceed
            }
        }
        switch decision {
        case .local, .list, .discard, .remote:
            if case .local = decision {
                addNote(SMTPIDSNote(kind: .goodLocalRecipient, details: "<\(path)>"))
            } else if case .list = decision {
                addNote(SMTPIDSNote(kind: .goodLocalRecipient, details: "<\(path)>"))
            } else if case .remote = decision, context.authenticatedUser == nil {
                addNote(SMTPIDSNote(kind: .relayAllowed, details: "<\(path)>"))
            }
            current.recipients.append(SMTPAcceptedRecipient(path: path, parameters: parameters, decision: decision))
            transaction = current
            sessionLog.tally(current.reversePath) { $0.validRecipients += 1 }
            reply(.c250RecipientOK)
        case .unknownLocal:
            refuse(path, .unknownLocal, .c550UnknownUser)
            await recordIDS(.badLocalRecipient, details: "<\(path)>")
        case .relayDenied:
            refuse(path, .relayDenied, .c550RelayDenied)
            await recordIDS(.relayDenied, details: "<\(path)>")
        case .internetMailNotAllowed:
            refuse(path, .notAllowed, .c550NoInternetMail)
        }
        return .proceed
    }

    func refuse(_ path: SMTPPath, _ reason: RefusedRecipient.Reason, _ response: SMTPReply) {
        reply(response)
        guard var current = transaction else { return }
        if current.refused.count < SMTPSessionLog.refusedKept {
            current.refused.append(RefusedRecipient(address: path.description, reason: reason, reply: SMTPSessionLog.code(response)))
        }
        current.failure = SMTPSessionLog.code(response)
        transaction = current
        sessionLog.tally(current.reversePath) {
            if reason == .relayDenied { $0.relayDenied += 1 } else { $0.invalidRecipients += 1 }
        }
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
        case .list(let name): reply(SMTPReply(250, "2.1.5", "list \(name) <\(path)>"))
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
            await recordIDS(.syntaxError, details: "commands pipelined after STARTTLS")
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
                await recordIDS(.syntaxError, details: "commands pipelined after STARTTLS")
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
        var initialBytes: [UInt8]?
        if let initial {
            guard let decoded = Base64.decode(Array(initial.utf8)) else {
                reply(.c501AuthMalformed)
                return .proceed
            }
            initialBytes = decoded
        }
        let backend = self.backend
        let authLineLength = policy.limits.authLineLength
        let channel = SASLDriver.Channel(
            challenge: { bytes in
                self.reply(SMTPReply(334, nil, Base64.encode(bytes)))
                switch await self.nextLine(limit: authLineLength) {
                case .line(let line): return line
                case .error(let reply):
                    self.reply(reply)
                    return nil
                case .end:
                    return nil
                }
            },
            checkPassword: { await backend.checkPassword(user: $0, password: $1) != nil },
            credentials: { await backend.credentials(user: $0, mechanism: $1) })
        switch await SASLDriver.run(mechanism, hostname: hostname, nonce: backend.makeNonce(), initial: initialBytes,
                                    over: channel) {
        case .succeeded(let user):
            guard let record = await backend.user(named: user), !record.lockedOut, record.protocols.contains(.smtp) else {
                return await authFailed(user: user, reason: "not allowed to use SMTP")
            }
            context.authenticatedUser = record
            sessionLog.authSuccesses += 1
            logger.info("authenticated", metadata: ["user": "\(record.name)", "mechanism": "\(mechanism.rawValue)"])
            reply(.c235Authenticated)
            return .proceed
        case .failed(.cancelled):
            reply(.c501AuthCancelled)
            return .proceed
        case .failed(.malformed):
            return await authFailed(user: nil, reason: "malformed \(mechanism.rawValue) exchange")
        case .failed(.badCredentials):
            return await authFailed(user: nil, reason: "bad credentials (\(mechanism.rawValue))")
        case .malformedLine:
            reply(.c501AuthMalformed)
            return .proceed
        case .connectionEnded:
            return .close
        }
    }

    func authFailed(user: String?, reason: String) async -> Outcome {
        authFailures += 1
        reply(.c535BadCredentials)
        await recordIDS(.authenticationFailure, details: reason)
        if authFailures >= policy.limits.maxAuthFailures {
            reply(.c421TooManyAuthFailures)
            return .close
        }
        // The login IPS blocked this address with that failure: the session ends now.
        if backend.isBlocked(context.clientIP) {
            reply(.c421Blocked)
            return .close
        }
        return .proceed
    }
}
