import Facts
import WireCore

/// Carries a SASL exchange (`SASLExchange`, the mechanisms' state machine) to its end for SMTP
/// AUTH, IMAP AUTHENTICATE and POP3 AUTH alike. It decodes the client's response lines (base64
/// or `*`) and says what to do next: send a challenge, check a password, look up credentials,
/// or how the exchange ended. It does no I/O: each protocol's state machine embeds it and turns
/// its steps into its own actions. What each ending looks like on the wire stays with the
/// protocol.
struct SASLDriver: Sendable {
    enum Outcome: Equatable, Sendable {
        /// The mechanism proved `user`; the protocol still checks the account may log in.
        case succeeded(user: String)
        /// Wrong credentials, a malformed exchange, or `*` from the client.
        case failed(SASLExchange.Failure)
        /// A response line that is neither base64 nor `*`.
        case malformedLine
        /// The connection ended (or the protocol refused the line) while a response was awaited.
        case connectionEnded
    }

    enum Step: Equatable, Sendable {
        /// Send this challenge (raw bytes; the protocol encodes it) and feed back the next line.
        case challenge([UInt8])
        /// Check this password and call `passwordChecked(_:)`.
        case checkPassword(user: String, password: String)
        /// Look up the user's stored credentials and call `credentials(_:)`.
        case lookUpCredentials(user: String, mechanism: SASLMechanism)
        case finished(Outcome)
    }

    let mechanism: SASLMechanism
    private var exchange: SASLExchange

    init(_ mechanism: SASLMechanism, hostname: String, nonce: String) {
        self.mechanism = mechanism
        exchange = SASLExchange(mechanism: mechanism, hostname: hostname, nonce: nonce)
    }

    mutating func start(initial: [UInt8]?) -> Step { step(exchange.start(initial: initial)) }

    /// The client's line after a challenge.
    mutating func received(_ line: ArraySlice<UInt8>) -> Step {
        switch SASLResponseLine.parse(line) {
        case .data(let data): step(exchange.respond(data))
        case .cancel: step(exchange.cancel())
        case .malformed: .finished(.malformedLine)
        }
    }

    mutating func passwordChecked(_ valid: Bool) -> Step { step(exchange.passwordChecked(valid)) }

    mutating func credentials(_ credentials: Credentials?) -> Step { step(exchange.credentials(credentials)) }

    private func step(_ step: SASLExchange.Step) -> Step {
        switch step {
        case .challenge(let bytes): .challenge(bytes)
        case .checkPassword(let user, let password): .checkPassword(user: user, password: password)
        case .needCredentials(let user): .lookUpCredentials(user: user, mechanism: mechanism)
        case .success(let user): .finished(.succeeded(user: user))
        case .failure(let failure): .finished(.failed(failure))
        }
    }
}
