import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Routing
import SMTPWire
import WireCore

/// An SMTP conversation (RFC 5321 with PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES,
/// SMTPUTF8, CHUNKING, DSN, STARTTLS and AUTH) as a state machine: each input (a command line,
/// an AUTH response, the outcome of reading a message body, the answer to a backend call, the
/// end of the input) goes in, and the actions to take come out in order: replies to send, a
/// body to read with its limit, a backend call whose answer is the next input, TLS to start,
/// the end of the session. It does no I/O; the time and fresh ids come from its `Environment`,
/// so a test fixes both. `SMTPSession` performs its actions over a connection.
struct SMTPStateMachine {
    let environment: Environment
    let hostname: String
    let tlsAvailable: Bool
    private(set) var context: SMTPSessionContext
    private(set) var policy: SMTPPolicy
    private(set) var wait = Wait.closed
    var continuation: Continuation?
    /// The pending group-ending command and what was buffered behind it.
    var groupEnd: (verb: String, buffered: Int)?
    var actions: [Action] = []
    /// The open mail transaction. Whenever one ends without its message accepted, the session
    /// log keeps it as a rejected message, and its body is dropped.
    var transaction: Transaction? {
        didSet {
            guard let old = oldValue, old.number != transaction?.number else { return }
            if old.bodyOpen && !old.accepted { actions.append(.discardBody) }
            guard !old.accepted else { return }
            sessionLog.ended(old, session: context, messageID: environment.makeID(), at: environment.now())
        }
    }
    var transactionCount = 0
    /// The finished body of the message being checked and accepted.
    var finished: FinishedBody?
    var sessionLog: SMTPSessionLog
    var lastReply: SMTPReply?
    var authFailures = 0
    var errors = 0
    /// IDS events that score nothing, written with the next message or at the end.
    var notes: [SMTPIDSNote] = []
    /// IDS kinds already written as events in this session.
    var idsSeen = Set<IntrusionEventRecorded.Kind>()

    init(context: SMTPSessionContext, hostname: String, tlsAvailable: Bool, environment: Environment) {
        self.context = context
        self.hostname = hostname
        self.tlsAvailable = tlsAvailable
        self.environment = environment
        policy = environment.policy()
        sessionLog = SMTPSessionLog(startedAt: environment.now())
    }

    /// Whether the session has ended (`wait` is `.closed` before the greeting too).
    private(set) var isClosed = false

    // MARK: Input

    mutating func receive(_ input: Input) -> [Action] {
        guard !isClosed else { return [] }
        switch input {
        case .connected:
            reply(SMTPReply(220, nil, "\(hostname) ESMTP Pillarbox ready"))
            wait = .commandLine(limit: policy.limits.commandLineLength)
        case .closed:
            finish("disconnected")
        case .timedOut:
            reply(.c421Timeout(hostname))
            finish("timeout")
        case .inputError(let error):
            let response = Self.reply(for: error)
            reply(response)
            finish(SMTPSessionLog.code(response))
        case .line(let line, let buffered):
            switch wait {
            case .commandLine:
                command(line, buffered: buffered)
            case .authLine:
                guard case .sasl(var driver) = continuation else { return take() }
                continuation = nil
                sasl(driver.received(line), driver)
            case .action, .closed:
                break
            }
        default:
            answer(input)
        }
        return take()
    }

    mutating func take() -> [Action] {
        defer { actions = [] }
        return actions
    }

    // MARK: Replies and endings

    mutating func reply(_ reply: SMTPReply) {
        actions.append(.send(reply.bytes))
        lastReply = reply
    }

    /// Ends the session: the open transaction, if any, counts as abandoned (or as failed by
    /// the reply that closed the session), and the session's record goes out with the IDS
    /// events still collected.
    mutating func finish(_ errorCode: String) {
        if transaction != nil {
            if !errorCode.isEmpty, transaction?.failure == nil { transaction?.failure = errorCode }
            transaction = nil
        }
        let ended = sessionLog.summary(context: context, authFailures: authFailures, errorCode: errorCode,
                                       endedAt: environment.now())
        actions.append(.close(ended, rejected: sessionLog.rejected, notes: notes, session: context))
        notes = []
        continuation = nil
        wait = .closed
        isClosed = true
    }

    /// Ends the open transaction with a failure reply.
    mutating func failTransaction(_ reply: SMTPReply) {
        transaction?.failure = SMTPSessionLog.code(reply)
        transaction = nil
    }

    /// Carries out how a command ends.
    mutating func then(_ next: Next) {
        switch next {
        case .proceed:
            commandDone()
        case .close:
            finish(lastReply.map { $0.code == 221 ? "" : SMTPSessionLog.code($0) } ?? "")
        case .closeWith(let code):
            finish(code)
        case .afterProtocolError:
            if errors >= policy.limits.maxErrors {
                reply(SMTPReply(421, "4.7.0", "Too many errors, closing connection"))
                then(.close)
            } else {
                commandDone()
            }
        case .afterAuthFailure:
            if authFailures >= policy.limits.maxAuthFailures {
                reply(.c421TooManyAuthFailures)
                then(.close)
            } else if environment.isBlocked(context.clientIP) {
                // The login IPS blocked this address with that failure: the session ends now.
                reply(.c421Blocked)
                then(.close)
            } else {
                commandDone()
            }
        }
    }

    /// The command is answered: RFC 2920's synchronisation check if it ends a group, then the
    /// next command.
    mutating func commandDone() {
        if let (verb, buffered) = groupEnd {
            groupEnd = nil
            if synchronizationViolated(after: verb, buffered: buffered, then: .closeWith(SMTPSessionLog.code(.c554Synchronization))) {
                return
            }
        }
        continuation = nil
        wait = .commandLine(limit: policy.limits.commandLineLength)
    }

    /// RFC 2920 §3.1: EHLO, HELO, DATA, VRFY, EXPN, NOOP and QUIT (and the end of a message)
    /// may only end a group of pipelined commands. A client that has not authenticated and sends
    /// more before their reply went out is refused and disconnected (Postfix's
    /// `smtpd_forbid_unauth_pipelining`): it is not waiting for replies, and may be smuggling.
    mutating func synchronizationViolated(after what: String, buffered: Int, then next: Next) -> Bool {
        guard context.authenticatedUser == nil, buffered > 0 else { return false }
        actions.append(.discardInput)
        reply(.c554Synchronization)
        actions.append(.log(.notice, "input pipelined behind a command that ends a group",
                            ["after": "\(what)", "octets": "\(buffered)"]))
        recordIDS(.syntaxError, details: "\(buffered) octets pipelined after \(what)", then: next)
        return true
    }

    /// Records an IDS event: the session's first of its kind at once, later ones only scored
    /// and folded into one event written with the session's end. `next` follows the answer.
    mutating func recordIDS(_ kind: IntrusionEventRecorded.Kind, details: String, then next: Next) {
        let first = idsSeen.insert(kind).inserted
        continuation = .ids(kind, details: details, first: first, then: next)
        wait = .action
        actions.append(.recordIDS(kind, details: details, append: first, session: context))
    }

    /// Keeps a note for the session's end, folding repeats so the list stays short.
    mutating func addNote(_ note: SMTPIDSNote) {
        notes.append(note)
        if notes.count > 32 { notes = SMTPIDSNote.folded(notes) }
    }

    /// Waits for `answer` before going on with `next`.
    mutating func ask(_ next: Continuation, _ action: Action) {
        continuation = next
        wait = .action
        actions.append(action)
    }

    static func reply(for error: LineError) -> SMTPReply {
        switch error {
        case .bareLineFeed: .c500BareLineFeed
        case .bareCarriageReturn: .c500BareCarriageReturn
        case .lineTooLong: .c500LineTooLong
        }
    }

    // MARK: Commands

    mutating func command(_ line: ArraySlice<UInt8>, buffered: Int) {
        switch SMTPCommandParser.parse(line) {
        case .success(let command):
            if command.endsPipelineGroup { groupEnd = ("\(command.verb)", buffered) }
            handle(command, buffered: buffered)
        case .failure(let error):
            syntaxError(error)
        }
    }

    mutating func handle(_ command: SMTPCommand, buffered: Int) {
        switch command {
        case .helo(let name): hello(name, extended: false)
        case .ehlo(let name): hello(name, extended: true)
        case .mail(let path, let parameters): mail(path, parameters)
        case .rcpt(let path, let parameters): recipient(path, parameters)
        case .data: data(buffered: buffered)
        case .bdat(let size, let last): bdat(size: size, last: last)
        case .rset:
            transaction = nil
            reply(.c250Reset)
            then(.proceed)
        case .noop:
            reply(.c250OK)
            then(.proceed)
        case .quit:
            reply(.c221Closing(hostname))
            then(.close)
        case .help:
            reply(SMTPReply(214, "2.0.0", ["Pillarbox SMTP; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN STARTTLS AUTH",
                                           "See RFC 5321"]))
            then(.proceed)
        case .vrfy(let text): verify(text, expand: false)
        case .expn(let text): verify(text, expand: true)
        case .startTLS: startTLS(buffered: buffered)
        case .auth(let mechanism, let initial): authenticate(mechanism, initial)
        }
    }

    mutating func syntaxError(_ error: SMTPSyntaxError) {
        let response: SMTPReply
        switch error {
        case .unknownCommand: response = .c500UnknownCommand
        case .badArguments(let text): response = .c501Syntax(text)
        case .badAddress(let text): response = .c501Address(text, sender: false)
        case .badSenderAddress(let text): response = .c501Address(text, sender: true)
        case .badParameter(let text): response = SMTPReply(555, "5.5.4", "Parameter not recognized: \(text)")
        }
        protocolError(response, details: "\(response.code) \(response.lines.joined())")
    }

    /// An out-of-sequence or malformed command: the reply, IDS event 9, and after too many the end.
    mutating func protocolError(_ response: SMTPReply, details: String) {
        reply(response)
        errors += 1
        recordIDS(.syntaxError, details: details, then: .afterProtocolError)
    }

    mutating func hello(_ name: String, extended: Bool) {
        let lowered = name.lowercased()
        if policy.refuseHelo.contains(where: { !$0.isEmpty && lowered.contains($0.lowercased()) }) {
            reply(.c554HeloRefused)
            return then(.close)
        }
        policy = environment.policy()
        context.helo = name
        context.esmtp = extended
        transaction = nil
        guard extended else {
            reply(SMTPReply(250, nil, "\(hostname) Hello \(name) [\(context.clientIP)]"))
            return then(.proceed)
        }
        var lines = ["\(hostname) Hello \(name) [\(context.clientIP)]", "PIPELINING", "SIZE \(policy.limits.maxMessageSize)",
                     "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"]
        if policy.dsn { lines.append("DSN") }
        if context.tls == nil && tlsAvailable { lines.append("STARTTLS") }
        if context.authenticatedUser == nil, mayAuthenticate {
            lines.append("AUTH " + offeredMechanisms.map(\.rawValue).joined(separator: " "))
        }
        if policy.vrfyEnabled { lines.append("VRFY") }
        lines.append("HELP")
        reply(SMTPReply(250, nil, lines))
        then(.proceed)
    }

    var mayAuthenticate: Bool { context.tls != nil || policy.authWithoutTLS }

    var offeredMechanisms: [SASLMechanism] {
        SASLMechanism.allCases.filter { $0 != .cramMD5 || policy.cramMD5 }
    }

    mutating func mail(_ path: SMTPPath?, _ parameters: SMTPMailParameters) {
        guard context.helo != nil else { return protocolError(.c503NeedHello, details: "MAIL before HELO") }
        guard transaction == nil else { return protocolError(.c503NestedMail, details: "nested MAIL") }
        if context.service != .smtp && context.authenticatedUser == nil {
            reply(context.tls == nil && !policy.authWithoutTLS ? .c530TLSRequired : .c530AuthRequired)
            return then(.proceed)
        }
        policy = environment.policy()
        var parameters = parameters
        // RFC 4954 §5: AUTH= from a client that has not authenticated and is not trusted counts as AUTH=<>.
        if context.authenticatedUser == nil && !policy.relayNetworks.allows(context.clientIP) { parameters.auth = nil }
        if path?.isInternationalised == true && !parameters.smtpUTF8 {
            reply(SMTPReply(553, "5.6.7", "Non-ASCII sender address requires the SMTPUTF8 parameter"))
            return then(.proceed)
        }
        if !policy.dsn && (parameters.ret != nil || parameters.envelopeID != nil) {
            reply(.c555BadParameter)
            return then(.proceed)
        }
        // RFC 1870 §6.1: refuse a declared size above the limit at MAIL FROM.
        if let size = parameters.size, size > sizeLimit {
            reply(.c552TooBig)
            sessionLog.refusedAtMail(path, size: Int64(size), reply: .c552TooBig, session: context, messageID: environment.makeID())
            return recordIDS(.tooBig, details: "declared SIZE=\(size), limit \(sizeLimit)", then: .proceed)
        }
        // RFC 6409 §8.1: an authenticated client sends as one of its user's own addresses.
        if let user = context.authenticatedUser, let path {
            return ask(.mailSender(path, parameters), .checkSender(path.description, user: user))
        }
        // RFC 7208: mail from outside (not logged in, not from the relay networks) is checked
        // against its domain's SPF record.
        if policy.spfPolicy != "off", isFromOutside {
            return ask(.spf(path, parameters), .checkSPF(client: context.clientIP, sender: path?.description ?? "",
                                                         helo: context.helo ?? ""))
        }
        openTransaction(path, parameters)
    }

    mutating func openTransaction(_ path: SMTPPath?, _ parameters: SMTPMailParameters) {
        transactionCount += 1
        transaction = Transaction(number: transactionCount, reversePath: path, parameters: parameters)
        reply(.c250SenderOK)
        then(.proceed)
    }

    /// Mail from outside: on the MX service, not logged in, not from the relay networks. SPF,
    /// DKIM and DMARC are checked for it.
    var isFromOutside: Bool {
        context.service == .smtp && context.authenticatedUser == nil && !policy.relayNetworks.allows(context.clientIP)
    }

    /// The service limit, or the authenticated user's lower "max outgoing message size".
    var sizeLimit: Int {
        let userLimit = context.authenticatedUser.map { Int($0.maxOutgoingSize) } ?? 0
        return userLimit > 0 ? min(userLimit, policy.limits.maxMessageSize) : policy.limits.maxMessageSize
    }

    mutating func recipient(_ path: SMTPPath, _ parameters: SMTPRecipientParameters) {
        guard let current = transaction else { return protocolError(.c503NeedMail, details: "RCPT before MAIL") }
        guard current.recipients.count < policy.limits.maxRecipients else {
            reply(.c452TooManyRecipients)
            return then(.proceed)
        }
        if path.isInternationalised && !current.parameters.smtpUTF8 {
            reply(.c553NeedsSMTPUTF8)
            return then(.proceed)
        }
        if !policy.dsn && (!parameters.notify.isEmpty || parameters.originalRecipient != nil) {
            reply(.c555BadParameter)
            return then(.proceed)
        }
        ask(.recipientResolved(path, parameters), .resolve(path, session: context, policy: policy))
    }

    mutating func recipientResolved(_ path: SMTPPath, _ parameters: SMTPRecipientParameters,
                                            _ decision: SMTPRecipientDecision) {
        guard var current = transaction else { return then(.proceed) }
        switch decision {
        case .local, .list, .listServer, .mailCommands, .discard, .remote, .lan, .senderReturn:
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
            then(.proceed)
        case .unknownLocal:
            refuse(path, .unknownLocal, .c550UnknownUser)
            recordIDS(.badLocalRecipient, details: "<\(path)>", then: .proceed)
        case .relayDenied:
            refuse(path, .relayDenied, .c550RelayDenied)
            recordIDS(.relayDenied, details: "<\(path)>", then: .proceed)
        case .internetMailNotAllowed:
            refuse(path, .notAllowed, .c550NoInternetMail)
            then(.proceed)
        }
    }

    mutating func refuse(_ path: SMTPPath, _ reason: RefusedRecipient.Reason, _ response: SMTPReply) {
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

    mutating func verify(_ text: String, expand: Bool) {
        guard policy.vrfyEnabled else {
            reply(.c502VRFYDisabled)
            return then(.proceed)
        }
        guard policy.vrfyNetworks.allows(context.clientIP) else {
            reply(.c550VRFYNotAllowed)
            return then(.proceed)
        }
        var argument = text
        if argument.hasPrefix("<") && argument.hasSuffix(">") { argument = String(argument.dropFirst().dropLast()) }
        if expand {
            let name = argument.split(separator: "@").first.map(String.init) ?? argument
            return ask(.expanded, .expand(name))
        }
        let address = argument.contains("@") ? argument : argument + "@" + "localhost"
        var cursor = ByteCursor(Array("<\(address)>".utf8))
        guard let path = try? SMTPPathParser.parse(&cursor, allowPostmaster: false) else {
            reply(.c252CannotVerify)
            return then(.proceed)
        }
        ask(.verifyResolved(path), .resolve(path, session: context, policy: policy))
    }

    // MARK: STARTTLS

    mutating func startTLS(buffered: Int) {
        guard context.tls == nil else { return protocolError(.c503TLSActive, details: "STARTTLS inside TLS") }
        guard tlsAvailable else {
            reply(.c454TLSUnavailable)
            return then(.proceed)
        }
        // RFC 3207 §5 / CVE-2011-0411: anything pipelined after STARTTLS was sent in plain
        // text and must never run inside TLS. Refuse the upgrade if it is there now.
        guard buffered == 0 else {
            actions.append(.discardInput)
            reply(.c554TLSInjection)
            return recordIDS(.syntaxError, details: "commands pipelined after STARTTLS", then: .close)
        }
        ask(.tls, .startTLS(reply: SMTPReply.c220ReadyForTLS.bytes))
    }

    mutating func tlsStarted(_ version: String?) {
        // RFC 3207 §4.2: forget everything learnt before TLS.
        context.tls = version ?? "TLS"
        context.helo = nil
        context.esmtp = false
        context.authenticatedUser = nil
        transaction = nil
        then(.proceed)
    }

    // MARK: AUTH

    mutating func authenticate(_ name: String, _ initial: String?) {
        guard context.helo != nil else { return protocolError(.c503NeedHello, details: "AUTH before EHLO") }
        guard context.authenticatedUser == nil else { return protocolError(.c503AlreadyAuthenticated, details: "second AUTH") }
        guard transaction == nil else { return protocolError(.c503AuthInTransaction, details: "AUTH in a transaction") }
        guard let mechanism = SASLMechanism(rawValue: name), offeredMechanisms.contains(mechanism) else {
            reply(.c504UnknownMechanism)
            return then(.proceed)
        }
        guard mayAuthenticate else {
            reply(.c538EncryptionRequired)
            return then(.proceed)
        }
        var initialBytes: [UInt8]?
        if let initial {
            guard let decoded = Base64.decode(Array(initial.utf8)) else {
                reply(.c501AuthMalformed)
                return then(.proceed)
            }
            initialBytes = decoded
        }
        var driver = SASLDriver(mechanism, hostname: hostname, nonce: environment.makeID())
        sasl(driver.start(initial: initialBytes), driver)
    }

    mutating func sasl(_ step: SASLDriver.Step, _ driver: SASLDriver) {
        let mechanism = driver.mechanism
        switch step {
        case .challenge(let bytes):
            reply(SMTPReply(334, nil, Base64.encode(bytes)))
            continuation = .sasl(driver)
            wait = .authLine(limit: policy.limits.authLineLength)
        case .checkPassword(let user, let password):
            ask(.sasl(driver), .checkPassword(user: user, password: password))
        case .lookUpCredentials(let user, let mechanism):
            ask(.sasl(driver), .lookUpCredentials(user: user, mechanism: mechanism))
        case .finished(.succeeded(let user)):
            ask(.saslUser(mechanism), .lookUpUser(user))
        case .finished(.failed(.cancelled)):
            reply(.c501AuthCancelled)
            then(.proceed)
        case .finished(.failed(.malformed)):
            authFailed(reason: "malformed \(mechanism.rawValue) exchange")
        case .finished(.failed(.badCredentials)):
            authFailed(reason: "bad credentials (\(mechanism.rawValue))")
        case .finished(.malformedLine):
            reply(.c501AuthMalformed)
            then(.proceed)
        case .finished(.connectionEnded):
            then(.close)
        }
    }

    mutating func authFailed(reason: String) {
        authFailures += 1
        reply(.c535BadCredentials)
        recordIDS(.authenticationFailure, details: reason, then: .afterAuthFailure)
    }

    // MARK: Answers

    mutating func answer(_ input: Input) {
        guard let pending = continuation else { return unexpected() }
        continuation = nil
        switch (pending, input) {
        case (.ids(let kind, let details, let first, let next), .idsRecorded(let score)):
            if !first { addNote(SMTPIDSNote(kind: kind, details: details, score: score)) }
            then(next)
        case (.mailSender(let path, let parameters), .senderChecked(let allowed)):
            guard allowed, let path else {
                let address = path?.description ?? ""
                reply(.c553SenderNotOwned(address))
                sessionLog.refusedAtMail(path, size: 0, reply: .c553SenderNotOwned(address), session: context,
                                         messageID: environment.makeID())
                return then(.proceed)
            }
            openTransaction(path, parameters)
        case (.spf(let path, let parameters), .spfChecked(let spf)):
            // VPOP3's "incoming SPF checking with rejection": a fail is refused (RFC 7208 §8.4).
            if spf.result == "fail", policy.spfPolicy == "reject-fail" {
                let text = "SPF check failed for \(spf.identity)" + (spf.explanation.map { ": \($0)" } ?? "")
                // The explanation comes from DNS: printable ASCII only, and not much of it.
                let refusal = SMTPReply(550, "5.7.23", String(text.filter { $0.isASCII && ($0.asciiValue ?? 0) >= 0x20 && $0 != "\u{7F}" }.prefix(300)))
                reply(refusal)
                sessionLog.refusedAtMail(path, size: 0, reply: refusal, session: context, messageID: environment.makeID())
                return recordIDS(.spfFailure, details: "<\(spf.identity)> from \(context.clientIP)", then: .proceed)
            }
            openTransaction(path, parameters)
            transaction?.spf = spf
        case (.recipientResolved(let path, let parameters), .resolved(let decision)):
            guard case .local(let user) = decision else { return recipientResolved(path, parameters, decision) }
            ask(.recipientStorage(path, parameters, decision),
                  .checkStorage(user: user, adding: transaction?.parameters.size ?? 0))
        case (.recipientStorage(let path, let parameters, let decision), .storageChecked(let check)):
            switch check {
            case .fits:
                recipientResolved(path, parameters, decision)
            case .full:
                refuse(path, .mailboxFull, .c452MailboxFull)
                then(.proceed)
            case .tooBig:
                refuse(path, .mailboxFull, .c552MailboxTooSmall)
                then(.proceed)
            }
        case (.verifyResolved(let path), .resolved(let decision)):
            switch decision {
            case .local(let user): reply(SMTPReply(250, "2.1.5", "\(user) <\(path)>"))
            case .list(let name): reply(SMTPReply(250, "2.1.5", "list \(name) <\(path)>"))
            case .unknownLocal: reply(.c550UnknownUser)
            default: reply(.c252CannotVerify)
            }
            then(.proceed)
        case (.expanded, .expanded(let members)):
            if let members {
                reply(SMTPReply(250, "2.1.5", members.isEmpty ? ["(no members)"] : members.map { "<\($0)>" }))
            } else {
                reply(SMTPReply(550, "5.1.1", "No such list"))
            }
            then(.proceed)
        case (.tls, .tlsStarted(let version)):
            tlsStarted(version)
        case (.tls, .plainTextAfterSTARTTLS):
            // Anything that arrives before the TLS marker was sent in plain text after STARTTLS.
            recordIDS(.syntaxError, details: "commands pipelined after STARTTLS", then: .close)
        case (.sasl(var driver), .passwordChecked(let valid)):
            sasl(driver.passwordChecked(valid), driver)
        case (.sasl(var driver), .credentials(let credentials)):
            sasl(driver.credentials(credentials), driver)
        case (.saslUser(let mechanism), .userFound(let record)):
            guard let record, !record.lockedOut, record.protocols.contains(.smtp) else {
                return authFailed(reason: "not allowed to use SMTP")
            }
            context.authenticatedUser = record
            sessionLog.authSuccesses += 1
            actions.append(.log(.info, "authenticated", ["user": "\(record.name)", "mechanism": "\(mechanism.rawValue)"]))
            reply(.c235Authenticated)
            then(.proceed)
        case (.dataBody(let limit), .bodyRead(let read)):
            dataRead(read, limit: limit)
        case (.chunk(let size, let last, let limit, let failedBefore), .bodyRead(let read)):
            chunkRead(read, size: size, last: last, limit: limit, failedBefore: failedBefore)
        case (.completeStorage(let pending, let checks, let size), .storageChecked(let check)):
            completeStorage(pending: pending, checks: checks + [check], size: size)
        case (.completeSender(let pending, let user), .senderChecked(let allowed)):
            guard allowed else {
                let address = pending[0]
                failTransaction(.c553SenderNotOwned(address))
                reply(.c553SenderNotOwned(address))
                return then(.proceed)
            }
            completeSender(pending: Array(pending.dropFirst()), user: user)
        case (.finish, .bodyFinished(let finished)):
            bodyFinished(finished)
        case (.authenticate, .authenticated(let result, let body)):
            authenticated(result, body)
        case (.accept(let message), .accepted(let committed)):
            accepted(message, committed: committed)
        default:
            unexpected()
        }
    }

    /// An answer nobody asked for: the session cannot go on.
    mutating func unexpected() {
        finish("internal")
    }
}
