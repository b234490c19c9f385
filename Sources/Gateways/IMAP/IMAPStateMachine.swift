import Facts
import Foundation
import IMAPWire
import WireCore

/// An IMAP connection (RFC 9051, RFC 3501 for IMAP4rev1 clients) as a state machine: the
/// client's bytes go in and are cut into commands (literals included, RFC 7888 LITERAL+), and
/// the actions to take come out in order: replies and continuations, a large APPEND literal to
/// spool, STARTTLS, the checks of a login, a command for the mailbox backend to run, IDLE's
/// wait, the end of the session. It owns the connection's protocol: greeting, capabilities,
/// STARTTLS, LOGIN and AUTHENTICATE, the literal limits before and after login, error counting,
/// IDLE's framing, LOGOUT. The commands on mailboxes and messages are the backend's
/// (`IMAPSession`'s `authenticatedCommand`). It does no I/O and reads no clock.
struct IMAPStateMachine {
    /// What the machine reads without asking: the settings as they stand, fresh nonces.
    struct Environment {
        var authWithoutTLS: @Sendable () -> Bool
        var cramMD5: @Sendable () -> Bool
        var makeNonce: @Sendable () -> String
        /// Whether RFC 4467 URLAUTH is offered (the server has a key for it).
        var urlauth = false
    }

    enum Input {
        case connected
        case received([UInt8])
        case timedOut
        case closed
        case tlsStarted(version: String?)
        case tlsFailed
        /// Answers to the calls the machine asked for.
        case loginChecked(UserRecord?)
        case loginFailureRecorded(blocked: Bool)
        /// Whether the user's session bound from this address left room.
        case userAdmitted(Bool)
        case saslPasswordChecked(Bool)
        case saslCredentials(Credentials?)
        /// The backend ran the command it was given.
        case executed
        /// During IDLE: the client's next line came (DONE or not), with the input after it; or
        /// the connection ended.
        case idleLine(done: Bool, rest: LineBuffer)
        case idleEnded
        /// During IDLE: the log may have grown.
        case woken
    }

    enum Action {
        case send([UInt8])
        /// Send `reply` in plain text, then switch to TLS; `.tlsStarted` or `.tlsFailed` follows.
        case startTLS(reply: [UInt8])
        /// Answer with `.loginChecked`.
        case checkPassword(user: String, password: String)
        case lookUpUser(String)
        /// Answer with `.loginFailureRecorded`.
        case recordLoginFailure(user: String, reason: String)
        /// Answer with `.userAdmitted`.
        case admit(UserRecord)
        /// Answer with `.saslPasswordChecked` or `.saslCredentials`.
        case saslCheckPassword(user: String, password: String)
        case saslLookUpCredentials(user: String, mechanism: SASLMechanism)
        /// A user logged in: the backend's session starts for them.
        case loggedIn(UserRecord)
        /// RFC 8437 UNAUTHENTICATE: the backend's session for the user ends, the connection stays.
        case loggedOut
        /// A large APPEND literal: spool `size` octets as they come (`.spool`), for the command
        /// that follows; `.dropSpool` drops what no command took.
        case beginSpool(size: Int, binary: Bool)
        case spool(ArraySlice<UInt8>)
        case dropSpool
        /// Run a command on the user's mailboxes, writing its responses; answer with `.executed`.
        case execute(IMAPCommand, UserRecord)
        /// IDLE: send the untagged updates due now (at its start, and on each `.woken`).
        case refresh
        /// The session is over: close the connection and record how it went.
        case close(SessionTally, closedByServer: Bool, tls: String?)
    }

    /// What the machine waits for.
    enum Wait: Equatable {
        /// More bytes from the client.
        case input
        /// IDLE: the client's next line or the log's wake-up (the input buffer goes with it).
        case idle
        /// An answer to an action.
        case action
        case closed
    }

    private enum Pending {
        case login(tag: String, name: String, reason: String)
        case loginFailure(tag: String)
        case admit(tag: String, UserRecord)
        case sasl(tag: String, SASLDriver)
        case saslUser(tag: String, name: String)
        case tls
        case execute
        case idle(tag: String)
    }

    let limits: IMAPLimits
    let environment: Environment
    let hostname: String
    let tlsAvailable: Bool
    private(set) var tls: String?
    private(set) var user: UserRecord?
    private(set) var wait = Wait.input
    private var pending: Pending?
    /// AUTHENTICATE waiting for the client's response line.
    private var saslLine: (tag: String, driver: SASLDriver)?
    private var input = LineBuffer()
    private var reader: IMAPCommandReader
    private var actions: [Action] = []
    private var failedLogins = 0
    private var errors = 0
    private var closing = false
    private var closedByServer = false
    private(set) var tally: SessionTally

    init(limits: IMAPLimits, hostname: String, tls: String?, tlsAvailable: Bool, startedAt: Date, environment: Environment) {
        self.limits = limits
        self.hostname = hostname
        self.tls = tls
        self.tlsAvailable = tlsAvailable
        self.environment = environment
        tally = SessionTally(startedAt: startedAt)
        reader = IMAPCommandReader(lineLimit: limits.lineLength, literalLimit: limits.literalSizeBeforeLogin,
                                   commandLimit: limits.literalSizeBeforeLogin + 4 * limits.lineLength)
    }

    var isClosed: Bool { wait == .closed }

    /// Logged in and waiting for a command, no part of one read yet: when unsolicited
    /// responses (RFC 5465 NOTIFY) may go out.
    var betweenCommands: Bool { user != nil && wait == .input && reader.isIdle && input.isEmpty && saslLine == nil }

    // MARK: Input

    mutating func receive(_ event: Input) -> [Action] {
        guard wait != .closed else { return [] }
        switch event {
        case .connected:
            untagged("OK [CAPABILITY \(capabilities)] Pillarbox IMAP ready")
            process()
        case .received(let bytes):
            input.append(bytes)
            if wait == .input { process() }
        case .timedOut:
            untagged(.autologout)
            tally.lastError = "timeout"
            closedByServer = true
            end()
        case .closed:
            end()
        default:
            answer(event)
        }
        return take()
    }

    private mutating func take() -> [Action] {
        defer { actions = [] }
        return actions
    }

    /// Hands the buffered input to IDLE's wait (it comes back with `.idleLine`).
    mutating func takeInput() -> LineBuffer {
        defer { input = LineBuffer() }
        return input
    }

    // MARK: Output

    private mutating func untagged(_ text: String) { actions.append(.send(Array("* \(text)\r\n".utf8))) }
    private mutating func tagged(_ tag: String, _ text: String) { actions.append(.send(Array("\(tag) \(text)\r\n".utf8))) }
    private mutating func untagged(_ status: IMAPStatus) { untagged(status.description) }
    private mutating func tagged(_ tag: String, _ status: IMAPStatus) { tagged(tag, status.description) }

    private mutating func countError() {
        errors += 1
        if errors >= limits.maxErrors {
            untagged(.tooManyErrors)
            tally.lastError = "BYE Too many errors"
            closedByServer = true
            closing = true
        }
    }

    private mutating func end() {
        actions.append(.dropSpool)
        tally.authFailures = failedLogins
        actions.append(.close(tally, closedByServer: closedByServer, tls: tls))
        wait = .closed
        pending = nil
    }

    // MARK: Commands

    /// Cuts the buffered input into commands and handles them until one waits for an answer,
    /// the input runs out, or the session ends.
    private mutating func process() {
        while !closing {
            if let (tag, driver) = saslLine {
                let line: ArraySlice<UInt8>
                do {
                    guard let next = try input.nextLine(limit: limits.lineLength) else {
                        wait = .input
                        return
                    }
                    line = next
                } catch {
                    // The response line broke the rules: the exchange, and the session, end.
                    closing = true
                    break
                }
                saslLine = nil
                var driver = driver
                sasl(tag, driver.received(line), driver)
                if wait != .input { return }
                continue
            }
            switch reader.next(from: &input) {
            case .command(let bytes):
                command(bytes)
                if wait != .input { return }
            case .continuation:
                actions.append(.send(Array("+ Ready for literal data\r\n".utf8)))
            case .literalStarts(let size, let binary, let synchronizing):
                actions.append(.beginSpool(size: size, binary: binary))
                if synchronizing { actions.append(.send(Array("+ Ready for literal data\r\n".utf8))) }
            case .literalData(let bytes):
                actions.append(.spool(bytes))
            case .refusedLiteral(let tag, let size):
                tagged(tag, .literalTooBig(size, limit: size > reader.largestLiteral ? reader.largestLiteral : reader.literalLimit))
            case .fatal(let text):
                untagged("BYE \(text)")
                tally.lastError = "BYE \(text)"
                closedByServer = true
                closing = true
            case .needInput:
                wait = .input
                return
            }
        }
        end()
    }

    /// One command is answered (perhaps after backend calls): on to the next.
    private mutating func commandDone() {
        pending = nil
        wait = .input
        process()
    }

    private mutating func command(_ bytes: [UInt8]) {
        switch IMAPParser.parse(bytes, maxDepth: limits.depth, maxRanges: limits.ranges) {
        case .success(let command):
            handle(command)
        case .failure(.noTag):
            actions.append(.dropSpool)
            untagged(.untaggedCommand)
            countError()
        case .failure(.bad(let tag, let text)):
            actions.append(.dropSpool)
            tagged(tag, "BAD \(text)")
            countError()
        }
    }

    private mutating func handle(_ command: IMAPCommand) {
        let tag = command.tag
        switch command.kind {
        case .capability:
            untagged("CAPABILITY \(capabilities)")
            tagged(tag, .completed("CAPABILITY"))
        case .noop where user == nil, .check where user == nil:
            tagged(tag, .completed("NOOP"))
        case .logout:
            untagged(.loggingOut)
            tagged(tag, .completed("LOGOUT"))
            tally.endedNormally = true
            closing = true
        case .id:
            untagged("ID (\"name\" \"Pillarbox\" \"vendor\" \"Pillarbox\")")
            tagged(tag, .completed("ID"))
        case .startTLS:
            startTLS(tag)
        case .login(let name, let password):
            login(tag, name: name, password: password)
        case .authenticate(let mechanism, let initial):
            authenticate(tag, mechanism: mechanism, initial: initial)
        case .unauthenticate:
            guard user != nil else { return logInFirst(tag) }
            // RFC 8437 §2: as after the greeting, TLS kept; literals back to their limit before login.
            user = nil
            reader.literalLimit = limits.literalSizeBeforeLogin
            reader.streamedLiteralLimit = 0
            reader.commandLimit = limits.literalSizeBeforeLogin + 4 * limits.lineLength
            actions.append(.loggedOut)
            tagged(tag, .completed("UNAUTHENTICATE"))
        case .idle:
            guard user != nil else { return logInFirst(tag) }
            actions.append(.send(Array("+ idling\r\n".utf8)))
            actions.append(.refresh)
            pending = .idle(tag: tag)
            wait = .idle
        default:
            guard let user else { return logInFirst(tag) }
            pending = .execute
            wait = .action
            actions.append(.execute(command, user))
        }
    }

    private mutating func logInFirst(_ tag: String) {
        actions.append(.dropSpool)
        tagged(tag, .logInFirst)
        countError()
    }

    var capabilities: String {
        var words = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ENABLE", "IDLE", "NAMESPACE", "ID", "UIDPLUS", "MOVE",
                     "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CONDSTORE", "QRESYNC", "ESEARCH",
                     "BINARY", "UTF8=ACCEPT", "STATUS=SIZE", "SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "QUOTA",
                     "QUOTA=RES-STORAGE", "UNAUTHENTICATE", "WITHIN", "ESORT", "SORT=DISPLAY", "CONTEXT=SEARCH", "CONTEXT=SORT",
                     "SEARCHRES", "MULTIAPPEND", "CATENATE", "NOTIFY", "ACL", "RIGHTS=texk", "LIST-MYRIGHTS", "SAVEDATE", "METADATA", "UIDONLY",
                     "OBJECTID", "PREVIEW"]
        if environment.urlauth { words += ["URLAUTH", "URLAUTH=BINARY"] }
        if user == nil {
            if tls == nil && tlsAvailable { words.append("STARTTLS") }
            if !plainTextAllowed { words.append("LOGINDISABLED") }
            words += mechanisms.map { "AUTH=\($0.rawValue)" }
        }
        return words.joined(separator: " ")
    }

    private var plainTextAllowed: Bool { tls != nil || environment.authWithoutTLS() }

    private var mechanisms: [SASLMechanism] {
        let cramMD5 = environment.cramMD5()
        return SASLMechanism.allCases.filter { ($0 != .cramMD5 || cramMD5) && (!$0.sendsPassword || plainTextAllowed) }
    }

    // MARK: Authentication

    private mutating func startTLS(_ tag: String) {
        guard user == nil, tls == nil, tlsAvailable else { return tagged(tag, .startTLSUnavailable) }
        // RFC 9051 §6.2.1 and CVE-2011-0411: nothing pipelined after STARTTLS may run inside TLS.
        guard input.isEmpty, reader.isIdle else {
            input.discardAll()
            untagged(.pipelinedAfterSTARTTLS)
            closing = true
            return
        }
        pending = .tls
        wait = .action
        actions.append(.startTLS(reply: Array("\(tag) OK Begin TLS negotiation now\r\n".utf8)))
    }

    private mutating func login(_ tag: String, name: String, password: String) {
        guard user == nil else { return tagged(tag, .alreadyLoggedIn) }
        guard plainTextAllowed else { return tagged(tag, .loginNeedsTLS) }
        pending = .login(tag: tag, name: name, reason: "bad password (LOGIN)")
        wait = .action
        actions.append(.checkPassword(user: name, password: password))
    }

    private mutating func loginFailed(_ tag: String, user name: String, reason: String) {
        failedLogins += 1
        pending = .loginFailure(tag: tag)
        wait = .action
        actions.append(.recordLoginFailure(user: name, reason: reason))
    }

    private mutating func loginChecked(_ tag: String, _ user: UserRecord) {
        guard !user.lockedOut, user.protocols.contains(.imap) else {
            return loginFailed(tag, user: user.name, reason: "not allowed to use IMAP")
        }
        pending = .admit(tag: tag, user)
        wait = .action
        actions.append(.admit(user))
    }

    private mutating func admitted(_ tag: String, _ user: UserRecord, _ admitted: Bool) {
        guard admitted else {
            untagged("BYE [UNAVAILABLE] Too many sessions for \(user.name) from your address")
            tagged(tag, .tooManyUserSessions)
            tally.lastError = "BYE too many sessions"
            closedByServer = true
            closing = true
            return commandDone()
        }
        self.user = user
        reader.literalLimit = min(limits.literalSize, limits.literalSizeInMemory)
        reader.streamedLiteralLimit = limits.literalSize
        reader.commandLimit = reader.literalLimit + 4 * limits.lineLength
        tally.user = user.name
        tally.authSuccesses += 1
        actions.append(.loggedIn(user))
        tagged(tag, "OK [CAPABILITY \(capabilities)] Logged in")
        commandDone()
    }

    private mutating func authenticate(_ tag: String, mechanism name: String, initial: [UInt8]?) {
        guard user == nil else { return tagged(tag, .alreadyLoggedIn) }
        guard let mechanism = SASLMechanism(rawValue: name), mechanisms.contains(mechanism) else {
            return tagged(tag, SASLMechanism(rawValue: name) != nil ? "NO [PRIVACYREQUIRED] Use STARTTLS first" : "NO Unsupported mechanism")
        }
        var driver = SASLDriver(mechanism, hostname: hostname, nonce: environment.makeNonce())
        sasl(tag, driver.start(initial: initial), driver)
    }

    private mutating func sasl(_ tag: String, _ step: SASLDriver.Step, _ driver: SASLDriver) {
        switch step {
        case .challenge(let bytes):
            actions.append(.send(Array("+ \(Base64.encode(bytes))\r\n".utf8)))
            saslLine = (tag, driver)
        case .checkPassword(let name, let password):
            pending = .sasl(tag: tag, driver)
            wait = .action
            actions.append(.saslCheckPassword(user: name, password: password))
        case .lookUpCredentials(let name, let mechanism):
            pending = .sasl(tag: tag, driver)
            wait = .action
            actions.append(.saslLookUpCredentials(user: name, mechanism: mechanism))
        case .finished(.succeeded(let name)):
            pending = .saslUser(tag: tag, name: name)
            wait = .action
            actions.append(.lookUpUser(name))
        case .finished(.failed(.cancelled)):
            tagged(tag, .authenticationCancelled)
        case .finished(.failed), .finished(.malformedLine):
            loginFailed(tag, user: "", reason: "\(driver.mechanism.rawValue) exchange failed")
        case .finished(.connectionEnded):
            closing = true
        }
    }

    // MARK: Answers

    private mutating func answer(_ event: Input) {
        guard let waiting = pending else { return unexpected() }
        switch (waiting, event) {
        case (.login(let tag, let name, let reason), .loginChecked(let user)):
            guard let user else { return loginFailed(tag, user: name, reason: reason) }
            loginChecked(tag, user)
        case (.saslUser(let tag, let name), .loginChecked(let user)):
            guard let user else { return loginFailed(tag, user: name, reason: "no such user") }
            loginChecked(tag, user)
        case (.loginFailure(let tag), .loginFailureRecorded(let blocked)):
            // The BYE, when there is one, comes before the tagged reply so that a client waiting
            // for that reply reads it before the connection closes.
            if blocked {
                // The login IPS blocked this address with that failure: no more guesses here.
                untagged(.blocked)
                tally.lastError = "BYE blocked"
                closedByServer = true
                closing = true
            } else if failedLogins >= limits.maxFailedLogins {
                untagged(.tooManyFailedLogins)
                tally.lastError = "BYE Too many failed logins"
                closedByServer = true
                closing = true
            }
            tagged(tag, .authenticationFailed)
            commandDone()
        case (.admit(let tag, let user), .userAdmitted(let admitted)):
            self.admitted(tag, user, admitted)
        case (.sasl(let tag, var driver), .saslPasswordChecked(let valid)):
            pending = nil
            wait = .input
            sasl(tag, driver.passwordChecked(valid), driver)
            if wait == .input { process() }
        case (.sasl(let tag, var driver), .saslCredentials(let credentials)):
            pending = nil
            wait = .input
            sasl(tag, driver.credentials(credentials), driver)
            if wait == .input { process() }
        case (.tls, .tlsStarted(let version)):
            tls = version ?? "TLS"
            commandDone()
        case (.tls, .tlsFailed):
            closing = true
            commandDone()
        case (.execute, .executed):
            actions.append(.dropSpool)
            commandDone()
        case (.idle, .woken):
            actions.append(.refresh)
        case (.idle(let tag), .idleLine(let done, let rest)):
            input = rest
            if done {
                tagged(tag, "OK IDLE terminated")
            } else {
                idleNotDone(tag)
            }
            commandDone()
        case (.idle(let tag), .idleEnded):
            idleNotDone(tag)
            commandDone()
        default:
            unexpected()
        }
    }

    /// RFC 2177: only DONE ends IDLE; anything else ends the session.
    private mutating func idleNotDone(_ tag: String) {
        untagged(.idleNotDone)
        tagged(tag, .expectedDone)
        tally.lastError = "BYE Expected DONE to end IDLE"
        closedByServer = true
        closing = true
    }

    /// An answer nobody asked for: the session cannot go on.
    private mutating func unexpected() {
        closing = true
        closedByServer = true
        end()
    }
}
