import EventLog
import Facts
import Foundation
import Logging
import POP3Wire
import Projections
import WireCore

/// One POP3 conversation (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034)
/// and the response codes of RFC 2449 and RFC 3206. The maildrop is INBOX as it stood at login;
/// DELE only marks, and QUIT commits the deletions as one change. A dropped connection deletes
/// nothing.
public final class POP3Session {
    enum State {
        case authorization(user: String?)
        case transaction(user: UserRecord, maildrop: POP3Maildrop, deleted: Set<Int>)
    }

    enum Outcome {
        case proceed
        case close
    }

    let transport: ClientTransport
    let backend: POP3Backend
    var context: POP3SessionContext
    var logger: Logger
    let policy: POP3Policy
    var input = LineBuffer()
    var output: [UInt8] = []
    var state = State.authorization(user: nil)
    var failedLogins = 0
    var errors = 0
    var tally: SessionTally
    /// The APOP timestamp in the greeting (RFC 1939 §7).
    let timestamp: String
    /// The connection's place in the POP3 session limits, and how many sessions one user may
    /// have from one address.
    var ticket: SessionLimits.Ticket?
    var userSessionBound = Int.max
    /// Bodies read ahead: clients usually fetch message after message.
    var readAhead: [BlobID: [UInt8]] = [:]
    static let readAheadCount = 32

    public init(transport: ClientTransport, backend: POP3Backend, context: POP3SessionContext, logger: Logger) {
        self.transport = transport
        self.backend = backend
        self.context = context
        self.logger = logger
        self.policy = backend.policy()
        self.timestamp = "<\(backend.makeNonce())@\(backend.hostname)>"
        self.tally = SessionTally(startedAt: backend.now())
        self.logger[metadataKey: "session"] = "\(context.id)"
        self.logger[metadataKey: "client"] = "\(context.clientIP)"
    }

    public func run() async {
        send(.greeting(timestamp))
        while true {
            let line: ArraySlice<UInt8>
            switch await nextLine() {
            case .line(let bytes): line = bytes
            case .end:
                await finish(closedByServer: false)
                return
            }
            let outcome: Outcome
            switch POP3CommandParser.parse(line) {
            case .success(let command): outcome = await handle(command)
            case .failure(.unknownCommand): outcome = error("unknown command")
            case .failure(.badArguments(let text)): outcome = error(text)
            }
            if case .close = outcome {
                await finish(closedByServer: true)
                return
            }
        }
    }

    private func finish(closedByServer: Bool) async {
        ticket?.release()
        await flush()
        await transport.close()
        if case .transaction(let user, _, _) = state { backend.unlockMaildrop(user.id) }
        tally.authFailures = failedLogins
        await backend.sessionEnded(tally.summary(id: context.id, kind: .pop3, service: context.service.rawValue, clientIP: context.clientIP,
                                                 tls: context.tls, closedByServer: closedByServer, endedAt: backend.now()))
    }

    // MARK: Replies

    func send(_ reply: POP3Reply) {
        if !reply.ok { tally.lastError = reply.description }
        output.append(contentsOf: reply.bytes)
    }

    func ok(_ text: String) { send(.ok(text)) }

    func err(_ text: String, code: String? = nil) { send(.err(text, code: code)) }

    /// An out-of-place or malformed command; too many end the session.
    func error(_ text: String) -> Outcome {
        err(text)
        errors += 1
        return errors >= policy.maxErrors ? .close : .proceed
    }

    func flush() async {
        guard !output.isEmpty else { return }
        let bytes = output
        output = []
        try? await transport.write(bytes)
    }

    enum LineResult {
        case line(ArraySlice<UInt8>)
        case end
    }

    func nextLine() async -> LineResult {
        while true {
            do {
                if let line = try input.nextLine(limit: policy.commandLineLength) { return .line(line) }
            } catch {
                send(error == .lineTooLong ? .lineTooLong : .bareLineEnding)
                return .end
            }
            await flush()
            switch await transport.read() {
            case .bytes(let bytes): input.append(bytes)
            case .tlsStarted: continue
            case .timedOut:
                send(.autologout)
                tally.lastError = "timeout"
                return .end
            case .closed:
                return .end
            }
        }
    }

    // MARK: Commands

    func handle(_ command: POP3Command) async -> Outcome {
        if case .capa = command {
            capabilities()
            return .proceed
        }
        switch state {
        case .authorization(let pendingUser):
            return await authorization(command, pendingUser: pendingUser)
        case .transaction(let user, let maildrop, let deleted):
            return await transaction(command, user: user, maildrop: maildrop, deleted: deleted)
        }
    }

    var plainTextAllowed: Bool { context.tls != nil || policy.authWithoutTLS }

    var mechanisms: [SASLMechanism] {
        SASLMechanism.allCases.filter { ($0 != .cramMD5 || policy.cramMD5) && (!$0.sendsPassword || plainTextAllowed) }
    }

    /// RFC 2449 §6.
    func capabilities() {
        var lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "LOGIN-DELAY 0",
                     "IMPLEMENTATION Pillarbox"]
        if case .authorization = state {
            if plainTextAllowed { lines.append("USER") }
            lines.append("SASL " + mechanisms.map(\.rawValue).joined(separator: " "))
            if context.tls == nil && transport.tlsAvailable { lines.append("STLS") }
        }
        send(.capabilitiesFollow)
        for line in lines { output.append(contentsOf: Array("\(line)\r\n".utf8)) }
        output.append(contentsOf: Array(".\r\n".utf8))
    }

    func authorization(_ command: POP3Command, pendingUser: String?) async -> Outcome {
        switch command {
        case .user(let name):
            guard plainTextAllowed else {
                send(.plainTextNeedsTLS)
                return .proceed
            }
            state = .authorization(user: name)
            send(.sendPassword)
        case .pass(let password):
            guard let name = pendingUser else { return error("send USER first") }
            state = .authorization(user: nil)
            guard plainTextAllowed else { return error("send USER first") }
            guard let user = await backend.checkPassword(user: name, password: password) else {
                return await loginFailed(name, reason: "bad password (USER/PASS)")
            }
            return await logIn(user)
        case .apop(let name, let digest):
            guard let user = await backend.checkAPOP(user: name, timestamp: timestamp, digest: digest) else {
                return await loginFailed(name, reason: "bad APOP digest")
            }
            return await logIn(user)
        case .auth(nil, _):
            send(.mechanismsFollow)
            for mechanism in mechanisms { output.append(contentsOf: Array("\(mechanism.rawValue)\r\n".utf8)) }
            output.append(contentsOf: Array(".\r\n".utf8))
        case .auth(let name?, let initial):
            return await authenticate(name, initial)
        case .stls:
            return await startTLS()
        case .quit:
            send(.signingOff(backend.hostname))
            tally.endedNormally = true
            return .close
        case .stat, .list, .retr, .dele, .rset, .noop, .uidl, .top:
            return error("log in first")
        case .capa:
            capabilities()
        }
        return .proceed
    }

    func loginFailed(_ name: String, reason: String) async -> Outcome {
        failedLogins += 1
        let blocked = await backend.loginFailed(user: name, reason: reason, session: context)
        send(.authenticationFailed)
        if blocked {
            // The login IPS blocked this address with that failure: no more guesses here.
            send(.blocked)
            return .close
        }
        if failedLogins >= policy.maxFailedLogins {
            send(.tooManyFailedLogins)
            return .close
        }
        return .proceed
    }

    /// Authenticated: checks the user may use POP3, takes the maildrop, opens the session.
    func logIn(_ user: UserRecord) async -> Outcome {
        guard !user.lockedOut, user.protocols.contains(.pop3) else {
            return await loginFailed(user.name, reason: "not allowed to use POP3")
        }
        if let ticket, !ticket.logIn(user: user.id, bound: userSessionBound) {
            send(.tooManyUserSessions)
            return .close
        }
        guard backend.lockMaildrop(user.id) else {
            send(.maildropInUse)
            return .proceed
        }
        do {
            let maildrop = try await backend.maildrop(for: user.id)
            state = .transaction(user: user, maildrop: maildrop, deleted: [])
            tally.user = user.name
            tally.authSuccesses += 1
            let octets = maildrop.messages.reduce(Int64(0)) { $0 + $1.size }
            logger.info("logged in", metadata: ["user": "\(user.name)", "messages": "\(maildrop.messages.count)"])
            ok("\(user.name) has \(maildrop.messages.count) messages (\(octets) octets)")
        } catch {
            backend.unlockMaildrop(user.id)
            logger.error("opening a maildrop failed", metadata: ["error": "\(String(reflecting: error))"])
            send(.cannotOpenMaildrop(session: context.id))
        }
        return .proceed
    }

    func authenticate(_ name: String, _ initial: String?) async -> Outcome {
        guard let mechanism = SASLMechanism(rawValue: name), mechanisms.contains(mechanism) else {
            send(SASLMechanism(rawValue: name) != nil && !plainTextAllowed ? .mechanismNeedsTLS
                 : SASLMechanism(rawValue: name) != nil ? .err("Unsupported mechanism", code: "AUTH") : .unsupportedMechanism)
            return .proceed
        }
        var initialBytes: [UInt8]?
        if let initial {
            guard let decoded = Base64.decode(Array(initial.utf8)) else { return error("the initial response is not base64") }
            initialBytes = decoded
        }
        let backend = self.backend
        let channel = SASLDriver.Channel(
            challenge: { bytes in
                self.output.append(contentsOf: Array("+ \(Base64.encode(bytes))\r\n".utf8))
                guard case .line(let line) = await self.nextLine() else { return nil }
                return line
            },
            checkPassword: { await backend.checkPassword(user: $0, password: $1) != nil },
            credentials: { await backend.credentials(user: $0, mechanism: $1) })
        switch await SASLDriver.run(mechanism, hostname: backend.hostname, nonce: backend.makeNonce(), initial: initialBytes,
                                    over: channel) {
        case .succeeded(let user):
            guard let record = await backend.user(named: user) else { return await loginFailed(user, reason: "no such user") }
            return await logIn(record)
        case .failed(.cancelled):
            send(.authenticationCancelled)
            return .proceed
        case .failed, .malformedLine:
            return await loginFailed(name, reason: "\(mechanism.rawValue) exchange failed")
        case .connectionEnded:
            return .close
        }
    }

    /// RFC 2595 §4: STLS, with the STARTTLS injection guard (nothing pipelined behind it).
    func startTLS() async -> Outcome {
        guard context.tls == nil, transport.tlsAvailable else { return error("TLS is not available here") }
        guard input.isEmpty else {
            input.discardAll()
            send(.pipelinedAfterSTLS)
            return .close
        }
        await flush()
        do { try await transport.startTLS(reply: POP3Reply.beginTLS.bytes) } catch { return .close }
        while true {
            switch await transport.read() {
            case .tlsStarted(let version):
                context.tls = version ?? "TLS"
                state = .authorization(user: nil)
                return .proceed
            case .bytes, .timedOut, .closed:
                return .close
            }
        }
    }

    // MARK: Transaction state

    /// Message `number`'s stored bytes, reading the next few bodies along with it.
    func body(of number: Int, in maildrop: POP3Maildrop) async throws -> [UInt8] {
        let message = maildrop.messages[number - 1]
        if let bytes = readAhead.removeValue(forKey: message.blob) { return bytes }
        readAhead.removeAll()
        let upcoming = maildrop.messages[(number - 1)..<min(maildrop.messages.count, number - 1 + Self.readAheadCount)]
        readAhead = try await backend.messages(upcoming.map(\.blob))
        guard let bytes = readAhead.removeValue(forKey: message.blob) else {
            throw MailStoreError.noSuchBody(message.blob.description)
        }
        return bytes
    }

    func transaction(_ command: POP3Command, user: UserRecord, maildrop: POP3Maildrop, deleted: Set<Int>) async -> Outcome {
        let messages = maildrop.messages
        func lookup(_ number: Int) -> POP3Maildrop.Message? {
            guard number >= 1, number <= messages.count, !deleted.contains(number) else { return nil }
            return messages[number - 1]
        }
        switch command {
        case .stat:
            let live = messages.indices.filter { !deleted.contains($0 + 1) }
            ok("\(live.count) \(live.reduce(Int64(0)) { $0 + messages[$1].size })")
        case .list(let number?):
            guard let message = lookup(number) else { return error("no such message") }
            ok("\(number) \(message.size)")
        case .list(nil):
            send(.scanListingFollows)
            for (index, message) in messages.enumerated() where !deleted.contains(index + 1) {
                output.append(contentsOf: Array("\(index + 1) \(message.size)\r\n".utf8))
            }
            output.append(contentsOf: Array(".\r\n".utf8))
        case .uidl(let number?):
            guard let message = lookup(number) else { return error("no such message") }
            ok("\(number) \(maildrop.uniqueID(message))")
        case .uidl(nil):
            send(.uniqueIDListingFollows)
            for (index, message) in messages.enumerated() where !deleted.contains(index + 1) {
                output.append(contentsOf: Array("\(index + 1) \(maildrop.uniqueID(message))\r\n".utf8))
            }
            output.append(contentsOf: Array(".\r\n".utf8))
        case .retr(let number), .top(let number, _):
            guard let message = lookup(number) else { return error("no such message") }
            let bytes: [UInt8]
            do { bytes = try await body(of: number, in: maildrop) } catch {
                logger.error("reading a message failed", metadata: ["error": "\(String(reflecting: error))"])
                send(.cannotReadMessage(session: context.id))
                return .proceed
            }
            if case .top(_, let lines) = command {
                send(.topFollows)
                output.append(contentsOf: POP3MessageWriter.multiline(bytes, bodyLines: lines))
            } else {
                ok("\(message.size) octets")
                output.append(contentsOf: POP3MessageWriter.multiline(bytes))
                tally.messages += 1
                tally.bytes += message.size
            }
        case .dele(let number):
            guard lookup(number) != nil else { return error("no such message") }
            state = .transaction(user: user, maildrop: maildrop, deleted: deleted.union([number]))
            ok("message \(number) deleted")
        case .rset:
            state = .transaction(user: user, maildrop: maildrop, deleted: [])
            ok("maildrop has \(messages.count) messages")
        case .noop:
            ok("")
        case .quit:
            // RFC 1939 §6: the UPDATE state.
            let gone = deleted.sorted().map { messages[$0 - 1] }
            if !gone.isEmpty {
                do {
                    try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "P", actor: user.name, clientIP: context.clientIP)) {
                        try await backend.delete(gone, from: maildrop, user: user.id, hold: policy.holdDeleted)
                    }
                } catch {
                    logger.error("removing deleted messages failed", metadata: ["error": "\(String(reflecting: error))"])
                    send(.deletionsFailed(session: context.id))
                    return .close
                }
            }
            // The maildrop is free before the client reads +OK: a client that logs in again at
            // once must not find it still held.
            backend.unlockMaildrop(user.id)
            state = .authorization(user: nil)
            ok("\(backend.hostname) signing off (\(messages.count - gone.count) messages left)")
            tally.endedNormally = true
            return .close
        case .user, .pass, .apop, .auth, .stls:
            return error("already logged in")
        case .capa:
            capabilities()
        }
        return .proceed
    }
}
