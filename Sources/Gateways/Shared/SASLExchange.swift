import Crypto
import Facts
import Foundation
import Projections

/// SASL mechanisms the gateways offer (RFC 4616 PLAIN, the LOGIN draft, RFC 2195 CRAM-MD5,
/// RFC 7677 SCRAM-SHA-256).
public enum SASLMechanism: String, Sendable, CaseIterable {
    case plain = "PLAIN"
    case login = "LOGIN"
    case cramMD5 = "CRAM-MD5"
    case scramSHA256 = "SCRAM-SHA-256"

    /// Whether the password crosses the wire (and so needs TLS unless configured otherwise).
    public var sendsPassword: Bool { self == .plain || self == .login }
}

/// One authentication exchange as a state machine: feed it the client's responses, act on its
/// steps. It does no I/O and looks nothing up itself: SCRAM and CRAM-MD5 ask for the user's
/// stored credentials through `.needCredentials`.
public struct SASLExchange: Sendable {
    public enum Step: Sendable, Equatable {
        /// Send this challenge (raw bytes; the protocol base64-encodes them).
        case challenge([UInt8])
        /// Look up the user's credentials and call `credentials(_:)`.
        case needCredentials(user: String)
        /// Check this clear-text password and call `passwordChecked(_:)`.
        case checkPassword(user: String, password: String)
        /// Authenticated as `user`.
        case success(user: String)
        case failure(Failure)
    }

    public enum Failure: Sendable, Equatable {
        case malformed
        case badCredentials
        case cancelled
    }

    enum State: Sendable {
        case start
        case loginUser
        case loginPassword(user: String)
        case cramChallenge(challenge: [UInt8])
        case cramLookup(user: String, digest: String, challenge: [UInt8])
        case scramLookup(user: String, clientFirstBare: String, clientNonce: String, gs2Header: String)
        case scramFinal(user: String, credentials: Credentials?, serverFirst: String, clientFirstBare: String, nonce: String,
                        gs2Header: String)
        case scramAcknowledge(user: String)
        case checking(user: String)
        case done
    }

    public let mechanism: SASLMechanism
    let nonce: String
    let hostname: String
    var state = State.start

    /// `nonce`: fresh random text for CRAM-MD5 and SCRAM (injected so tests can fix it).
    public init(mechanism: SASLMechanism, hostname: String, nonce: String) {
        self.mechanism = mechanism
        self.hostname = hostname
        self.nonce = nonce
    }

    /// Begins; `initial` is the initial response if the client sent one (RFC 4959, RFC 4954 §4).
    public mutating func start(initial: [UInt8]?) -> Step {
        switch mechanism {
        case .plain:
            guard let initial else { return .challenge([]) }
            return respond(initial)
        case .login:
            if let initial { // Some clients send the user name as an initial response.
                state = .loginPassword(user: String(decoding: initial, as: UTF8.self))
                return .challenge(Array("Password:".utf8))
            }
            state = .loginUser
            return .challenge(Array("Username:".utf8))
        case .cramMD5:
            guard initial == nil || initial == [] else { return fail(.malformed) }
            let challenge = Array("<\(nonce)@\(hostname)>".utf8)
            state = .cramChallenge(challenge: challenge)
            return .challenge(challenge)
        case .scramSHA256:
            guard let initial else { return .challenge([]) }
            return respond(initial)
        }
    }

    private mutating func fail(_ failure: Failure) -> Step {
        state = .done
        return .failure(failure)
    }

    public mutating func cancel() -> Step { fail(.cancelled) }

    /// The client's next response, decoded from base64.
    public mutating func respond(_ response: [UInt8]) -> Step {
        switch (mechanism, state) {
        case (.plain, .start):
            // authzid NUL authcid NUL passwd (RFC 4616 §2); authzid empty or the same user.
            let parts = response.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3, let authz = String(validating: parts[0], as: UTF8.self),
                  let user = String(validating: parts[1], as: UTF8.self), let password = String(validating: parts[2], as: UTF8.self),
                  !user.isEmpty, authz.isEmpty || authz.lowercased() == user.lowercased() else { return fail(.malformed) }
            state = .checking(user: user)
            return .checkPassword(user: user, password: password)
        case (.login, .loginUser):
            guard let user = String(validating: response, as: UTF8.self), !user.isEmpty else { return fail(.malformed) }
            state = .loginPassword(user: user)
            return .challenge(Array("Password:".utf8))
        case (.login, .loginPassword(let user)):
            guard let password = String(validating: response, as: UTF8.self) else { return fail(.malformed) }
            state = .checking(user: user)
            return .checkPassword(user: user, password: password)
        case (.cramMD5, .cramChallenge(let challenge)):
            // "user SP 32 lower-case hex digits" (RFC 2195 §2).
            guard let text = String(validating: response, as: UTF8.self), let space = text.lastIndex(of: " ") else {
                return fail(.malformed)
            }
            let user = String(text[..<space]), digest = String(text[text.index(after: space)...])
            guard !user.isEmpty, digest.utf8.count == 32 else { return fail(.malformed) }
            state = .cramLookup(user: user, digest: digest, challenge: challenge)
            return .needCredentials(user: user)
        case (.scramSHA256, .start):
            return scramClientFirst(response)
        case (.scramSHA256, .scramFinal(let user, let credentials, let serverFirst, let clientFirstBare, let nonce, let gs2Header)):
            return scramClientFinal(response, user: user, credentials: credentials, serverFirst: serverFirst,
                                    clientFirstBare: clientFirstBare, nonce: nonce, gs2Header: gs2Header)
        case (.scramSHA256, .scramAcknowledge(let user)):
            // RFC 4954 §4: after the server-final message the client answers with an empty response.
            guard response.isEmpty else { return fail(.malformed) }
            state = .done
            return .success(user: user)
        default:
            return fail(.malformed)
        }
    }

    /// The result of `.checkPassword`.
    public mutating func passwordChecked(_ valid: Bool) -> Step {
        guard case .checking(let user) = state else { return fail(.malformed) }
        state = .done
        return valid ? .success(user: user) : .failure(.badCredentials)
    }

    /// The result of `.needCredentials`: nil when there is no such user (or the mechanism is
    /// not enabled for them). SCRAM then still answers with a made-up salt, so a client cannot
    /// tell unknown users from wrong passwords until the end.
    public mutating func credentials(_ credentials: Credentials?) -> Step {
        switch state {
        case .cramLookup(let user, let digest, let challenge):
            state = .done
            guard let credentials, credentials.verifyCRAMMD5(challenge: challenge, response: digest) else {
                return .failure(.badCredentials)
            }
            return .success(user: user)
        case .scramLookup(let user, let clientFirstBare, let clientNonce, let gs2Header):
            let combined = clientNonce + nonce
            let salt: [UInt8], iterations: Int
            if let keys = credentials?.scramKeys {
                salt = keys.salt
                iterations = keys.iterations
            } else {
                salt = Array(SHA256.hash(data: Array("pillarbox-scram:\(hostname):\(user.lowercased())".utf8)).prefix(16))
                iterations = 4_096
            }
            let serverFirst = "r=\(combined),s=\(Data(salt).base64EncodedString()),i=\(iterations)"
            state = .scramFinal(user: user, credentials: credentials,
                                serverFirst: serverFirst, clientFirstBare: clientFirstBare, nonce: combined, gs2Header: gs2Header)
            return .challenge(Array(serverFirst.utf8))
        default:
            return fail(.malformed)
        }
    }

    // MARK: SCRAM (RFC 5802 §5, RFC 7677)

    private mutating func scramClientFirst(_ response: [UInt8]) -> Step {
        guard let text = String(validating: response, as: UTF8.self) else { return fail(.malformed) }
        // gs2-header: "n,," or "y,," (no channel binding) with an optional "a=authzid".
        let pieces = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0] == "n" || pieces[0] == "y" else { return fail(.malformed) }
        let gs2Header = "\(pieces[0]),\(pieces[1]),"
        let bare = String(pieces[2])
        var user: String?, clientNonce: String?
        for attribute in bare.split(separator: ",", omittingEmptySubsequences: false) {
            if attribute.hasPrefix("n=") {
                user = Self.scramName(String(attribute.dropFirst(2)))
            } else if attribute.hasPrefix("r=") {
                clientNonce = String(attribute.dropFirst(2))
            } else if attribute.hasPrefix("m=") {
                return fail(.malformed) // RFC 5802 §5.1: mandatory extensions we do not know.
            }
        }
        guard let user, !user.isEmpty, let clientNonce, !clientNonce.isEmpty,
              clientNonce.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7e && $0 != UInt8(ascii: ",") }) else { return fail(.malformed) }
        if pieces[1].hasPrefix("a="), let authz = Self.scramName(String(pieces[1].dropFirst(2))),
           authz.lowercased() != user.lowercased() {
            return fail(.malformed)
        }
        state = .scramLookup(user: user, clientFirstBare: bare, clientNonce: clientNonce, gs2Header: gs2Header)
        return .needCredentials(user: user)
    }

    private mutating func scramClientFinal(_ response: [UInt8], user: String, credentials: Credentials?, serverFirst: String,
                                           clientFirstBare: String, nonce: String, gs2Header: String) -> Step {
        guard let text = String(validating: response, as: UTF8.self), let proofRange = text.range(of: ",p=") else {
            return fail(.malformed)
        }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let proofText = String(text[proofRange.upperBound...])
        var binding: String?, finalNonce: String?
        for attribute in withoutProof.split(separator: ",") {
            if attribute.hasPrefix("c=") { binding = String(attribute.dropFirst(2)) }
            if attribute.hasPrefix("r=") { finalNonce = String(attribute.dropFirst(2)) }
        }
        guard binding == Data(gs2Header.utf8).base64EncodedString(), finalNonce == nonce,
              let proof = Data(base64Encoded: proofText), proof.count == 32 else { return fail(.malformed) }
        state = .done
        guard let keys = credentials?.scramKeys else { return .failure(.badCredentials) }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let signature = Array(HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: keys.storedKey)))
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        let computed = Array(SHA256.hash(data: clientKey))
        guard computed.count == keys.storedKey.count,
              zip(computed, keys.storedKey).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return .failure(.badCredentials) }
        let serverSignature = Array(HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: keys.serverKey)))
        state = .scramAcknowledge(user: user)
        return .challenge(Array("v=\(Data(serverSignature).base64EncodedString())".utf8))
    }

    /// saslname: "=2C" is a comma, "=3D" an equals sign; any other "=" is malformed.
    static func scramName(_ text: String) -> String? {
        var result = "", rest = Substring(text)
        while let equals = rest.firstIndex(of: "=") {
            result += rest[..<equals]
            let code = rest[equals...].prefix(3)
            if code == "=2C" { result += "," } else if code == "=3D" { result += "=" } else { return nil }
            rest = rest[rest.index(equals, offsetBy: 3)...]
        }
        return result + rest
    }
}
