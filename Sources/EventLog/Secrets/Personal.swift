import Crypto
import Foundation

/// A field of an event that is personal data about a message (its subject, the summary IMAP
/// serves): stored sealed under the data key of the message's body, so that once no holder of
/// the body is left (erasure) the field can no longer be read either, while the event, its hash
/// and the ledger stay as they were.
///
/// Stored as `{"$sealed": "<body SHA-256 hex>:<base64 of nonce, ciphertext and tag>"}`
/// (AES-256-GCM); as the plain value when the process does not seal or does not know the key,
/// which is also how events written before sealing read back.
public struct Personal<Value: Codable & Sendable>: Codable, Sendable {
    /// The value; nil when it is sealed and no key that opens it is left (erased), or in this
    /// process not loaded (see `EventStore.loadDataKeys`).
    public let value: Value?
    /// The body whose data key seals it; nil for a field read back in clear.
    public let blob: BlobID?

    public init(_ value: Value, sealedWith blob: BlobID) {
        self.value = value
        self.blob = blob
    }

    private enum Keys: String, CodingKey {
        case sealed = "$sealed"
    }

    public func encode(to encoder: any Encoder) throws {
        if let value, let blob, let key = DataKeys.shared.sealingKey(for: blob) {
            let clear = try EventCoding.encode(Box(value: value))
            guard let combined = try AES.GCM.seal(clear, using: key, authenticating: Self.context(blob)).combined else {
                throw EncodingError.invalidValue(value, .init(codingPath: encoder.codingPath, debugDescription: "sealing failed"))
            }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(blob.hex + ":" + combined.base64EncodedString(), forKey: .sealed)
        } else if let value {
            var container = encoder.singleValueContainer()
            try container.encode(value)
        } else {
            // An erased value written again (a copied event) stays erased: the sealed form is gone.
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }

    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: Keys.self), container.contains(.sealed) {
            let text = try container.decode(String.self, forKey: .sealed)
            guard let colon = text.firstIndex(of: ":"), let blob = BlobID(hex: String(text[..<colon])),
                  let combined = Data(base64Encoded: String(text[text.index(after: colon)...])) else {
                throw DecodingError.dataCorruptedError(forKey: .sealed, in: container, debugDescription: "not a sealed field")
            }
            self.blob = blob
            guard let key = DataKeys.shared.key(for: blob) else {
                value = nil
                return
            }
            do {
                let clear = try AES.GCM.open(try AES.GCM.SealedBox(combined: combined), using: key, authenticating: Self.context(blob))
                value = try EventCoding.decode(Box.self, from: clear).value
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .sealed, in: container,
                                                       debugDescription: "a sealed field does not open: it was altered")
            }
            return
        }
        let container = try decoder.singleValueContainer()
        value = container.decodeNil() ? nil : try container.decode(Value.self)
        blob = nil
    }

    /// Wraps the value so a bare string or number encodes as a JSON document.
    private struct Box: Codable {
        var value: Value
    }

    private static func context(_ blob: BlobID) -> [UInt8] {
        Array("pillarbox-personal-v1\n".utf8) + blob.bytes
    }

}

extension Personal: Equatable where Value: Equatable {
    public static func == (lhs: Personal, rhs: Personal) -> Bool { lhs.value == rhs.value }
}

extension Personal: Hashable where Value: Hashable {
    public func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
