import Crypto
import _CryptoExtras
import Foundation

/// A signing key for one domain and selector.
public struct DKIMKey: Sendable {
    public enum Secret: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    public let domain: String
    public let selector: String
    public let secret: Secret

    public init(domain: String, selector: String, secret: Secret) {
        self.domain = domain.lowercased()
        self.selector = selector.lowercased()
        self.secret = secret
    }

    /// A new key: RSA of `bits` (2048 by default), or Ed25519.
    public static func generate(domain: String, selector: String, ed25519: Bool, bits: Int = 2048) throws -> DKIMKey {
        let secret: Secret = ed25519 ? .ed25519(Curve25519.Signing.PrivateKey())
            : .rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits)))
        return DKIMKey(domain: domain, selector: selector, secret: secret)
    }

    /// The private key's bytes, for sealing: PKCS#8/PKCS#1 DER for RSA, the raw 32 for Ed25519.
    public var secretBytes: [UInt8] {
        switch secret {
        case .rsa(let key): Array(key.derRepresentation)
        case .ed25519(let key): Array(key.rawRepresentation)
        }
    }

    public init(domain: String, selector: String, algorithm: DKIMSignature.Algorithm, secretBytes: [UInt8]) throws {
        switch algorithm {
        case .rsaSHA256: self.init(domain: domain, selector: selector, secret: .rsa(try _RSA.Signing.PrivateKey(derRepresentation: secretBytes)))
        case .ed25519SHA256:
            self.init(domain: domain, selector: selector, secret: .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: secretBytes)))
        }
    }

    public var algorithm: DKIMSignature.Algorithm {
        switch secret {
        case .rsa: .rsaSHA256
        case .ed25519: .ed25519SHA256
        }
    }

    /// Where the record goes: `selector._domainkey.domain`.
    public var recordName: String { "\(selector)._domainkey.\(domain)" }

    /// The TXT record to publish (RFC 6376 §3.6.1; RFC 8463 §4.2 for Ed25519).
    public var record: String {
        switch secret {
        case .rsa(let key): "v=DKIM1; k=rsa; p=" + key.publicKey.derRepresentation.base64EncodedString()
        case .ed25519(let key): "v=DKIM1; k=ed25519; p=" + key.publicKey.rawRepresentation.base64EncodedString()
        }
    }

    func sign(_ data: [UInt8]) throws -> [UInt8] {
        let digest = SHA256.hash(data: data)
        switch secret {
        // RFC 6376 §3.3.1: RSASSA-PKCS1-v1_5 over SHA-256.
        case .rsa(let key): return Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        // RFC 8463 §3: Ed25519 over the SHA-256 of the data.
        case .ed25519(let key): return Array(try key.signature(for: Array(digest)))
        }
    }
}

/// Signs messages: relaxed/relaxed, the usual header fields plus From once more than present
/// (so no From can be added later), never `l=`.
public enum DKIMSigner {
    /// Signed when present.
    public static let headerNames = ["from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to", "references",
                                     "mime-version", "content-type", "content-transfer-encoding", "content-disposition",
                                     "list-id", "list-unsubscribe", "list-unsubscribe-post"]

    /// The DKIM-Signature fields (each with its CRLF) to put before `message`'s header, one per key.
    public static func sign(_ message: some RandomAccessCollection<UInt8>, keys: [DKIMKey], at time: Date) throws -> [UInt8] {
        guard let header = HeaderFields(message) else { throw DKIMSignature.Failure.invalid("the message has no readable header") }
        var hasher = DKIMCanonicalization.BodyHasher(.relaxed)
        hasher.update(message.dropFirst(header.bodyStart))
        return try sign(header: header, bodyHash: hasher.finish(), keys: keys, at: time)
    }

    /// The same, with the body's relaxed hash already made (a body streamed from the store).
    public static func sign(header: HeaderFields, bodyHash: [UInt8], keys: [DKIMKey], at time: Date) throws -> [UInt8] {
        var names: [String] = []
        for name in headerNames {
            let count = header.lastFirst(name).count
            names += Array(repeating: name, count: name == "from" ? count + 1 : count)
        }
        var out: [UInt8] = []
        for key in keys {
            // Folded at "; " so relaxed canonicalization reads it as written.
            let tags = ["v=1", "a=\(key.algorithm.rawValue)", "c=relaxed/relaxed", "d=\(key.domain)", "s=\(key.selector)",
                        "t=\(Int64(time.timeIntervalSince1970))", "h=\(names.joined(separator: ":"))",
                        "bh=\(Data(bodyHash).base64EncodedString())", "b="]
            let unsigned = "DKIM-Signature: " + tags.joined(separator: ";\r\n\t")
            let data = DKIMHashInput.headers(header, names: names, canonicalization: .relaxed) + DKIMHashInput.signatureField(Array(unsigned.utf8), .relaxed)
            let signature = Data(try key.sign(data)).base64EncodedString()
            var folded = ""
            for (index, character) in signature.enumerated() {
                if index > 0, index % 72 == 0 { folded += "\r\n\t " }
                folded.append(character)
            }
            out += Array((unsigned + folded + "\r\n").utf8)
        }
        return out
    }
}

/// What a DKIM signature covers (RFC 6376 §3.7).
enum DKIMHashInput {
    /// The signed fields in `names` order, each name taking the next instance from the bottom.
    static func headers(_ header: HeaderFields, names: [String], canonicalization: DKIMCanonicalization) -> [UInt8] {
        var used: [String: Int] = [:]
        var out: [UInt8] = []
        for name in names {
            let instances = header.lastFirst(name)
            let index = used[name, default: 0]
            used[name] = index + 1
            // A name with no instance left is the empty string (§5.4.2).
            guard index < instances.count else { continue }
            out += canonicalization.header(instances[index].raw)
        }
        return out
    }

    /// The DKIM-Signature field itself with its `b=` value deleted and no final CRLF.
    static func signatureField(_ raw: [UInt8], _ canonicalization: DKIMCanonicalization) -> [UInt8] {
        var canonical = canonicalization.header(withoutSignatureValue(raw))
        if canonical.suffix(2) == [0x0D, 0x0A] { canonical.removeLast(2) }
        return canonical
    }

    static func withoutSignatureValue(_ raw: [UInt8]) -> [UInt8] {
        guard let colon = raw.firstIndex(of: UInt8(ascii: ":")) else { return raw }
        var index = colon + 1
        while index < raw.count {
            // A tag's name: skip whitespace, read letters up to "=".
            var nameStart = index
            while nameStart < raw.count, DKIMTagList.isWhitespace(raw[nameStart]) { nameStart += 1 }
            var nameEnd = nameStart
            while nameEnd < raw.count, raw[nameEnd] != UInt8(ascii: "="), raw[nameEnd] != UInt8(ascii: ";") { nameEnd += 1 }
            let name = DKIMTagList.trim(raw[nameStart..<nameEnd])
            var valueEnd = nameEnd
            while valueEnd < raw.count, raw[valueEnd] != UInt8(ascii: ";") { valueEnd += 1 }
            if name.elementsEqual([UInt8(ascii: "b")]), nameEnd < raw.count, raw[nameEnd] == UInt8(ascii: "=") {
                var end = valueEnd
                // Keep the field's final CRLF.
                if end == raw.count, raw.suffix(2) == [0x0D, 0x0A] { end -= 2 }
                return Array(raw[...nameEnd]) + Array(raw[end...])
            }
            index = valueEnd + 1
        }
        return raw
    }
}
