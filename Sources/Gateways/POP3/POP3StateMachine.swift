import Facts
import Foundation
import POP3Wire
import WireCore

/// A POP3 conversation (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034) and
/// the response codes of RFC 2449 and RFC 3206, as a state machine: each input (a command line,
/// the end of the input, the answer to a backend call) goes in, and the actions to take come
/// out in order: bytes to send, a backend call whose answer is the next input, TLS to start,
/// the end of the session. It does no I/O and reads no clock; `POP3Session` performs its
/// actions over a connection.
///
/// The maildrop is INBOX as it stood at login; DELE only marks, and QUIT commits the deletions
/// as one change. A dropped connection deletes nothing.
struct POP3StateMachine {
    enum Input: Sendable {
        /// The connection is open: the greeting goes out.
        case connected
        /// A command line without its CRLF; `buffered` octets arrived after it.
        case line(ArraySlice<UInt8>, buffered: Int)
        /// The input broke a line rule (too long, a bare CR or LF).
        case inputError(LineError)
        case timedOut
        case closed
        case tlsStarted(version: String?)
        /// Answers to the calls the machine asked for.
        case loginChecked(UserRecord?)
        case loginFailureRecorded(blocked: Bool)
        case nonce(String)
        case saslPasswordChecked(Bool)
        case saslCredentials(Credentials?)
        case maildropOpened(MaildropOpening)
        case messageRead([UInt8]?)
        case deletionsCommitted(Bool)
    }

    enum MaildropOpening: Sendable {
        case opened(POP3Maildrop)
        /// The user's session bound from this address is reached.
        case tooManySessions
        /// Another session holds the maildrop.
        case inUse
        /// Reading it failed (logged by whoever tried).
        case failed
    }

    enum Action: Sendable {
        case send([UInt8])
        /// Send `reply` in plain text, then switch to TLS; `.tlsStarted` (or `.closed`) follows.
        case startTLS(reply: [UInt8])
        /// Answer with `.loginChecked`.
        case checkPassword(user: String, password: String)
        case checkAPOP(user: String, timestamp: String, digest: String)
        case lookUpUser(String)
        /// Answer with `.loginFailureRecorded`.
        case recordLoginFailure(user: String, reason: String)
        /// Answer with `.nonce`: fresh random text for a SASL exchange.
        case drawNonce
        /// Answer with `.saslPasswordChecked` and `.saslCredentials`.
        case saslCheckPassword(user: String, password: String)
        case saslLookUpCredentials(user: String, mechanism: SASLMechanism)
        /// Take the maildrop for this session and read it; answer with `.maildropOpened`.
        case openMaildrop(UserRecord)
        /// Read message `number` (1-based) of the maildrop; answer with `.messageRead`.
        case readMessage(number: Int, maildrop: POP3Maildrop)
        /// Remove (or hide) these messages as one change; answer with `.deletionsCommitted`.
        case commitDeletions([POP3Maildrop.Message], maildrop: POP3Maildrop, user: UserRecord, hold: Bool)
        /// The session's hold on the user's maildrop ends.
        case releaseMaildrop(user: String)
        /// A user logged in (for the log).
        case loggedIn(user: String, messages: Int)
        /// The session is over: close the connection and record how it went.
        case close(SessionTally, closedByServer: Bool, tls: String?)
    }

    private enum State {
        case authorization(user: String?)
        /// A backend call is out; the input that answers it says what follows.
        case awaiting(Awaited)
        case sasl(SASLDriver)
        case startingTLS
        case transaction(user: UserRecord, maildrop: POP3Maildrop, deleted: Set<Int>)
        case closed
    }

    private enum Awaited {
        case login(name: String, reason: String)
        case loginFailure
        case nonce(mechanism: SASLMechanism, initial: [UInt8]?, name: String)
        case saslCheck(SASLDriver)
        case saslUser(String)
        case maildrop(UserRecord)
        case message(command: POP3Command, user: UserRecord, maildrop: POP3Maildrop, deleted: Set<Int>)
        case deletions(user: UserRecord, left: Int)
    }

    let hostname: String
    let policy: POP3Policy
    /// Whether STLS can be offered on this connection.
    let tlsAvailable: Bool
    /// The APOP timestamp in the greeting (RFC 1939 §7).
    let timestamp: String
    let sessionID: String
    private(set) var tls: String?
    private var state = State.authorization(user: nil)
    private var failedLogins = 0
    private var errors = 0
    private(set) var tally: SessionTally

    init(hostname: String, policy: POP3Policy, tls: String?, tlsAvailable: Bool, timestamp: String, sessionID: String,
         startedAt: Date) {
        self.hostname = hostname
        self.policy = policy
        self.tls = tls
        self.tlsAvailable = tlsAvailable
        self.timestamp = timestamp
        self.sessionID = sessionID
        tally = SessionTally(startedAt: startedAt)
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The line limit for the next command line (RFC 1939 §3, with RFC 5034's AUTH lines).
    var lineLimit: Int { policy.commandLineLength }

    // MARK: Input

    mutating func receive(_ input: Input) -> [Action] {
        var actions: [Action] = []
        switch (state, input) {
        case (.closed, _):
            break
        case (_, .connected):
            send(.greeting(timestamp), &actions)
        case (_, .closed):
            end(closedByServer: false, &actions)
        case (_, .timedOut):
            send(.autologout, &actions)
            tally.lastError = "timeout"
            end(closedByServer: false, &actions)
        case (_, .inputError(let error)):
            send(error == .lineTooLong ? .lineTooLong : .bareLineEnding, &actions)
            end(closedByServer: false, &actions)
        case (.sasl(var driver), .line(let line, _)):
            sasl(driver.received(line), driver, &actions)
        case (.startingTLS, .tlsStarted(let version)):
            tls = version ?? "TLS"
            state = .authorization(user: nil)
        case (.startingTLS, _):
            end(closedByServer: true, &actions)
        case (.awaiting(let awaited), _):
            answered(awaited, input, &actions)
        case (.authorization, .line(let line, let buffered)), (.transaction, .line(let line, let buffered)):
            switch POP3CommandParser.parse(line) {
            case .success(let command): handle(command, buffered: buffered, &actions)
            case .failure(.unknownCommand): error("unknown command", &actions)
            case .failure(.badArguments(let text)): error(text, &actions)
            }
        default:
            // An answer nobody asked for, or TLS starting unasked: the session cannot go on.
            end(closedByServer: true, &actions)
        }
        return actions
    }

    // MARK: Replies

    private mutating func send(_ reply: POP3Reply, _ actions: inout [Action]) {
        if !reply.ok { tally.lastError = reply.description }
        actions.append(.send(reply.bytes))
    }

    private func lines(_ lines: [String], _ actions: inout [Action]) {
        actions.append(.send(Array((lines.map { $0 + "\r\n" }.joined() + ".\r\n").utf8)))
    }

    /// An out-of-place or malformed command; too many end the session.
    private mutating func error(_ text: String, _ actions: inout [Action]) {
        send(.err(text), &actions)
        errors += 1
        if errors >= policy.maxErrors { end(closedByServer: true, &actions) }
    }

    private mutating func end(closedByServer: Bool, _ actions: inout [Action]) {
        if case .transaction(let user, _, _) = state { actions.append(.releaseMaildrop(user: user.id)) }
        state = .closed
        tally.authFailures = failedLogins
        actions.append(.close(tally, closedByServer: closedByServer, tls: tls))
    }

    // MARK: Commands

    private var plainTextAllowed: Bool { tls != nil || policy.authWithoutTLS }

    private var mechanisms: [SASLMechanism] {
        SASLMechanism.allCases.filter { ($0 != .cramMD5 || policy.cramMD5) && (!$0.sendsPassword || plainTextAllowed) }
    }

    private mutating func handle(_ command: POP3Command, buffered: Int, _ actions: inout [Action]) {
        if case .capa = command {
            capabilities(&actions)
            return
        }
        switch state {
        case .authorization(let pendingUser):
            authorization(command, pendingUser: pendingUser, buffered: buffered, &actions)
        case .transaction(let user, let maildrop, let deleted):
            transaction(command, user: user, maildrop: maildrop, deleted: deleted, &actions)
        default:
            break
        }
    }

    /// RFC 2449 §6.
    private mutating func capabilities(_ actions: inout [Action]) {
        var words = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "LOGIN-DELAY 0",
                     "IMPLEMENTATION Pillarbox"]
        if case .authorization = state {
            if plainTextAllowed { words.append("USER") }
            words.append("SASL " + mechanisms.map(\.rawValue).joined(separator: " "))
            if tls == nil && tlsAvailable { words.append("STLS") }
        }
        send(.capabilitiesFollow, &actions)
        lines(words, &actions)
    }

    private mutating func authorization(_ command: POP3Command, pendingUser: String?, buffered: Int,
                                        _ actions: inout [Action]) {
        switch command {
        case .user(let name):
            guard plainTextAllowed else {
                send(.plainTextNeedsTLS, &actions)
                return
            }
            state = .authorization(user: name)
            send(.sendPassword, &actions)
        case .pass(let password):
            guard let name = pendingUser else { return error("send USER first", &actions) }
            state = .authorization(user: nil)
            guard plainTextAllowed else { return error("send USER first", &actions) }
            state = .awaiting(.login(name: name, reason: "bad password (USER/PASS)"))
            actions.append(.checkPassword(user: name, password: password))
        case .apop(let name, let digest):
            state = .awaiting(.login(name: name, reason: "bad APOP digest"))
            actions.append(.checkAPOP(user: name, timestamp: timestamp, digest: digest))
        case .auth(nil, _):
            send(.mechanismsFollow, &actions)
            lines(mechanisms.map(\.rawValue), &actions)
        case .auth(let name?, let initial):
            authenticate(name, initial, &actions)
        case .stls:
            startTLS(buffered: buffered, &actions)
        case .quit:
            send(.signingOff(hostname), &actions)
            tally.endedNormally = true
            end(closedByServer: true, &actions)
        case .stat, .list, .retr, .dele, .rset, .noop, .uidl, .top:
            error("log in first", &actions)
        case .capa:
            capabilities(&actions)
        }
    }

    private mutating func loginFailed(_ name: String, reason: String, _ actions: inout [Action]) {
        failedLogins += 1
        state = .awaiting(.loginFailure)
        actions.append(.recordLoginFailure(user: name, reason: reason))
    }

    /// Authenticated: checks the user may use POP3, then asks for the maildrop.
    private mutating func logIn(_ user: UserRecord, _ actions: inout [Action]) {
        guard !user.lockedOut, user.protocols.contains(.pop3) else {
            return loginFailed(user.name, reason: "not allowed to use POP3", &actions)
        }
        state = .awaiting(.maildrop(user))
        actions.append(.openMaildrop(user))
    }

    private mutating func authenticate(_ name: String, _ initial: String?, _ actions: inout [Action]) {
        guard let mechanism = SASLMechanism(rawValue: name), mechanisms.contains(mechanism) else {
            send(SASLMechanism(rawValue: name) != nil && !plainTextAllowed ? .mechanismNeedsTLS
                 : SASLMechanism(rawValue: name) != nil ? .err("Unsupported mechanism", code: "AUTH") : .unsupportedMechanism,
                 &actions)
            return
        }
        var initialBytes: [UInt8]?
        if let initial {
            guard let decoded = Base64.decode(Array(initial.utf8)) else {
                return error("the initial response is not base64", &actions)
            }
            initialBytes = decoded
        }
        state = .awaiting(.nonce(mechanism: mechanism, initial: initialBytes, name: name))
        actions.append(.drawNonce)
    }

    /// Acts on a SASL step: a challenge waits for the next line in `.sasl`; a lookup waits for
    /// its answer; the end logs in or fails.
    private mutating func sasl(_ step: SASLDriver.Step, _ driver: SASLDriver, _ actions: inout [Action]) {
        switch step {
        case .challenge(let bytes):
            state = .sasl(driver)
            actions.append(.send(Array("+ \(Base64.encode(bytes))\r\n".utf8)))
        case .checkPassword(let user, let password):
            state = .awaiting(.saslCheck(driver))
            actions.append(.saslCheckPassword(user: user, password: password))
        case .lookUpCredentials(let user, let mechanism):
            state = .awaiting(.saslCheck(driver))
            actions.append(.saslLookUpCredentials(user: user, mechanism: mechanism))
        case .finished(.succeeded(let user)):
            state = .awaiting(.saslUser(user))
            actions.append(.lookUpUser(user))
        case .finished(.failed(.cancelled)):
            state = .authorization(user: nil)
            send(.authenticationCancelled, &actions)
        case .finished(.failed), .finished(.malformedLine):
            loginFailed(driver.mechanism.rawValue, reason: "\(driver.mechanism.rawValue) exchange failed", &actions)
        case .finished(.connectionEnded):
            end(closedByServer: true, &actions)
        }
    }

    /// RFC 2595 §4: STLS, with the STARTTLS injection guard (nothing pipelined behind it).
    private mutating func startTLS(buffered: Int, _ actions: inout [Action]) {
        guard tls == nil, tlsAvailable else { return error("TLS is not available here", &actions) }
        guard buffered == 0 else {
            send(.pipelinedAfterSTLS, &actions)
            return end(closedByServer: true, &actions)
        }
        state = .startingTLS
        actions.append(.startTLS(reply: POP3Reply.beginTLS.bytes))
    }

    // MARK: Answers

    private mutating func answered(_ awaited: Awaited, _ input: Input, _ actions: inout [Action]) {
        switch (awaited, input) {
        case (.login(let name, let reason), .loginChecked(let user)):
            guard let user else { return loginFailed(name, reason: reason, &actions) }
            logIn(user, &actions)
        case (.loginFailure, .loginFailureRecorded(let blocked)):
            state = .authorization(user: nil)
            send(.authenticationFailed, &actions)
            if blocked {
                // The login IPS blocked this address with that failure: no more guesses here.
                send(.blocked, &actions)
                end(closedByServer: true, &actions)
            } else if failedLogins >= policy.maxFailedLogins {
                send(.tooManyFailedLogins, &actions)
                end(closedByServer: true, &actions)
            }
        case (.nonce(let mechanism, let initial, _), .nonce(let nonce)):
            var driver = SASLDriver(mechanism, hostname: hostname, nonce: nonce)
            sasl(driver.start(initial: initial), driver, &actions)
        case (.saslCheck(var driver), .saslPasswordChecked(let valid)):
            sasl(driver.passwordChecked(valid), driver, &actions)
        case (.saslCheck(var driver), .saslCredentials(let credentials)):
            sasl(driver.credentials(credentials), driver, &actions)
        case (.saslUser(let name), .loginChecked(let user)):
            guard let user else { return loginFailed(name, reason: "no such user", &actions) }
            logIn(user, &actions)
        case (.maildrop(let user), .maildropOpened(let opening)):
            opened(opening, user: user, &actions)
        case (.message(let command, let user, let maildrop, let deleted), .messageRead(let bytes)):
            state = .transaction(user: user, maildrop: maildrop, deleted: deleted)
            guard let bytes else { return send(.cannotReadMessage(session: sessionID), &actions) }
            if case .top(_, let bodyLines) = command {
                send(.topFollows, &actions)
                actions.append(.send(POP3MessageWriter.multiline(bytes, bodyLines: bodyLines)))
            } else if case .retr(let number) = command {
                let size = maildrop.messages[number - 1].size
                send(.ok("\(size) octets"), &actions)
                actions.append(.send(POP3MessageWriter.multiline(bytes)))
                tally.messages += 1
                tally.bytes += size
            }
        case (.deletions(let user, let left), .deletionsCommitted(let committed)):
            guard committed else {
                state = .authorization(user: nil)
                actions.append(.releaseMaildrop(user: user.id))
                send(.deletionsFailed(session: sessionID), &actions)
                return end(closedByServer: true, &actions)
            }
            signOff(user: user, left: left, &actions)
        default:
            end(closedByServer: true, &actions)
        }
    }

    private mutating func opened(_ opening: MaildropOpening, user: UserRecord, _ actions: inout [Action]) {
        state = .authorization(user: nil)
        switch opening {
        case .opened(let maildrop):
            state = .transaction(user: user, maildrop: maildrop, deleted: [])
            tally.user = user.name
            tally.authSuccesses += 1
            let octets = maildrop.messages.reduce(Int64(0)) { $0 + $1.size }
            actions.append(.loggedIn(user: user.name, messages: maildrop.messages.count))
            send(.ok("\(user.name) has \(maildrop.messages.count) messages (\(octets) octets)"), &actions)
        case .tooManySessions:
            send(.tooManyUserSessions, &actions)
            end(closedByServer: true, &actions)
        case .inUse:
            send(.maildropInUse, &actions)
        case .failed:
            send(.cannotOpenMaildrop(session: sessionID), &actions)
        }
    }

    // MARK: Transaction state

    private mutating func transaction(_ command: POP3Command, user: UserRecord, maildrop: POP3Maildrop, deleted: Set<Int>,
                                      _ actions: inout [Action]) {
        let messages = maildrop.messages
        func lookup(_ number: Int) -> POP3Maildrop.Message? {
            guard number >= 1, number <= messages.count, !deleted.contains(number) else { return nil }
            return messages[number - 1]
        }
        switch command {
        case .stat:
            let live = messages.indices.filter { !deleted.contains($0 + 1) }
            send(.ok("\(live.count) \(live.reduce(Int64(0)) { $0 + messages[$1].size })"), &actions)
        case .list(let number?):
            guard let message = lookup(number) else { return error("no such message", &actions) }
            send(.ok("\(number) \(message.size)"), &actions)
        case .list(nil):
            send(.scanListingFollows, &actions)
            lines(messages.enumerated().filter { !deleted.contains($0.offset + 1) }.map { "\($0.offset + 1) \($0.element.size)" },
                  &actions)
        case .uidl(let number?):
            guard let message = lookup(number) else { return error("no such message", &actions) }
            send(.ok("\(number) \(maildrop.uniqueID(message))"), &actions)
        case .uidl(nil):
            send(.uniqueIDListingFollows, &actions)
            lines(messages.enumerated().filter { !deleted.contains($0.offset + 1) }
                .map { "\($0.offset + 1) \(maildrop.uniqueID($0.element))" }, &actions)
        case .retr(let number), .top(let number, _):
            guard lookup(number) != nil else { return error("no such message", &actions) }
            state = .awaiting(.message(command: command, user: user, maildrop: maildrop, deleted: deleted))
            actions.append(.readMessage(number: number, maildrop: maildrop))
        case .dele(let number):
            guard lookup(number) != nil else { return error("no such message", &actions) }
            state = .transaction(user: user, maildrop: maildrop, deleted: deleted.union([number]))
            send(.ok("message \(number) deleted"), &actions)
        case .rset:
            state = .transaction(user: user, maildrop: maildrop, deleted: [])
            send(.ok("maildrop has \(messages.count) messages"), &actions)
        case .noop:
            send(.ok(""), &actions)
        case .quit:
            // RFC 1939 §6: the UPDATE state.
            let gone = deleted.sorted().map { messages[$0 - 1] }
            let left = messages.count - gone.count
            guard gone.isEmpty else {
                state = .awaiting(.deletions(user: user, left: left))
                actions.append(.commitDeletions(gone, maildrop: maildrop, user: user, hold: policy.holdDeleted))
                return
            }
            signOff(user: user, left: left, &actions)
        case .user, .pass, .apop, .auth, .stls:
            error("already logged in", &actions)
        case .capa:
            capabilities(&actions)
        }
    }

    private mutating func signOff(user: UserRecord, left: Int, _ actions: inout [Action]) {
        // The maildrop is free before the client reads +OK: a client that logs in again at
        // once must not find it still held.
        state = .authorization(user: nil)
        actions.append(.releaseMaildrop(user: user.id))
        send(.ok("\(hostname) signing off (\(left) messages left)"), &actions)
        tally.endedNormally = true
        end(closedByServer: true, &actions)
    }
}
