import DNS
import Facts
import Foundation
import NIOCore
import SMTPClient
import SMTPWire

/// Why a session with one receiving server ended before its transaction did.
enum TransferFailure: Error, Sendable, CustomStringConvertible {
    case connect(String)
    case timeout(String)
    case dropped(String)
    case protocolViolation(String)
    /// The server refused the session (greeting, EHLO/HELO, RSET).
    case refused(SMTPReply, stage: String)
    case tlsFailed(String)
    /// The body could not be read from the store.
    case body(String)
    /// A relay refused the login: tried again later, with the relay's words.
    case authentication(SMTPReply, detail: String?)
    case authenticationUnavailable(String)

    var description: String {
        switch self {
        case .connect(let detail): detail
        case .timeout(let stage): "no reply from the server within the timeout (\(stage))"
        case .dropped(let detail): "the server dropped the connection: \(detail)"
        case .protocolViolation(let detail): "the server broke the protocol: \(detail)"
        case .refused(let reply, let stage): "the server refused \(stage): \(reply)"
        case .tlsFailed(let detail): "TLS handshake failed: \(detail)"
        case .body(let detail): "the message body could not be read: \(detail)"
        case .authentication(let reply, let detail): "the server refused the login: \(reply)" + (detail.map { " (\($0))" } ?? "")
        case .authenticationUnavailable(let detail): "cannot log in: \(detail)"
        }
    }

    /// The reply each recipient is left with. Only a refusal is the server's own words; the
    /// rest are temporary, so the recipients wait for the next attempt (RFC 5321 §4.5.4.1).
    var reply: RemoteReply {
        switch self {
        case .connect: RemoteReply(code: 451, enhanced: "4.4.1", text: description, fromServer: false)
        case .timeout, .dropped: RemoteReply(code: 451, enhanced: "4.4.2", text: description, fromServer: false)
        case .protocolViolation: RemoteReply(code: 451, enhanced: "4.5.0", text: description, fromServer: false)
        case .refused(let reply, _):
            // A refused session is tried again later even when the refusal is permanent: the
            // next MX host, or the same one later, may take it.
            RemoteReply(code: reply.code >= 500 ? 451 : reply.code, enhanced: reply.code >= 500 ? "4.4.0" : reply.enhanced,
                        text: "\(reply.code) \(reply.lines.joined(separator: " "))", fromServer: reply.code < 500)
        case .tlsFailed: RemoteReply(code: 451, enhanced: "4.7.5", text: description, fromServer: false)
        case .body: RemoteReply(code: 451, enhanced: "4.3.0", text: description, fromServer: false)
        case .authentication(let reply, let detail):
            // A refused login is a matter for the administrator (a changed password), not the
            // sender's: the recipients wait, with the relay's reply, until it is put right.
            RemoteReply(code: reply.code >= 500 ? 451 : reply.code, enhanced: "4.7.0",
                        text: "login refused: \(reply.code) \(reply.enhanced.map { $0 + " " } ?? "")\(reply.lines.joined(separator: " "))"
                            + (detail.map { " (\($0))" } ?? ""), fromServer: reply.code < 500)
        case .authenticationUnavailable: RemoteReply(code: 451, enhanced: "4.7.0", text: description, fromServer: false)
        }
    }
}

/// Writes a message body to the connection, dot-stuffed and ended, piece by piece.
typealias BodyWriter = @Sendable (RemoteConnection) async throws -> Void

/// One SMTP session with one receiving server, driving `SMTPClientStateMachine` over an
/// `RemoteConnection`: open (greeting, EHLO, STARTTLS), then any number of transactions, then QUIT.
/// Used by one task at a time.
final class OutboundSession: @unchecked Sendable {
    let connection: RemoteConnection
    let host: String
    let address: IPAddress
    private var machine: SMTPClientStateMachine
    private var reader = SMTPReplyReader()
    /// RFC 5321's timeouts times this (`outqueue.reply_timeout_percent`).
    let timeoutScale: Double
    private(set) var capabilities: SMTPServerCapabilities?
    private(set) var tlsVersion: String?
    private(set) var transactions = 0
    /// Recipients offered over this session (a relay's "max recipients per session").
    private(set) var recipientsSent = 0
    private(set) var usable = true
    let openedAt = ContinuousClock.now
    let verification: RemoteConnection.Verification
    /// Where the session cache keeps it between messages (address, port, how it is secured).
    var cacheKey = ""

    private init(connection: RemoteConnection, host: String, address: IPAddress, configuration: SMTPClientStateMachine.Configuration,
                 timeoutScale: Double, verification: RemoteConnection.Verification) {
        self.verification = verification
        self.connection = connection
        self.host = host
        self.address = address
        self.machine = SMTPClientStateMachine(configuration: configuration)
        self.timeoutScale = timeoutScale
    }

    /// How a session is secured and whether it logs in.
    struct Options: Sendable {
        enum Encryption: Sendable {
            /// STARTTLS when offered, unverified, falling back to plain text when the handshake
            /// fails (RFC 7435; MX hosts).
            case opportunistic
            case none
            /// TLS from the first byte (RFC 8314).
            case implicit
            /// STARTTLS or no session.
            case required
            /// STARTTLS when offered; plain text when it is not.
            case whenOffered
        }

        var encryption: Encryption = .opportunistic
        var verification: RemoteConnection.Verification = .none
        var authentication: SMTPClientStateMachine.Authentication?

        static let opportunistic = Options()
    }

    /// Connects and greets (and logs in, when `options` say so); throws when no session could
    /// be had. An unverified STARTTLS handshake that fails is tried again on a new connection
    /// without TLS (RFC 7435: opportunistic TLS falls back); a verified one does not.
    static func open(host: String, address: IPAddress, port: Int, ehloName: String, connectTimeout: Duration,
                     timeoutScale: Double, options: Options = .opportunistic) async throws(TransferFailure) -> OutboundSession {
        var useTLS = options.encryption != .none
        let requireTLS = options.encryption == .required || options.encryption == .implicit
        let implicit = options.encryption == .implicit
        let mayFallBack = !requireTLS && options.verification == .none
        while true {
            let connection: RemoteConnection
            do {
                connection = try await RemoteConnection.connect(to: address, port: port, timeout: connectTimeout)
            } catch {
                throw .connect((error as? RemoteConnection.ConnectFailed)?.description ?? "connection failed: \(error)")
            }
            let session = OutboundSession(
                connection: connection, host: host, address: address,
                configuration: .init(ehloName: ehloName, useTLS: useTLS, requireTLS: requireTLS, implicitTLS: implicit,
                                     authentication: options.authentication),
                timeoutScale: timeoutScale, verification: options.verification)
            do {
                if implicit, let failure = await session.implicitHandshake() {
                    await session.close()
                    throw TransferFailure.tlsFailed(failure)
                }
                switch try await session.drive(.wait, body: nil) {
                case .ready(let capabilities):
                    session.capabilities = capabilities
                    return session
                case .failed(.tlsFailed) where mayFallBack && useTLS:
                    await session.close()
                    useTLS = false
                    continue
                case .failed(let failure):
                    await session.close()
                    throw session.failure(failure)
                default:
                    await session.close()
                    throw TransferFailure.protocolViolation("the session did not open")
                }
            } catch let failure as TransferFailure {
                await session.close()
                throw failure
            } catch {
                await session.close()
                throw TransferFailure.dropped("\(error)")
            }
        }
    }

    /// Implicit TLS: the handshake comes before the greeting. Nil when it succeeded.
    private func implicitHandshake() async -> String? {
        do { try await connection.startTLS(serverName: host, verification: verification) } catch { return "\(error)" }
        while true {
            switch await connection.read(timeout: scaled(SMTPClientTimeouts.command)) {
            case .tlsEstablished:
                tlsVersion = await connection.tlsVersion()
                return nil
            case .bytes(let buffer):
                // The greeting came inside TLS: keep it for the reader.
                reader.append(buffer.readableBytesView)
            case .failed(let reason): return reason
            case .closed: return "the server closed the connection"
            case .timedOut: return "no handshake within the timeout"
            }
        }
    }

    private func failure(_ failure: SessionFailure) -> TransferFailure {
        switch failure {
        case .refused(let reply, let stage): .refused(reply, stage: stage)
        case .protocolViolation(let detail): .protocolViolation(detail)
        case .tlsFailed(let detail): .tlsFailed(detail)
        case .tlsUnavailable: .tlsFailed("the server does not offer STARTTLS")
        case .authenticationFailed(let reply, let detail): .authentication(reply, detail: detail)
        case .authenticationUnavailable(let detail): .authenticationUnavailable(detail)
        }
    }

    /// One transaction. A failure of the session (not a refusal of the message) throws, and
    /// the session is no longer usable.
    func send(_ envelope: OutboundEnvelope, body: @escaping BodyWriter) async throws(TransferFailure) -> TransactionResult {
        do {
            switch try await drive(machine.send(envelope), body: body) {
            case .finished(let result):
                transactions += 1
                recipientsSent += envelope.recipients.count
                return result
            case .failed(let failure):
                usable = false
                throw self.failure(failure)
            default:
                usable = false
                throw TransferFailure.protocolViolation("the transaction did not finish")
            }
        } catch let failure as TransferFailure {
            usable = false
            throw failure
        } catch {
            usable = false
            throw TransferFailure.dropped("\(error)")
        }
    }

    /// QUIT, then close; a server that does not answer QUIT is closed on anyway.
    func quit() async {
        if usable {
            _ = try? await drive(machine.quit(), body: nil, quitting: true)
        }
        await close()
    }

    func close() async {
        usable = false
        await connection.close()
    }

    /// Carries out actions until the machine asks for something the caller decides.
    private func drive(_ first: SMTPClientStateMachine.Action, body: BodyWriter?,
                       quitting: Bool = false) async throws -> SMTPClientStateMachine.Action {
        var action = first
        while true {
            switch action {
            case .send(let bytes):
                do { try await connection.write(bytes) } catch { throw TransferFailure.dropped("writing: \(error)") }
                action = .wait
            case .wait:
                action = machine.received(try await nextReply(quitting: quitting))
            case .startTLS:
                // Anything sent after the reply to STARTTLS was not asked for (RFC 3207 §4.2).
                guard reader.unreadCount == 0 else {
                    throw TransferFailure.protocolViolation("bytes after the reply to STARTTLS")
                }
                action = await handshake()
            case .sendBody:
                guard let body else { throw TransferFailure.protocolViolation("the server asked for a body out of turn") }
                do { try await body(connection) } catch let failure as TransferFailure { throw failure } catch {
                    throw TransferFailure.dropped("writing the body: \(error)")
                }
                action = machine.bodySent()
            case .ready, .finished, .failed, .close:
                return action
            }
        }
    }

    private func handshake() async -> SMTPClientStateMachine.Action {
        do { try await connection.startTLS(serverName: host, verification: verification) } catch {
            return machine.tlsFailed("\(error)")
        }
        while true {
            switch await connection.read(timeout: scaled(SMTPClientTimeouts.command)) {
            case .tlsEstablished:
                tlsVersion = await connection.tlsVersion()
                return machine.tlsEstablished()
            case .bytes: continue
            case .failed(let reason): return machine.tlsFailed(reason)
            case .closed: return machine.tlsFailed("the server closed the connection")
            case .timedOut: return machine.tlsFailed("no handshake within the timeout")
            }
        }
    }

    private func scaled(_ duration: Duration) -> Duration {
        duration * timeoutScale
    }

    private func nextReply(quitting: Bool) async throws -> SMTPReply {
        while true {
            do {
                if let reply = try reader.next() { return reply }
            } catch {
                throw TransferFailure.protocolViolation("\(error)")
            }
            switch await connection.read(timeout: scaled(machine.timeout)) {
            case .bytes(let buffer): reader.append(buffer.readableBytesView)
            case .tlsEstablished: continue
            case .failed(let reason): throw TransferFailure.dropped(reason)
            case .closed: throw TransferFailure.dropped("the connection closed")
            case .timedOut: throw TransferFailure.timeout(quitting ? "QUIT" : "waiting for a reply")
            }
        }
    }
}
