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
    /// What the machine reads without asking: the time, fresh ids, the settings as they stand.
    struct Environment {
        var now: @Sendable () -> Date
        var makeID: @Sendable () -> String
        var policy: @Sendable () -> SMTPPolicy
        /// Whether an address is blocked now (the IPS, the login IPS or an administrator).
        var isBlocked: @Sendable (String) -> Bool
    }

    enum Input {
        case connected
        /// A line without its CRLF (a command, or a response inside AUTH); `buffered` octets
        /// arrived after it.
        case line(ArraySlice<UInt8>, buffered: Int)
        /// The input broke a line rule (too long, a bare CR or LF).
        case inputError(LineError)
        case timedOut
        case closed
        case tlsStarted(version: String?)
        /// Bytes arrived in plain text after STARTTLS's reply, before TLS began.
        case plainTextAfterSTARTTLS
        case bodyRead(BodyRead)
        /// The finished body, or nil when finishing the spool failed.
        case bodyFinished(FinishedBody?)
        /// Answers to the calls the machine asked for.
        case idsRecorded(score: Int)
        case senderChecked(Bool)
        case resolved(SMTPRecipientDecision)
        case storageChecked(StorageCheck)
        case expanded([String]?)
        case passwordChecked(Bool)
        case credentials(Credentials?)
        case userFound(UserRecord?)
        case accepted(Bool)
    }

    /// What reading a body (all of DATA, or one BDAT chunk) came to.
    enum BodyRead {
        /// Read to its end: the scanner's error, the octets it produced, whether storing failed,
        /// and how many octets arrived after it.
        case read(error: LineError?, produced: Int, spoolFailed: Bool, buffered: Int)
        /// The connection ended (or timed out) before the body did.
        case connectionEnded(timedOut: Bool)
    }

    /// A body read to its end and stored (in memory or spooled).
    struct FinishedBody {
        var body: SMTPMessageBody
        var blob: BlobID
        var size: Int
        var containsNUL: Bool
        var head: [UInt8]
        var returnPathLength: Int
    }

    enum BodyRequest: Equatable {
        /// DATA: dot-unstuffed to CRLF.CRLF; store up to `limit` octets.
        case data(limit: Int, lineLimit: Int)
        /// A BDAT chunk of `size` octets; `store` false reads and drops it.
        case chunk(size: Int, last: Bool, limit: Int, lineLimit: Int, store: Bool)
    }

    enum Action {
        case send([UInt8])
        /// Drop whatever input is buffered (it was pipelined where it may not be).
        case discardInput
        /// Send `reply` in plain text, then switch to TLS; `.tlsStarted` follows (or
        /// `.plainTextAfterSTARTTLS`, `.closed`).
        case startTLS(reply: [UInt8])
        /// Open the transaction's body with its trace lines first (`messageID` names it).
        case openBody(messageID: String, trace: [UInt8], returnPathLength: Int)
        /// Read into the open body; answer with `.bodyRead`.
        case readBody(BodyRequest)
        /// Finish the open body; answer with `.bodyFinished`.
        case finishBody
        /// Drop the open body and its spool file.
        case discardBody
        /// Remove a finished body's spool file (its message was refused).
        case removeSpool(String)
        /// Answer with `.idsRecorded`.
        case recordIDS(IntrusionEventRecorded.Kind, details: String, append: Bool, session: SMTPSessionContext)
        /// Answer with `.senderChecked`.
        case checkSender(String, user: UserRecord)
        /// Answer with `.resolved`.
        case resolve(SMTPPath, session: SMTPSessionContext, policy: SMTPPolicy)
        /// Answer with `.storageChecked`.
        case checkStorage(user: String, adding: Int)
        /// Answer with `.expanded`.
        case expand(String)
        /// Answer with `.passwordChecked`.
        case checkPassword(user: String, password: String)
        /// Answer with `.credentials`.
        case lookUpCredentials(user: String, mechanism: SASLMechanism)
        /// Answer with `.userFound`.
        case lookUpUser(String)
        /// Make the message durable; answer with `.accepted`.
        case accept(SMTPMessage, notes: [SMTPIDSNote], session: SMTPSessionContext)
        case log(Logger.Level, String, Logger.Metadata)
        /// The session is over: close the connection and record how it went.
        case close(SessionEnded, rejected: [MessageRejected], notes: [SMTPIDSNote], session: SMTPSessionContext)
    }

    /// What the machine waits for.
    enum Wait: Equatable {
        case commandLine(limit: Int)
        case authLine(limit: Int)
        /// TLS to start, a body to be read, or a backend answer: no line to read.
        case action
        case closed
    }

    struct Transaction {
        /// Tells one transaction from the next (for the session log).
        var number: Int
        var reversePath: SMTPPath?
        var parameters: SMTPMailParameters
        var recipients: [SMTPAcceptedRecipient] = []
        var usedBDAT = false
        var usedData = false
        var bodyOpen = false
        var messageID = ""
        var returnPathLength = 0
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

    /// Where a command goes once a backend call (or a body read) answers.
    enum Continuation {
        /// After an IDS event: fold the repeat into the notes, then carry on.
        case ids(IntrusionEventRecorded.Kind, details: String, first: Bool, then: Next)
        case mailSender(SMTPPath?, SMTPMailParameters)
        case recipientResolved(SMTPPath, SMTPRecipientParameters)
        case recipientStorage(SMTPPath, SMTPRecipientParameters, SMTPRecipientDecision)
        case verifyResolved(SMTPPath)
        case expanded
        case sasl(SASLDriver)
        case saslUser(SASLMechanism)
        case tls
        case dataBody(limit: Int)
        case chunk(size: Int, last: Bool, limit: Int, failedBefore: Bool)
        case completeStorage(pending: [String], checks: [StorageCheck], size: Int)
        case completeSender(pending: [String], user: UserRecord)
        case finish
        case accept(SMTPMessage)
    }

    /// How a command ends once its last step is done.
    enum Next {
        case proceed
        /// Close, recording the last reply (or nothing for 221).
        case close
        /// Close with this error code in the session record.
        case closeWith(String)
        /// A protocol error was counted: too many end the session.
        case afterProtocolError
        /// A failed AUTH: too many, or an address the IPS just blocked, end the session.
        case afterAuthFailure
    }

    let environment: Environment
    let hostname: String
    let tlsAvailable: Bool
    private(set) var context: SMTPSessionContext
    private(set) var policy: SMTPPolicy
    private(set) var wait = Wait.closed
    private var continuation: Continuation?
    /// The pending group-ending command and what was buffered behind it.
    private var groupEnd: (verb: String, buffered: Int)?
    private var actions: [Action] = []
    /// The open mail transaction. Whenever one ends without its message accepted, the session
    /// log keeps it as a rejected message, and its body is dropped.
    private(set) var transaction: Transaction? {
        didSet {
            guard let old = oldValue, old.number != transaction?.number else { return }
            if old.bodyOpen && !old.accepted { actions.append(.discardBody) }
            guard !old.accepted else { return }
            sessionLog.ended(old, session: context, messageID: environment.makeID(), at: environment.now())
        }
    }
    private var transactionCount = 0
    /// The finished body of the message being checked and accepted.
    private var finished: FinishedBody?
    private var sessionLog: SMTPSessionLog
    private var lastReply: SMTPReply?
    private var authFailures = 0
    private var errors = 0
    /// IDS events that score nothing, written with the next message or at the end.
    private(set) var notes: [SMTPIDSNote] = []
    /// IDS kinds already written as events in this session.
    private var idsSeen = Set<IntrusionEventRecorded.Kind>()

    init(context: SMTPSessionContext, hostname: String, tlsAvailable: Bool, environment: Environment) {
        self.context = context
        self.hostname = hostname
        self.tlsAvailable = tlsAvailable
        self.environment = environment
        policy = environment.policy()
        sessionLog = SMTPSessionLog(startedAt: environment.now())
    }

    var isClosed: Bool { wait == .closed && sessionEnded }
    private var sessionEnded = false

    // MARK: Input

    mutating func receive(_ input: Input) -> [Action] {
        guard !sessionEnded else { return [] }
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

    private mutating func take() -> [Action] {
        defer { actions = [] }
        return actions
    }

    // MARK: Replies and endings

    private mutating func reply(_ reply: SMTPReply) {
        actions.append(.send(reply.bytes))
        lastReply = reply
    }

    /// Ends the session: the open transaction, if any, counts as abandoned (or as failed by
    /// the reply that closed the session), and the session's record goes out with the IDS
    /// events still collected.
    private mutating func finish(_ errorCode: String) {
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
        sessionEnded = true
    }

    /// Ends the open transaction with a failure reply.
    private mutating func failTransaction(_ reply: SMTPReply) {
        transaction?.failure = SMTPSessionLog.code(reply)
        transaction = nil
    }

    /// Carries out how a command ends.
    private mutating func then(_ next: Next) {
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
    private mutating func commandDone() {
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
    private mutating func synchronizationViolated(after what: String, buffered: Int, then next: Next) -> Bool {
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
    private mutating func recordIDS(_ kind: IntrusionEventRecorded.Kind, details: String, then next: Next) {
        let first = idsSeen.insert(kind).inserted
        continuation = .ids(kind, details: details, first: first, then: next)
        wait = .action
        actions.append(.recordIDS(kind, details: details, append: first, session: context))
    }

    /// Keeps a note for the session's end, folding repeats so the list stays short.
    private mutating func addNote(_ note: SMTPIDSNote) {
        notes.append(note)
        if notes.count > 32 { notes = SMTPIDSNote.folded(notes) }
    }

    /// Waits for `answer` before going on with `next`.
    private mutating func ask(_ next: Continuation, _ action: Action) {
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

    private mutating func command(_ line: ArraySlice<UInt8>, buffered: Int) {
        switch SMTPCommandParser.parse(line) {
        case .success(let command):
            if command.endsPipelineGroup { groupEnd = ("\(command.verb)", buffered) }
            handle(command, buffered: buffered)
        case .failure(let error):
            syntaxError(error)
        }
    }

    private mutating func handle(_ command: SMTPCommand, buffered: Int) {
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

    private mutating func syntaxError(_ error: SMTPSyntaxError) {
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
    private mutating func protocolError(_ response: SMTPReply, details: String) {
        reply(response)
        errors += 1
        recordIDS(.syntaxError, details: details, then: .afterProtocolError)
    }

    private mutating func hello(_ name: String, extended: Bool) {
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

    private var mayAuthenticate: Bool { context.tls != nil || policy.authWithoutTLS }

    private var offeredMechanisms: [SASLMechanism] {
        SASLMechanism.allCases.filter { $0 != .cramMD5 || policy.cramMD5 }
    }

    private mutating func mail(_ path: SMTPPath?, _ parameters: SMTPMailParameters) {
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
        openTransaction(path, parameters)
    }

    private mutating func openTransaction(_ path: SMTPPath?, _ parameters: SMTPMailParameters) {
        transactionCount += 1
        transaction = Transaction(number: transactionCount, reversePath: path, parameters: parameters)
        reply(.c250SenderOK)
        then(.proceed)
    }

    /// The service limit, or the authenticated user's lower "max outgoing message size".
    private var sizeLimit: Int {
        let userLimit = context.authenticatedUser.map { Int($0.maxOutgoingSize) } ?? 0
        return userLimit > 0 ? min(userLimit, policy.limits.maxMessageSize) : policy.limits.maxMessageSize
    }

    private mutating func recipient(_ path: SMTPPath, _ parameters: SMTPRecipientParameters) {
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

    private mutating func recipientResolved(_ path: SMTPPath, _ parameters: SMTPRecipientParameters,
                                            _ decision: SMTPRecipientDecision) {
        guard var current = transaction else { return then(.proceed) }
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

    private mutating func refuse(_ path: SMTPPath, _ reason: RefusedRecipient.Reason, _ response: SMTPReply) {
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

    private mutating func verify(_ text: String, expand: Bool) {
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

    private mutating func startTLS(buffered: Int) {
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

    private mutating func tlsStarted(_ version: String?) {
        // RFC 3207 §4.2: forget everything learnt before TLS.
        context.tls = version ?? "TLS"
        context.helo = nil
        context.esmtp = false
        context.authenticatedUser = nil
        transaction = nil
        then(.proceed)
    }

    // MARK: AUTH

    private mutating func authenticate(_ name: String, _ initial: String?) {
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

    private mutating func sasl(_ step: SASLDriver.Step, _ driver: SASLDriver) {
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

    private mutating func authFailed(reason: String) {
        authFailures += 1
        reply(.c535BadCredentials)
        recordIDS(.authenticationFailure, details: reason, then: .afterAuthFailure)
    }

    // MARK: Answers

    private mutating func answer(_ input: Input) {
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
        case (.accept(let message), .accepted(let committed)):
            accepted(message, committed: committed)
        default:
            unexpected()
        }
    }

    /// An answer nobody asked for: the session cannot go on.
    private mutating func unexpected() {
        finish("internal")
    }
}

// MARK: The message: DATA and BDAT, the checks on its header section, the trace lines, and
// the durable accept before 250.

extension SMTPStateMachine {
    private mutating func data(buffered: Int) {
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
    private mutating func openBody(_ transaction: inout Transaction) {
        let messageID = environment.makeID()
        let returnPath = "Return-Path: <\(transaction.reversePath?.description ?? "")>\r\n"
        let received = receivedHeader(messageID: messageID, recipients: transaction.recipients,
                                       smtpUTF8: transaction.parameters.smtpUTF8)
        transaction.bodyOpen = true
        transaction.messageID = messageID
        transaction.returnPathLength = returnPath.utf8.count
        actions.append(.openBody(messageID: messageID, trace: Array((returnPath + received).utf8),
                                 returnPathLength: returnPath.utf8.count))
    }

    private mutating func dataRead(_ read: BodyRead, limit: Int) {
        guard case .read(let error, let produced, let spoolFailed, let buffered) = read else {
            if case .connectionEnded(timedOut: true) = read { reply(.c421Timeout(hostname)) }
            if case .connectionEnded(let timedOut) = read { transaction?.failure = timedOut ? "timeout" : "disconnected" }
            transaction = nil
            return then(.close)
        }
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

    private mutating func bdat(size: Int, last: Bool) {
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

    private mutating func chunkRead(_ read: BodyRead, size: Int, last: Bool, limit: Int, failedBefore: Bool) {
        guard case .read(let error, let produced, let spoolFailed, _) = read else {
            if case .connectionEnded(timedOut: true) = read { reply(.c421Timeout(hostname)) }
            if case .connectionEnded(let timedOut) = read { transaction?.failure = timedOut ? "timeout" : "disconnected" }
            transaction = nil
            return then(.close)
        }
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
    private mutating func complete() {
        ask(.finish, .finishBody)
    }

    private mutating func bodyFinished(_ finished: FinishedBody?) {
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

    private mutating func completeStorage(pending: [String], checks: [StorageCheck], size: Int) {
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
    private mutating func checkFromAddresses() {
        guard let user = context.authenticatedUser, let finished else { return store() }
        let addresses = MIMEParser.summarise(finished.head).envelope.from.compactMap { address -> String? in
            guard let mailbox = address.mailbox, let host = address.host else { return nil }
            return "\(mailbox)@\(host)"
        }
        completeSender(pending: addresses, user: user)
    }

    private mutating func completeSender(pending: [String], user: UserRecord) {
        guard let next = pending.first else { return store() }
        ask(.completeSender(pending: pending, user: user), .checkSender(next, user: user))
    }

    /// Refuses the finished message: its body is dropped.
    private mutating func refuseFinished(_ response: SMTPReply) {
        if case .spooled(let path) = finished?.body { actions.append(.removeSpool(path)) }
        finished = nil
        failTransaction(response)
        reply(response)
        then(.proceed)
    }

    /// Hands the message to the backend to make durable.
    private mutating func store() {
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
                                  bodyStarted: current.bodyStarted ?? environment.now())
        ask(.accept(message), .accept(message, notes: notes, session: context))
    }

    private mutating func accepted(_ message: SMTPMessage, committed: Bool) {
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
