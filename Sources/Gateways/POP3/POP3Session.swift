import EventLog
import Facts
import Foundation
import Logging
import POP3Wire
import Projections
import WireCore

/// Runs a `POP3StateMachine` over a connection: reads command lines, performs the machine's
/// actions (sending, the backend calls, STLS) and feeds their answers back. Replies collect
/// until the session needs input, so pipelined commands are answered in one write.
public final class POP3Session {
    let transport: ClientTransport
    let backend: POP3Backend
    let context: POP3SessionContext
    var logger: Logger
    var machine: POP3StateMachine
    var input = LineBuffer()
    var output: [UInt8] = []
    /// The connection's place in the POP3 session limits, and how many sessions one user may
    /// have from one address.
    var ticket: SessionLimits.Ticket?
    var userSessionBound = Int.max
    /// The connection's entry on the admin's Sessions page.
    var live = LiveSession()
    /// The listener's command and reply counters.
    var metrics: ProtocolMetrics?
    /// Bodies read ahead: clients usually fetch message after message. While the client takes
    /// one batch, the next is already being read (`nextBatch`), so a download does not stop
    /// for the database every `readAheadCount` messages.
    var readAhead: [BlobID: [UInt8]] = [:]
    /// Where the bodies read (or being read) ahead end: the index of the first message after them.
    var readAheadEnd = 0
    var nextBatch: (range: Range<Int>, task: Task<[BlobID: [UInt8]], any Error>)?
    /// The maildrop lease this session holds (its holder name), and the task renewing it.
    var lease: (user: String, holder: String)?
    var leaseRenewal: Task<Void, Never>?
    static let readAheadCount = 32
    /// A batch read ahead stops at this many bytes (after its first message).
    static let readAheadBytes: Int64 = 4 << 20

    public init(transport: ClientTransport, backend: POP3Backend, context: POP3SessionContext, logger: Logger) {
        self.transport = transport
        self.backend = backend
        self.context = context
        self.logger = logger
        machine = POP3StateMachine(hostname: backend.hostname, policy: backend.policy(), tls: context.tls,
                                   tlsAvailable: transport.tlsAvailable, timestamp: "<\(backend.makeNonce())@\(backend.hostname)>",
                                   sessionID: context.id, startedAt: backend.now())
        self.logger[metadataKey: "session"] = "\(context.id)"
        self.logger[metadataKey: "client"] = "\(context.clientIP)"
    }

    public func run() async {
        var next: POP3StateMachine.Input? = .connected
        while let input = next {
            await MachineDriver.feed(input, receive: { machine.receive($0) }, perform: { await perform($0) })
            next = machine.isClosed ? nil : await nextInput()
        }
    }

    /// Performs one action; returns the answer to feed back, if the action asked a question.
    func perform(_ action: POP3StateMachine.Action) async -> POP3StateMachine.Input? {
        switch action {
        case .send(let bytes):
            metrics?.pop3Reply(bytes)
            output += bytes
        case .startTLS(let reply):
            input.discardAll()
            await flush()
            do { try await transport.startTLS(reply: reply) } catch { return .closed }
            switch await transport.read() {
            case .tlsStarted(let version):
                live.secured(version ?? "TLS")
                return .tlsStarted(version: version)
            case .bytes, .timedOut, .closed: return .closed
            }
        case .checkPassword(let user, let password):
            return .loginChecked(await backend.checkPassword(user: user, password: password))
        case .checkAPOP(let user, let timestamp, let digest):
            return .loginChecked(await backend.checkAPOP(user: user, timestamp: timestamp, digest: digest))
        case .lookUpUser(let name):
            return .loginChecked(await backend.user(named: name))
        case .recordLoginFailure(let user, let reason):
            return .loginFailureRecorded(blocked: await backend.loginFailed(user: user, reason: reason, session: sessionContext))
        case .drawNonce:
            return .nonce(backend.makeNonce())
        case .saslCheckPassword(let user, let password):
            return .saslPasswordChecked(await backend.checkPassword(user: user, password: password) != nil)
        case .saslLookUpCredentials(let user, let mechanism):
            return .saslCredentials(await backend.credentials(user: user, mechanism: mechanism))
        case .openMaildrop(let user):
            return .maildropOpened(await openMaildrop(user))
        case .readMessage(let number, let maildrop):
            live.doing("sending message \(number) of \(maildrop.messages.count)")
            do { return .messageRead(try await body(of: number, in: maildrop)) } catch {
                logger.error("reading a message failed", metadata: ["error": "\(String(reflecting: error))"])
                return .messageRead(nil)
            }
        case .commitDeletions(let messages, let maildrop, let user, let hold):
            live.doing("deleting \(messages.count) messages")
            do {
                try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "P", actor: user.name, clientIP: context.clientIP)) {
                    try await backend.delete(messages, from: maildrop, user: user.id, hold: hold)
                }
                return .deletionsCommitted(true)
            } catch {
                logger.error("removing deleted messages failed", metadata: ["error": "\(String(reflecting: error))"])
                return .deletionsCommitted(false)
            }
        case .releaseMaildrop:
            await releaseLease()
        case .loggedIn(let user, let messages):
            live.loggedIn(user)
            live.doing("maildrop open, \(messages) messages")
            logger.info("logged in", metadata: ["user": "\(user)", "messages": "\(messages)"])
        case .close(let tally, let closedByServer, let tls):
            ticket?.release()
            nextBatch?.task.cancel()
            nextBatch = nil
            await flush()
            await transport.close()
            await backend.sessionEnded(tally.summary(id: context.id, kind: .pop3, service: context.service.rawValue,
                                                     clientIP: context.clientIP, tls: tls, closedByServer: closedByServer,
                                                     endedAt: backend.now()))
        }
        return nil
    }

    /// The connection as the backend sees it (with TLS once started).
    var sessionContext: POP3SessionContext {
        var current = context
        current.tls = machine.tls
        return current
    }

    func openMaildrop(_ user: UserRecord) async -> POP3StateMachine.MaildropOpening {
        if let ticket, !ticket.logIn(user: user.id, bound: userSessionBound) { return .tooManySessions }
        let holder = "\(context.id) \(backend.makeNonce())"
        do {
            guard try await backend.lockMaildrop(user.id, holder: holder) else { return .inUse }
        } catch {
            logger.error("taking the maildrop lease failed", metadata: ["error": "\(String(reflecting: error))"])
            return .failed
        }
        lease = (user.id, holder)
        let backend = self.backend, logger = self.logger
        // Renewed while the session lasts; a lease lost meanwhile (the database was out of reach
        // longer than the lease) is only logged: the expunge at QUIT is one transaction either way.
        leaseRenewal = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: POP3Maildrops.leaseRenewal)
                guard !Task.isCancelled else { return }
                if (try? await backend.renewMaildrop(user.id, holder: holder)) != true {
                    logger.warning("the maildrop lease could not be renewed", metadata: ["user": "\(user.id)"])
                }
            }
        }
        do {
            return .opened(try await backend.maildrop(for: user.id))
        } catch {
            await releaseLease()
            logger.error("opening a maildrop failed", metadata: ["error": "\(String(reflecting: error))"])
            return .failed
        }
    }

    /// Message `number`'s stored bytes, reading the next few bodies along with it, and the
    /// batch after those while the client takes these.
    func body(of number: Int, in maildrop: POP3Maildrop) async throws -> [UInt8] {
        let index = number - 1, message = maildrop.messages[index]
        if readAhead[message.blob] == nil, let batch = nextBatch, batch.range.contains(index) {
            nextBatch = nil
            readAhead.merge(try await batch.task.value) { current, _ in current }
        }
        if let bytes = readAhead.removeValue(forKey: message.blob) {
            readNextBatch(after: index, in: maildrop)
            return bytes
        }
        // Not where the client was going: start again from here.
        nextBatch?.task.cancel()
        nextBatch = nil
        let range = batch(from: index, in: maildrop)
        readAhead = try await backend.messages(maildrop.messages[range].map(\.blob))
        readAheadEnd = range.upperBound
        guard let bytes = readAhead.removeValue(forKey: message.blob) else {
            throw MailStoreError.noSuchBody(message.blob.description)
        }
        readNextBatch(after: index, in: maildrop)
        return bytes
    }

    /// Starts reading the batch after the bodies at hand once the client is halfway through them.
    private func readNextBatch(after index: Int, in maildrop: POP3Maildrop) {
        guard nextBatch == nil, readAheadEnd < maildrop.messages.count,
              readAheadEnd - index - 1 <= Self.readAheadCount / 2 else { return }
        let range = batch(from: readAheadEnd, in: maildrop)
        let blobs = maildrop.messages[range].map(\.blob), backend = self.backend
        nextBatch = (range, Task { try await backend.messages(blobs) })
        readAheadEnd = range.upperBound
    }

    /// The messages of one read-ahead batch from `start`: at most `readAheadCount` of them and,
    /// past the first, `readAheadBytes`.
    private func batch(from start: Int, in maildrop: POP3Maildrop) -> Range<Int> {
        var end = start, bytes: Int64 = 0
        while end < maildrop.messages.count, end - start < Self.readAheadCount,
              end == start || bytes + maildrop.messages[end].size <= Self.readAheadBytes {
            bytes += maildrop.messages[end].size
            end += 1
        }
        return start..<end
    }

    func flush() async {
        guard !output.isEmpty else { return }
        let bytes = output
        output = []
        try? await transport.write(bytes)
    }

    /// The next command line, or how the input ended.
    func nextInput() async -> POP3StateMachine.Input {
        while true {
            do {
                if let line = try input.nextLine(limit: machine.lineLimit) {
                    metrics?.command(LiveSession.verb(line))
                    return .line(line, buffered: input.count)
                }
            } catch {
                return .inputError(error)
            }
            await flush()
            switch await transport.read() {
            case .bytes(let bytes): input.append(bytes)
            case .tlsStarted: continue
            case .timedOut: return .timedOut
            case .closed: return .closed
            }
        }
    }

    /// Gives the maildrop lease up (at QUIT, or when the connection ends).
    func releaseLease() async {
        leaseRenewal?.cancel()
        leaseRenewal = nil
        guard let (user, holder) = lease else { return }
        lease = nil
        await backend.unlockMaildrop(user, holder: holder)
    }
}
