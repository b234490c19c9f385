import Facts
import Foundation
import Logging
import MailCore
import Projections
import Routing
import SMTPWire
import WireCore

/// Runs an `SMTPStateMachine` over a connection: reads command lines and message bodies,
/// performs the machine's actions (replies, the backend calls, STARTTLS, the body's spool) and
/// feeds their answers back. Replies to pipelined commands collect and are written together
/// before the session waits for more input (RFC 2920).
public final class SMTPSession {
    let transport: ClientTransport
    let backend: SMTPBackend
    var logger: Logger
    var machine: SMTPStateMachine
    var input = LineBuffer()
    var output: [UInt8] = []
    /// The body of the open transaction, with the scanner reading it.
    var sink: SMTPBodySink?
    var scanner: SMTPBodyScanner?
    /// Called once when the session's connection is over, before its record is written: frees
    /// the client's connection slot at once.
    var onClose: @Sendable () -> Void = {}
    /// The connection's entry on the admin's Sessions page.
    var live = LiveSession()
    /// The listener's command and reply counters.
    var metrics: ProtocolMetrics?

    public init(transport: ClientTransport, backend: SMTPBackend, context: SMTPSessionContext, logger: Logger) {
        self.transport = transport
        self.backend = backend
        self.logger = logger
        let environment = SMTPStateMachine.Environment(now: { backend.now() }, makeID: { backend.makeNonce() },
                                                       policy: { backend.policy() }, isBlocked: { backend.isBlocked($0) })
        machine = SMTPStateMachine(context: context, hostname: backend.hostname, tlsAvailable: transport.tlsAvailable,
                                   environment: environment)
        self.logger[metadataKey: "session"] = "\(context.id)"
        self.logger[metadataKey: "client"] = "\(context.clientIP)"
    }

    /// Runs the conversation to its end; never throws (failures become replies and a close).
    public func run() async {
        var next: SMTPStateMachine.Input? = .connected
        var shownUser: String?
        while let input = next {
            await MachineDriver.feed(input, receive: { machine.receive($0) }, perform: { await perform($0) })
            if let user = machine.context.authenticatedUser?.name, user != shownUser {
                shownUser = user
                live.loggedIn(user)
            }
            switch machine.wait {
            case .commandLine(let limit):
                next = await nextLine(limit: limit)
                if case .line(let line, _)? = next {
                    let verb = LiveSession.verb(line)
                    live.doing(verb)
                    metrics?.command(verb)
                }
            case .authLine(let limit): next = await nextLine(limit: limit)
            case .closed: next = nil
            case .action: next = .closed // waiting for an answer no action asked for: end the session
            }
        }
        sink?.discard()
    }

    /// Performs one action; returns the answer to feed back, if the action asked a question.
    func perform(_ action: SMTPStateMachine.Action) async -> SMTPStateMachine.Input? {
        switch action {
        case .send(let bytes):
            metrics?.smtpReply(bytes)
            output += bytes
        case .discardInput:
            input.discardAll()
        case .startTLS(let reply):
            await flush()
            do { try await transport.startTLS(reply: reply) } catch { return .closed }
            switch await transport.read() {
            case .bytes: return .plainTextAfterSTARTTLS
            case .tlsStarted(let version):
                input.discardAll()
                live.secured(version ?? "TLS")
                return .tlsStarted(version: version)
            case .timedOut, .closed: return .closed
            }
        case .openBody(let messageID, let trace, let returnPathLength):
            sink?.discard()
            scanner = nil
            sink = SMTPBodySink(messageID: messageID, trace: trace, returnPathLength: returnPathLength, memoryLimit: 1 << 20,
                                spoolDirectory: backend.spoolDirectory)
        case .readBody(.data(let limit, let lineLimit)):
            return .bodyRead(await readData(limit: limit, lineLimit: lineLimit))
        case .readBody(.chunk(let size, let last, let limit, let lineLimit, let store)):
            return .bodyRead(await readChunk(size: size, last: last, limit: limit, lineLimit: lineLimit, store: store))
        case .finishBody:
            return .bodyFinished(finishBody())
        case .discardBody:
            sink?.discard()
            sink = nil
            scanner = nil
        case .removeSpool(let path):
            try? FileManager.default.removeItem(atPath: path)
        case .recordIDS(let kind, let details, let append, let session):
            return .idsRecorded(score: await backend.record(kind, details: details, session: session, append: append))
        case .authenticate(let finished, let spf, let policy):
            let result = await backend.authenticate(finished.body, clientStart: finished.traceLength, spf: spf, policy: policy)
            guard !result.field.isEmpty || !result.forged.isEmpty else { return .authenticated(result, finished) }
            do {
                return .authenticated(result, try SMTPBodySink.rewrite(finished, inserting: Array(result.field.utf8),
                                                                       removing: result.forged))
            } catch {
                logger.error("writing the checks' results into a message failed", metadata: ["error": "\(error)"])
                return .authenticated(result, nil)
            }
        case .checkSPF(let client, let sender, let helo):
            return .spfChecked(await backend.checkSPF(client: client, sender: sender, helo: helo))
        case .checkSender(let address, let user):
            return .senderChecked(await backend.mayUse(sender: address, user: user))
        case .resolve(let path, let session, let policy):
            return .resolved(await backend.resolve(path, session: session, policy: policy))
        case .checkStorage(let user, let size):
            return .storageChecked(await backend.storage(for: user, adding: size))
        case .expand(let name):
            return .expanded(await backend.expand(name))
        case .checkPassword(let user, let password):
            return .passwordChecked(await backend.checkPassword(user: user, password: password) != nil)
        case .lookUpCredentials(let user, let mechanism):
            return .credentials(await backend.credentials(user: user, mechanism: mechanism))
        case .lookUpUser(let name):
            return .userFound(await backend.user(named: name))
        case .accept(let message, let notes, let session):
            do {
                try await backend.accept(message, notes: notes, session: session)
                return .accepted(true)
            } catch {
                logger.error("accepting a message failed", metadata: ["error": "\(String(reflecting: error))"])
                return .accepted(false)
            }
        case .log(let level, let message, let metadata):
            logger.log(level: level, "\(message)", metadata: metadata)
        case .close(let ended, let rejected, let notes, let session):
            onClose()
            await flush()
            await transport.close()
            sink?.discard()
            sink = nil
            await backend.sessionEnded(ended, rejected: rejected, notes: notes, session: session)
        }
        return nil
    }

    // MARK: Input and output

    func flush() async {
        guard !output.isEmpty else { return }
        let bytes = output
        output = []
        do { try await transport.write(bytes) } catch {
            logger.debug("write failed", metadata: ["error": "\(error)"])
        }
    }

    /// Waits for more input; the way the input ended when it did.
    func receive() async -> SMTPStateMachine.Input? {
        await flush()
        switch await transport.read() {
        case .bytes(let bytes):
            input.append(bytes)
            return nil
        case .tlsStarted:
            // Only expected right after STARTTLS, which handles it itself.
            return nil
        case .timedOut:
            return .timedOut
        case .closed:
            return .closed
        }
    }

    func nextLine(limit: Int) async -> SMTPStateMachine.Input {
        while true {
            do {
                if let line = try input.nextLine(limit: limit) { return .line(line, buffered: input.count) }
            } catch {
                return .inputError(error)
            }
            if let ended = await receive() { return ended }
        }
    }

    // MARK: The body

    /// DATA to its terminator: stored up to `limit` octets (then only read), nothing stored
    /// after an error in the client's line endings.
    func readData(limit: Int, lineLimit: Int) async -> SMTPStateMachine.BodyRead {
        var scanner = SMTPBodyScanner(mode: .data, lineLimit: lineLimit)
        var output: [UInt8] = []
        var tooBig = false
        var spoolFailed = false
        while true {
            let finished = input.scan(into: &scanner, output: &output)
            if scanner.error == nil && !tooBig && !spoolFailed, let sink {
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
            if let ended = await receive() {
                return .connectionEnded(timedOut: ended.isTimeout)
            }
        }
        if scanner.error != nil { sink?.discard() }
        return .read(error: scanner.error, produced: scanner.produced, spoolFailed: spoolFailed, buffered: input.count)
    }

    /// One BDAT chunk of `size` octets (RFC 3030), through the transaction's chunk scanner.
    func readChunk(size: Int, last: Bool, limit: Int, lineLimit: Int, store: Bool) async -> SMTPStateMachine.BodyRead {
        if store && scanner == nil { scanner = SMTPBodyScanner(mode: .chunk, lineLimit: lineLimit) }
        var remaining = size
        var output: [UInt8] = []
        var spoolFailed = false
        while remaining > 0 {
            if input.isEmpty {
                if let ended = await receive() {
                    return .connectionEnded(timedOut: ended.isTimeout)
                }
                continue
            }
            let piece = input.take(upTo: remaining)
            remaining -= piece.count
            if store, var chunkScanner = scanner, let sink {
                piece.withUnsafeBufferPointer { _ = chunkScanner.scan($0, into: &output) }
                if chunkScanner.error == nil && chunkScanner.produced <= limit && !spoolFailed {
                    do { try sink.append(output) } catch { spoolFailed = true }
                }
                output.removeAll(keepingCapacity: true)
                scanner = chunkScanner
            }
        }
        guard store, var chunkScanner = scanner else {
            return .read(error: nil, produced: 0, spoolFailed: false, buffered: input.count)
        }
        if last { chunkScanner.finishChunks() }
        scanner = chunkScanner
        return .read(error: chunkScanner.error, produced: chunkScanner.produced, spoolFailed: spoolFailed, buffered: input.count)
    }

    /// The open body, finished: in memory or handed over as its spool file.
    func finishBody() -> SMTPStateMachine.FinishedBody? {
        guard let sink else { return nil }
        defer {
            self.sink = nil
            scanner = nil
        }
        do {
            let body = try sink.finish()
            return SMTPStateMachine.FinishedBody(body: body, blob: sink.blob, size: sink.size, containsNUL: sink.containsNUL,
                                                 head: sink.head, returnPathLength: sink.returnPathLength,
                                                 traceLength: sink.traceLength)
        } catch {
            sink.discard()
            logger.error("finishing a spooled message failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}

extension SMTPStateMachine.Input {
    var isTimeout: Bool {
        if case .timedOut = self { return true }
        return false
    }
}
