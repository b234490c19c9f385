import Crypto
import _CryptoExtras
import DNS
import Foundation

/// One signature's result (RFC 8601's `dkim` method: pass, fail, neutral, temperror, permerror).
public struct DKIMResult: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case pass, fail, neutral, temperror, permerror
    }

    public var outcome: Outcome
    /// `d=`, `s=` and `a=` as far as the signature could be read.
    public var domain: String?
    public var selector: String?
    public var algorithm: String?
    /// The first 8 characters of `b=` (RFC 6008), to tell signatures apart.
    public var signaturePrefix: String?
    public var detail: String?

    public init(outcome: Outcome, domain: String? = nil, selector: String? = nil, algorithm: String? = nil,
                signaturePrefix: String? = nil, detail: String? = nil) {
        self.outcome = outcome
        self.domain = domain
        self.selector = selector
        self.algorithm = algorithm
        self.signaturePrefix = signaturePrefix
        self.detail = detail
    }
}

/// Checks a message's DKIM signatures (RFC 6376 §6.1), up to `maximumSignatures` of them, with
/// keys from DNS through `resolver`.
public struct DKIMVerifier: Sendable {
    public let resolver: any Resolver
    public var maximumSignatures = 5
    /// RSA keys shorter than this are not trusted (RFC 8301 §3.2).
    public var minimumRSABits = 1024

    public init(resolver: any Resolver) {
        self.resolver = resolver
    }

    /// Every signature's result, in the order of the header; empty when there is none.
    public func verify(_ message: some RandomAccessCollection<UInt8>, at now: Date) async -> [DKIMResult] {
        guard let header = HeaderFields(message) else { return [] }
        let fields = header.fields.filter { $0.name.lowercased() == "dkim-signature" }.prefix(maximumSignatures)
        var results: [DKIMResult] = []
        // Body hashes are shared by signatures with the same canonicalization and length.
        var bodyHashes: [String: [UInt8]] = [:]
        for field in fields {
            var result = DKIMResult(outcome: .permerror)
            let signature: DKIMSignature
            do {
                signature = try DKIMSignature(value: field.value)
            } catch {
                // What could be read of a broken one, for the record.
                if let tags = try? DKIMTagList(parsing: field.value) {
                    result.domain = tags["d"]
                    result.selector = tags["s"]
                }
                result.detail = error.description
                results.append(result)
                continue
            }
            result.domain = signature.domain
            result.selector = signature.selector
            result.algorithm = signature.algorithm.rawValue
            result.signaturePrefix = String(Data(signature.signature).base64EncodedString().prefix(8))
            if let expiration = signature.expiration, Int64(now.timeIntervalSince1970) > expiration {
                result.detail = "signature expired"
                results.append(result)
                continue
            }
            let key = "\(signature.bodyCanonicalization)/\(signature.bodyLength.map(String.init) ?? "")"
            if bodyHashes[key] == nil {
                var hasher = DKIMCanonicalization.BodyHasher(signature.bodyCanonicalization, limit: signature.bodyLength)
                hasher.update(message.dropFirst(header.bodyStart))
                let hash = hasher.finish()
                // l= longer than the body cannot have been signed by this body.
                if let length = signature.bodyLength, hasher.length < length {
                    result.outcome = .fail
                    result.detail = "l= is longer than the body"
                    results.append(result)
                    continue
                }
                bodyHashes[key] = hash
            }
            guard bodyHashes[key] == signature.bodyHash else {
                result.outcome = .fail
                result.detail = "body hash did not verify"
                results.append(result)
                continue
            }
            // The key.
            let record: DKIMKeyRecord
            switch await keyRecord(signature) {
            case .success(let found): record = found
            case .failure(let failure):
                result.outcome = failure.outcome
                result.detail = failure.detail
                results.append(result)
                continue
            }
            let data = DKIMHashInput.headers(header, names: signature.signedHeaders, canonicalization: signature.headerCanonicalization)
                + DKIMHashInput.signatureField(field.raw, signature.headerCanonicalization)
            switch check(signature, record: record, data: data) {
            case nil:
                result.outcome = .pass
            case .some(let failure):
                result.outcome = failure.outcome
                result.detail = failure.detail
            }
            results.append(result)
        }
        return results
    }

    struct Problem: Error {
        var outcome: DKIMResult.Outcome
        var detail: String
    }

    func keyRecord(_ signature: DKIMSignature) async -> Result<DKIMKeyRecord, Problem> {
        let name = "\(signature.selector)._domainkey.\(signature.domain)"
        let answer: DNSAnswer<[[[UInt8]]]>
        do {
            answer = try await resolver.txt(name)
        } catch {
            return .failure(Problem(outcome: .temperror, detail: "key lookup: \(error.reason)"))
        }
        guard let records = answer.records, !records.isEmpty else {
            return .failure(Problem(outcome: .permerror, detail: "no key for signature (\(name))"))
        }
        // §3.6.2.2: more than one record is not expected; the first that parses is used.
        var last = Problem(outcome: .permerror, detail: "no key record parses")
        for strings in records.prefix(5) {
            do {
                let record = try DKIMKeyRecord(parsing: strings.joined())
                return .success(record)
            } catch {
                last = Problem(outcome: .permerror, detail: "key record: \(error.description)")
            }
        }
        return .failure(last)
    }

    func check(_ signature: DKIMSignature, record: DKIMKeyRecord, data: [UInt8]) -> Problem? {
        if record.publicKey.isEmpty { return Problem(outcome: .permerror, detail: "key revoked") }
        if let hashes = record.hashAlgorithms, !hashes.contains("sha256") {
            return Problem(outcome: .permerror, detail: "key does not allow sha256")
        }
        if record.strictIdentity {
            let identityDomain = signature.identity.split(separator: "@").last.map { $0.lowercased() } ?? ""
            if identityDomain != signature.domain { return Problem(outcome: .permerror, detail: "key requires i= in d= itself") }
        }
        let digest = SHA256.hash(data: data)
        switch (signature.algorithm, record.keyType) {
        case (.rsaSHA256, .rsa):
            guard let key = try? _RSA.Signing.PublicKey(unsafeDERRepresentation: record.publicKey) else {
                return Problem(outcome: .permerror, detail: "key does not parse")
            }
            guard key.keySizeInBits >= minimumRSABits else {
                return Problem(outcome: .permerror, detail: "key of \(key.keySizeInBits) bits is too short")
            }
            let valid = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature.signature), for: digest,
                                             padding: .insecurePKCS1v1_5)
            return valid ? nil : Problem(outcome: .fail, detail: "signature did not verify")
        case (.ed25519SHA256, .ed25519):
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: record.publicKey) else {
                return Problem(outcome: .permerror, detail: "key does not parse")
            }
            return key.isValidSignature(signature.signature, for: Array(digest)) ? nil
                : Problem(outcome: .fail, detail: "signature did not verify")
        default:
            return Problem(outcome: .permerror, detail: "key type \(record.keyType.rawValue) does not match a=\(signature.algorithm.rawValue)")
        }
    }
}
