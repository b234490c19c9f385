import Foundation

/// A DKIM-Signature header field's tags (RFC 6376 §3.5), checked as §6.1.1 asks.
public struct DKIMSignature: Sendable, Equatable {
    public enum Algorithm: String, Sendable, Equatable {
        case rsaSHA256 = "rsa-sha256"
        /// RFC 8463.
        case ed25519SHA256 = "ed25519-sha256"
    }

    public var algorithm: Algorithm
    public var signature: [UInt8]
    public var bodyHash: [UInt8]
    public var headerCanonicalization: DKIMCanonicalization
    public var bodyCanonicalization: DKIMCanonicalization
    public var domain: String
    /// The signed header field names, lower case, in order (repeats and names not present kept).
    public var signedHeaders: [String]
    public var identity: String
    public var bodyLength: Int?
    public var selector: String
    public var timestamp: Int64?
    public var expiration: Int64?

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case syntax(String)
        case missing(String)
        case unsupported(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .syntax(let detail): "bad tag list: \(detail)"
            case .missing(let tag): "no \(tag)= tag"
            case .unsupported(let detail): "unsupported \(detail)"
            case .invalid(let detail): detail
            }
        }
    }

    /// From the field's value (after `DKIM-Signature:`).
    public init(value: some Collection<UInt8>) throws(Failure) {
        let tags: DKIMTagList
        do {
            tags = try DKIMTagList(parsing: value)
        } catch {
            throw .syntax(error.description)
        }
        func required(_ name: String) throws(Failure) -> String {
            guard let value = tags[name] else { throw .missing(name) }
            return value
        }
        guard try required("v") == "1" else { throw .unsupported("version v=\(tags["v"] ?? "")") }
        guard let algorithm = Algorithm(rawValue: try required("a").lowercased()) else {
            throw .unsupported("algorithm a=\(tags["a"] ?? "")")
        }
        self.algorithm = algorithm
        guard let signature = Data(base64Encoded: DKIMTagList.compact(try required("b"))) else { throw .invalid("b= is not base64") }
        self.signature = Array(signature)
        guard let bodyHash = Data(base64Encoded: DKIMTagList.compact(try required("bh"))), bodyHash.count == 32 else {
            throw .invalid("bh= is not a base64 SHA-256 digest")
        }
        self.bodyHash = Array(bodyHash)
        let canonicalization = (tags["c"] ?? "simple/simple").lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(canonicalization.count),
              let header = DKIMCanonicalization(rawValue: String(canonicalization[0])),
              let body = DKIMCanonicalization(rawValue: canonicalization.count == 2 ? String(canonicalization[1]) : "simple") else {
            throw .unsupported("canonicalization c=\(tags["c"] ?? "")")
        }
        headerCanonicalization = header
        bodyCanonicalization = body
        domain = try required("d").lowercased()
        guard Self.isDomain(domain) else { throw .invalid("d= is not a domain name") }
        selector = try required("s").lowercased()
        guard !selector.isEmpty, selector.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(Self.isLabel) else {
            throw .invalid("s= is not a selector")
        }
        signedHeaders = DKIMTagList.compact(try required("h")).lowercased().split(separator: ":", omittingEmptySubsequences: false)
            .map(String.init)
        guard !signedHeaders.contains(where: \.isEmpty) else { throw .invalid("h= has an empty name") }
        // §6.1.1: From must be signed.
        guard signedHeaders.contains("from") else { throw .invalid("h= does not include From") }
        identity = tags["i"] ?? "@" + domain
        // §6.1.1: i= must be in d= or a subdomain of it.
        guard let at = identity.lastIndex(of: "@") else { throw .invalid("i= has no @") }
        let identityDomain = identity[identity.index(after: at)...].lowercased()
        guard identityDomain == domain || identityDomain.hasSuffix("." + domain) else { throw .invalid("i= is not within d=") }
        if let length = tags["l"] {
            guard length.count <= 76, let value = Int(length), value >= 0 else { throw .invalid("l= is not a number") }
            bodyLength = value
        }
        if let query = tags["q"], !query.lowercased().split(separator: ":").contains("dns/txt") {
            throw .unsupported("query method q=\(query)")
        }
        if let time = tags["t"] {
            guard time.count <= 12, let value = Int64(time) else { throw .invalid("t= is not a number") }
            timestamp = value
        }
        if let time = tags["x"] {
            guard time.count <= 12, let value = Int64(time) else { throw .invalid("x= is not a number") }
            expiration = value
            if let timestamp, value < timestamp { throw .invalid("x= is before t=") }
        }
    }

    static func isLabel(_ label: Substring) -> Bool {
        !label.isEmpty && label.utf8.count <= 63
            && label.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    static func isDomain(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return name.utf8.count <= 253 && labels.count >= 1 && labels.allSatisfy(isLabel)
    }
}

/// A DKIM key record (RFC 6376 §3.6.1): `selector._domainkey.domain` TXT.
public struct DKIMKeyRecord: Sendable, Equatable {
    public enum KeyType: String, Sendable { case rsa, ed25519 }

    public var keyType: KeyType
    /// The key's bytes: SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for Ed25519.
    /// Empty: the key was revoked.
    public var publicKey: [UInt8]
    public var hashAlgorithms: [String]?
    public var testing: Bool
    /// `t=s`: i= must be exactly in d=, not a subdomain.
    public var strictIdentity: Bool

    public init(parsing text: some Collection<UInt8>) throws(DKIMSignature.Failure) {
        let tags: DKIMTagList
        do {
            tags = try DKIMTagList(parsing: text)
        } catch {
            throw .syntax(error.description)
        }
        // §3.6.1: v=, when present, is first and DKIM1.
        if let version = tags["v"] {
            guard tags.tags.first?.name == "v", version == "DKIM1" else { throw .unsupported("key record version v=\(version)") }
        }
        guard let type = KeyType(rawValue: (tags["k"] ?? "rsa").lowercased()) else { throw .unsupported("key type k=\(tags["k"] ?? "")") }
        keyType = type
        guard let key = tags["p"] else { throw .missing("p") }
        let compact = DKIMTagList.compact(key)
        guard let bytes = compact.isEmpty ? Data() : Data(base64Encoded: compact) else { throw .invalid("p= is not base64") }
        publicKey = Array(bytes)
        hashAlgorithms = tags["h"].map { DKIMTagList.compact($0).lowercased().split(separator: ":").map(String.init) }
        if let services = tags["s"] {
            let list = DKIMTagList.compact(services).lowercased().split(separator: ":")
            guard list.contains("*") || list.contains("email") else { throw .unsupported("service type s=\(services)") }
        }
        let flags = DKIMTagList.compact(tags["t"] ?? "").lowercased().split(separator: ":")
        testing = flags.contains("y")
        strictIdentity = flags.contains("s")
    }
}
