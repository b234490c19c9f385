import _CryptoExtras
import Crypto
import Foundation

/// The client's side of one SASL exchange (RFC 4422) for SMTP AUTH (RFC 4954): the initial
/// response, then one response per server challenge. Pure: the nonce is given, nothing is
/// looked up, and the password is held only for the exchange.
public struct SASLClient: Sendable {
    public enum Mechanism: String, Sendable, CaseIterable {
        case scramSHA256 = "SCRAM-SHA-256"
        case cramMD5 = "CRAM-MD5"
        case plain = "PLAIN"
        case login = "LOGIN"

        /// Whether the password itself crosses the wire (only ever over TLS, unless allowed).
        public var sendsPassword: Bool { self == .plain || self == .login }

        /// The strongest of `offered` this client may use; nil when there is none.
        public static func choose(from offered: [String], passwordInClear: Bool) -> Mechanism? {
            let offered = Set(offered.map { $0.uppercased() })
            return allCases.first { offered.contains($0.rawValue) && (passwordInClear || !$0.sendsPassword) }
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case malformedChallenge(String)
        case serverNotVerified

        public var description: String {
            switch self {
            case .malformedChallenge(let detail): "the server's SASL challenge is malformed: \(detail)"
            case .serverNotVerified: "the server did not prove it knows the password (SCRAM server signature)"
            }
        }
    }

    /// RFC 5802 leaves the count to the server; more than this is refused rather than computed
    /// (a hostile server could otherwise keep the client busy).
    public static let maximumIterations = 1_000_000

    public let mechanism: Mechanism
    let user: String
    let password: String
    let nonce: String
    private var step = 0
    private var expectedServerSignature: [UInt8]?
    /// For SCRAM: the exchange ended with the server proven.
    public private(set) var serverVerified = false

    /// `nonce`: fresh printable random text (SCRAM's client nonce); no commas.
    public init(mechanism: Mechanism, user: String, password: String, nonce: String) {
        self.mechanism = mechanism
        self.user = user
        self.password = password
        self.nonce = nonce
    }

    /// RFC 4954 §4: the response sent with the AUTH command; nil when the mechanism waits
    /// for the server to speak first.
    public mutating func initialResponse() -> [UInt8]? {
        switch mechanism {
        case .plain:
            // RFC 4616: authorisation identity (empty), authentication identity, password.
            step = 1
            return [0] + Array(user.utf8) + [0] + Array(password.utf8)
        case .scramSHA256:
            step = 1
            return Array(("n,," + clientFirstBare).utf8)
        case .cramMD5, .login:
            return nil
        }
    }

    /// The response to one decoded challenge.
    public mutating func respond(to challenge: [UInt8]) throws(Failure) -> [UInt8] {
        defer { step += 1 }
        switch mechanism {
        case .plain:
            // Everything went with the initial response; an empty challenge asks for it again.
            guard challenge.isEmpty, step == 0 else { throw .malformedChallenge("PLAIN takes no challenge") }
            return [0] + Array(user.utf8) + [0] + Array(password.utf8)
        case .login:
            // The prompts' texts vary ("Username:", "User Name"); the order does not.
            switch step {
            case 0: return Array(user.utf8)
            case 1: return Array(password.utf8)
            default: throw .malformedChallenge("LOGIN asked for more than a name and a password")
            }
        case .cramMD5:
            // RFC 2195: the user name, a space, and the HMAC-MD5 of the challenge in hex.
            guard step == 0, !challenge.isEmpty else { throw .malformedChallenge("CRAM-MD5 expects one non-empty challenge") }
            let digest = HMAC<Insecure.MD5>.authenticationCode(for: challenge, using: SymmetricKey(data: Array(password.utf8)))
            return Array((user + " " + digest.map { String(format: "%02x", $0) }.joined()).utf8)
        case .scramSHA256:
            switch step {
            case 0:
                // The server sent an empty challenge before the initial response.
                guard challenge.isEmpty else { throw .malformedChallenge("SCRAM expected to speak first") }
                return Array(("n,," + clientFirstBare).utf8)
            case 1: return try clientFinal(serverFirst: challenge)
            case 2:
                try verify(serverFinal: challenge)
                return []
            default: throw .malformedChallenge("SCRAM exchange already complete")
            }
        }
    }

    // MARK: SCRAM-SHA-256 (RFC 5802 §3 and §5, RFC 7677)

    /// RFC 5802 §5.1: `=` and `,` in the name are escaped.
    private var clientFirstBare: String {
        let name = user.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
        return "n=\(name),r=\(nonce)"
    }

    private mutating func clientFinal(serverFirst bytes: [UInt8]) throws(Failure) -> [UInt8] {
        guard let serverFirst = String(validating: bytes, as: UTF8.self) else { throw .malformedChallenge("not UTF-8") }
        var fields: [Character: Substring] = [:]
        for part in serverFirst.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count >= 2, part.dropFirst().first == "=", let key = part.first else {
                throw .malformedChallenge("field without a name")
            }
            if fields[key] == nil { fields[key] = part.dropFirst(2) }
        }
        if fields["m"] != nil { throw .malformedChallenge("an extension the client does not know (m=)") }
        guard let combined = fields["r"], combined.hasPrefix(nonce), combined.count > nonce.count else {
            throw .malformedChallenge("the nonce does not extend the client's")
        }
        guard let saltText = fields["s"], let salt = Data(base64Encoded: String(saltText)), !salt.isEmpty else {
            throw .malformedChallenge("no salt")
        }
        guard let countText = fields["i"], let iterations = Int(countText), iterations >= 1,
              iterations <= Self.maximumIterations else {
            throw .malformedChallenge("an iteration count outside 1...\(Self.maximumIterations)")
        }
        let salted: SymmetricKey
        do {
            salted = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256,
                                                       outputByteCount: 32, unsafeUncheckedRounds: iterations)
        } catch {
            throw .malformedChallenge("the salted password could not be computed")
        }
        let withoutProof = "c=biws,r=\(combined)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: salted))
        let storedKey = SymmetricKey(data: Array(SHA256.hash(data: clientKey)))
        let signature = Array(HMAC<SHA256>.authenticationCode(for: authMessage, using: storedKey))
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let serverKey = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: salted)))
        expectedServerSignature = Array(HMAC<SHA256>.authenticationCode(for: authMessage, using: serverKey))
        return Array("\(withoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    private mutating func verify(serverFinal bytes: [UInt8]) throws(Failure) {
        guard let text = String(validating: bytes, as: UTF8.self), text.hasPrefix("v="),
              let signature = Data(base64Encoded: String(text.dropFirst(2).prefix { $0 != "," })),
              let expected = expectedServerSignature, Array(signature) == expected
        else { throw .serverNotVerified }
        serverVerified = true
    }
}
