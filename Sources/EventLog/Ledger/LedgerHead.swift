import Crypto
import Foundation

/// A signed ledger head: the chain hash at one ledger row, signed with the Ed25519 key kept in
/// the key directory. The sealer writes one to `eventlog.ledger_checkpoints` now and then;
/// `pillarbox log head` prints the newest as one line of JSON for an auditor to keep elsewhere,
/// and `pillarbox log verify --head FILE` checks the log against it.
///
/// The signed bytes:
///
///     pillarbox-ledger-head-v1 LF seq LF global_position LF hex(chain_hash) LF signed_micros LF
public struct LedgerHead: Sendable, Equatable {
    public let seq: Int64
    public let position: Int64
    public let chainHash: [UInt8]
    /// When it was signed, in microseconds since 1970.
    public let signedMicros: Int64
    public let publicKey: [UInt8]
    public let signature: [UInt8]

    public init(seq: Int64, position: Int64, chainHash: [UInt8], signedMicros: Int64, publicKey: [UInt8], signature: [UInt8]) {
        self.seq = seq
        self.position = position
        self.chainHash = chainHash
        self.signedMicros = signedMicros
        self.publicKey = publicKey
        self.signature = signature
    }

    /// Signs the head at `seq`.
    public static func sign(seq: Int64, position: Int64, chainHash: [UInt8], at date: Date,
                            key: Curve25519.Signing.PrivateKey) throws -> LedgerHead {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
        let message = signedBytes(seq: seq, position: position, chainHash: chainHash, signedMicros: micros)
        return LedgerHead(seq: seq, position: position, chainHash: chainHash, signedMicros: micros,
                          publicKey: Array(key.publicKey.rawRepresentation), signature: Array(try key.signature(for: message)))
    }

    static func signedBytes(seq: Int64, position: Int64, chainHash: [UInt8], signedMicros: Int64) -> [UInt8] {
        Array("pillarbox-ledger-head-v1\n\(seq)\n\(position)\n\(chainHash.hexString)\n\(signedMicros)\n".utf8)
    }

    /// Whether the signature is right for these fields under `publicKey`.
    public var hasValidSignature: Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: Self.signedBytes(seq: seq, position: position, chainHash: chainHash,
                                                                     signedMicros: signedMicros))
    }

    public var signedAt: Date { Date(timeIntervalSince1970: Double(signedMicros) / 1_000_000) }

    /// A short name for the signing key: the first 8 bytes of its public key, hex.
    public var keyID: String { Array(publicKey.prefix(8)).hexString }

    // MARK: As a line of JSON

    /// `{"seq":…,"position":…,"chain_hash":"hex","signed_micros":…,"signed_at":"ISO 8601","public_key":"hex","signature":"hex"}`
    public var json: String {
        let signedAt = signedAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        return "{\"seq\":\(seq),\"position\":\(position),\"chain_hash\":\"\(chainHash.hexString)\","
            + "\"signed_micros\":\(signedMicros),\"signed_at\":\"\(signedAt)\","
            + "\"public_key\":\"\(publicKey.hexString)\",\"signature\":\"\(signature.hexString)\"}"
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads what `json` wrote (the last non-empty line of `text`).
    public init(json text: String) throws {
        let line = text.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) }).map(String.init) ?? ""
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ParseError(description: "not a ledger head: expected the JSON line `pillarbox log head` prints")
        }
        func number(_ key: String) throws -> Int64 {
            guard let value = object[key] as? NSNumber else { throw ParseError(description: "ledger head: \(key) is missing") }
            return value.int64Value
        }
        func bytes(_ key: String, count: Int) throws -> [UInt8] {
            guard let text = object[key] as? String, let value = [UInt8](hex: text), value.count == count else {
                throw ParseError(description: "ledger head: \(key) must be \(count) bytes of hex")
            }
            return value
        }
        self.init(seq: try number("seq"), position: try number("position"), chainHash: try bytes("chain_hash", count: 32),
                  signedMicros: try number("signed_micros"), publicKey: try bytes("public_key", count: 32),
                  signature: try bytes("signature", count: 64))
    }
}

extension Array where Element == UInt8 {
    /// Bytes from lower- or upper-case hex; nil for anything else.
    init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }
}
