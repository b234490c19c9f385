import _CryptoExtras
import Crypto
import Foundation

/// What a user's password becomes; the password itself is never stored.
///
/// - `scrypt` checks PLAIN and LOGIN: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>` (base64).
/// - `scram` holds RFC 5802 salted keys for SCRAM-SHA-256 (RFC 7677), in RFC 5803's form:
///   `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
/// - `cramMD5Secret` names a sealed secret in the vault, present only when CRAM-MD5 is allowed
///   for the user: the HMAC-MD5 inner and outer states after the padded key, which are
///   password-equivalent for CRAM-MD5.
/// - `apopSecret` names a sealed secret in the vault, present only when the administrator
///   enabled POP3 APOP for the user: APOP (RFC 1939 §7) hashes the password itself with the
///   server's greeting, so the server has to keep it.
///
/// The two hashes are one-way and go into the directory's events; the two reversible secrets
/// never do: the events carry only their ids, and the secrets live sealed in `vault.secrets`
/// (SecretVault), where removing the user or changing the password deletes them.
public struct Credentials: Codable, Sendable, Hashable {
    public var scrypt: String
    public var scram: String
    public var cramMD5Secret: UUID?
    public var apopSecret: UUID?
    /// The unsealed CRAM-MD5 context (hex), filled in for a login only; never stored.
    public var cramMD5Context: String?

    public static let cramMD5Purpose = "cram-md5"
    public static let apopPurpose = "apop"

    enum CodingKeys: String, CodingKey {
        case scrypt, scram, cramMD5Secret, apopSecret
    }

    public init(scrypt: String, scram: String, cramMD5Secret: UUID? = nil, apopSecret: UUID? = nil, cramMD5Context: String? = nil) {
        self.scrypt = scrypt
        self.scram = scram
        self.cramMD5Secret = cramMD5Secret
        self.apopSecret = apopSecret
        self.cramMD5Context = cramMD5Context
    }

    public struct Cost: Sendable {
        /// log2 of scrypt's N.
        public var scryptLogN: Int
        public var scryptBlockSize: Int
        public var scramIterations: Int

        public init(scryptLogN: Int = 15, scryptBlockSize: Int = 8, scramIterations: Int = 4_096) {
            self.scryptLogN = scryptLogN
            self.scryptBlockSize = scryptBlockSize
            self.scramIterations = scramIterations
        }
    }

    /// The one-way hashes of `password`; the reversible secrets are sealed by the directory.
    public static func make(password: String, cost: Cost = .init()) throws -> Credentials {
        let passwordBytes = Array(password.utf8)
        var scryptSalt = [UInt8](repeating: 0, count: 16)
        var scramSalt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<16 {
            scryptSalt[index] = generator.next()
            scramSalt[index] = generator.next()
        }
        let key = try KDF.Scrypt.deriveKey(from: passwordBytes, salt: scryptSalt, outputByteCount: 32,
                                           rounds: 1 << cost.scryptLogN, blockSize: cost.scryptBlockSize, parallelism: 1)
        let scrypt = "$scrypt$ln=\(cost.scryptLogN),r=\(cost.scryptBlockSize),p=1$\(Data(scryptSalt).base64EncodedString())$"
            + key.withUnsafeBytes { Data($0).base64EncodedString() }
        let salted = try KDF.Insecure.PBKDF2.deriveKey(from: passwordBytes, salt: scramSalt, using: .sha256,
                                                       outputByteCount: 32, unsafeUncheckedRounds: cost.scramIterations)
        let clientKey = HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: salted)
        let storedKey = SHA256.hash(data: Array(clientKey))
        let serverKey = HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: salted)
        let scram = "SCRAM-SHA-256$\(cost.scramIterations):\(Data(scramSalt).base64EncodedString())$"
            + "\(Data(storedKey).base64EncodedString()):\(Data(serverKey).base64EncodedString())"
        return Credentials(scrypt: scrypt, scram: scram)
    }

    /// Credentials no password matches, with the cost of `logN`: an unknown user's login costs
    /// the same scrypt as a known user's, so the time taken does not tell them apart.
    public static func decoy(logN: Int) -> Credentials {
        let salt = Data(SHA256.hash(data: Array("pillarbox decoy \(logN)".utf8)).prefix(16)).base64EncodedString()
        let key = Data(repeating: 0, count: 32).base64EncodedString()
        return Credentials(scrypt: "$scrypt$ln=\(logN),r=8,p=1$\(salt)$\(key)", scram: "")
    }

    /// Checks a password given in clear (PLAIN, LOGIN, USER/PASS) in constant time.
    public func verify(password: String) -> Bool {
        let parts = scrypt.split(separator: "$")
        guard parts.count == 4, parts[0] == "scrypt" else { return false }
        var logN = 0, blockSize = 0, parallelism = 0
        for item in parts[1].split(separator: ",") {
            let pair = item.split(separator: "=")
            guard pair.count == 2, let value = Int(pair[1]) else { return false }
            switch pair[0] {
            case "ln": logN = value
            case "r": blockSize = value
            case "p": parallelism = value
            default: return false
            }
        }
        guard (1...24).contains(logN), blockSize > 0, parallelism > 0,
              let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
              let key = try? KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: expected.count,
                                                  rounds: 1 << logN, blockSize: blockSize, parallelism: parallelism)
        else { return false }
        return key.withUnsafeBytes { Self.constantTimeEqual(Array($0), Array(expected)) }
    }

    /// The SCRAM-SHA-256 salted keys, for a SCRAM exchange.
    public var scramKeys: (iterations: Int, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8])? {
        let parts = scram.split(separator: "$")
        guard parts.count == 3, parts[0] == "SCRAM-SHA-256" else { return nil }
        let first = parts[1].split(separator: ":"), second = parts[2].split(separator: ":")
        guard first.count == 2, second.count == 2, let iterations = Int(first[0]),
              let salt = Data(base64Encoded: String(first[1])), let stored = Data(base64Encoded: String(second[0])),
              let server = Data(base64Encoded: String(second[1])) else { return nil }
        return (iterations, Array(salt), Array(stored), Array(server))
    }

    /// Checks an APOP digest (hex MD5 of the greeting's timestamp and the password, RFC 1939 §7)
    /// against the unsealed password.
    public static func verifyAPOP(timestamp: String, digest: String, password: [UInt8]) -> Bool {
        let expected = Insecure.MD5.hash(data: Array(timestamp.utf8) + password).map { String(format: "%02x", $0) }.joined()
        return constantTimeEqual(Array(expected.utf8), Array(digest.lowercased().utf8))
    }

    /// Checks a CRAM-MD5 response digest (hex) for `challenge`, with the unsealed context.
    public func verifyCRAMMD5(challenge: [UInt8], response: String) -> Bool {
        guard let cramMD5Context, let context = Self.hexBytes(cramMD5Context), context.count == 32,
              let inner = MD5State(bytes: context[0..<16]), let outer = MD5State(bytes: context[16..<32]) else { return false }
        let innerDigest = inner.finish(challenge, prefixLength: 64)
        let digest = outer.finish(innerDigest, prefixLength: 64)
        let expected = digest.map { String(format: "%02x", $0) }.joined()
        return Self.constantTimeEqual(Array(expected.utf8), Array(response.lowercased().utf8))
    }

    /// The CRAM-MD5 context of a password, as sealed in the vault (32 bytes).
    public static func cramContextBytes(_ password: [UInt8]) -> [UInt8] {
        hexBytes(cramContext(password)) ?? []
    }

    public static func cramContext(_ password: [UInt8]) -> String {
        var key = password
        if key.count > 64 { key = Array(Insecure.MD5.hash(data: key)) }
        key += [UInt8](repeating: 0, count: 64 - key.count)
        var inner = MD5State()
        inner.compress(key.map { $0 ^ 0x36 }[...])
        var outer = MD5State()
        outer.compress(key.map { $0 ^ 0x5c }[...])
        return (inner.bytes + outer.bytes).map { String(format: "%02x", $0) }.joined()
    }

    static func hexBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let value = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
