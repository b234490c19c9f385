import Facts
import WireCore

/// Runs a SASL exchange (`SASLExchange`, the mechanisms' state machine) to its end over a
/// protocol's own framing, for SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH alike: the protocol
/// says how a challenge goes out and a response line comes back; the driver decodes the line,
/// looks the user up and says how the exchange ended. What each ending looks like on the wire
/// stays with the protocol.
enum SASLDriver {
    enum Outcome: Equatable {
        /// The mechanism proved `user`; the protocol still checks the account may log in.
        case succeeded(user: String)
        /// Wrong credentials, a malformed exchange, or `*` from the client.
        case failed(SASLExchange.Failure)
        /// A response line that is neither base64 nor `*`.
        case malformedLine
        /// The connection ended (or the protocol refused the line) while a response was awaited.
        case connectionEnded
    }

    /// What the driver reads and sends through.
    struct Channel {
        /// Sends the challenge and returns the client's next line, or nil when there is none.
        var challenge: ([UInt8]) async -> ArraySlice<UInt8>?
        var checkPassword: (_ user: String, _ password: String) async -> Bool
        var credentials: (_ user: String, _ mechanism: SASLMechanism) async -> Credentials?
    }

    static func run(_ mechanism: SASLMechanism, hostname: String, nonce: String, initial: [UInt8]?,
                    over channel: Channel) async -> Outcome {
        var exchange = SASLExchange(mechanism: mechanism, hostname: hostname, nonce: nonce)
        var step = exchange.start(initial: initial)
        while true {
            switch step {
            case .challenge(let bytes):
                guard let line = await channel.challenge(bytes) else { return .connectionEnded }
                switch SASLResponseLine.parse(line) {
                case .data(let data): step = exchange.respond(data)
                case .cancel: step = exchange.cancel()
                case .malformed: return .malformedLine
                }
            case .checkPassword(let user, let password):
                step = exchange.passwordChecked(await channel.checkPassword(user, password))
            case .needCredentials(let user):
                step = exchange.credentials(await channel.credentials(user, mechanism))
            case .success(let user):
                return .succeeded(user: user)
            case .failure(let failure):
                return .failed(failure)
            }
        }
    }
}
