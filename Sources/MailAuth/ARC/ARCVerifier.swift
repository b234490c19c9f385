import DNS
import Foundation

/// An ARC chain's validation (RFC 8617 §5.2).
public struct ARCResult: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case none, pass, fail
    }

    public var outcome: Outcome
    /// Sets in the chain.
    public var instances = 0
    /// The newest seal's signing domain.
    public var domain: String?
    /// Why it failed.
    public var detail: String?

    public init(outcome: Outcome, instances: Int = 0, domain: String? = nil, detail: String? = nil) {
        self.outcome = outcome
        self.instances = instances
        self.domain = domain
        self.detail = detail
    }
}

/// Validates the Authenticated Received Chain of a message (RFC 8617): the sets' structure,
/// the newest ARC-Message-Signature, and every ARC-Seal from the newest down.
public struct ARCVerifier: Sendable {
    public let resolver: any Resolver
    /// §5.1.1.1: at most 50 sets.
    public static let maximumSets = 50

    public init(resolver: any Resolver) {
        self.resolver = resolver
    }

    struct Set {
        var results: HeaderFields.Field?
        var signature: HeaderFields.Field?
        var seal: HeaderFields.Field?
    }

    public func verify(_ message: some RandomAccessCollection<UInt8>, at now: Date) async -> ARCResult {
        guard let header = HeaderFields(message) else { return ARCResult(outcome: .none) }
        var sets: [Int: Set] = [:]
        var count = 0
        for field in header.fields {
            let name = field.name.lowercased()
            guard name == "arc-seal" || name == "arc-message-signature" || name == "arc-authentication-results" else { continue }
            count += 1
            guard count <= 3 * Self.maximumSets else { return fail("more than \(Self.maximumSets) ARC sets") }
            guard let instance = Self.instance(of: field, name: name) else { return fail("\(field.name) without a usable i=") }
            guard (1...Self.maximumSets).contains(instance) else { return fail("i=\(instance) is out of range") }
            var set = sets[instance] ?? Set()
            switch name {
            case "arc-seal":
                guard set.seal == nil else { return fail("two ARC-Seal fields with i=\(instance)") }
                set.seal = field
            case "arc-message-signature":
                guard set.signature == nil else { return fail("two ARC-Message-Signature fields with i=\(instance)") }
                set.signature = field
            default:
                guard set.results == nil else { return fail("two ARC-Authentication-Results fields with i=\(instance)") }
                set.results = field
            }
            sets[instance] = set
        }
        guard !sets.isEmpty else { return ARCResult(outcome: .none) }
        let newest = sets.keys.max() ?? 0
        var seals: [Int: DKIMTagList] = [:]
        for instance in 1...newest {
            guard let set = sets[instance], let seal = set.seal, set.signature != nil, set.results != nil else {
                return fail("ARC set \(instance) is incomplete", instances: newest)
            }
            guard let tags = try? DKIMTagList(parsing: seal.value) else { return fail("ARC-Seal i=\(instance) does not parse", instances: newest) }
            seals[instance] = tags
        }
        var result = ARCResult(outcome: .pass, instances: newest, domain: seals[newest]?["d"])
        // §5.2 step 3: the newest seal's verdict, then each seal's cv= in its place.
        if seals[newest]?["cv"]?.lowercased() == "fail" { return fail("the newest seal says cv=fail", instances: newest) }
        for instance in 1...newest {
            let cv = seals[instance]?["cv"]?.lowercased()
            if instance == 1 ? cv != "none" : cv != "pass" {
                return fail("ARC-Seal i=\(instance) has cv=\(cv ?? "")", instances: newest)
            }
        }
        // Step 4: the newest ARC-Message-Signature, as a DKIM signature of the message.
        if let problem = await messageSignature(sets[newest]!.signature!, header: header, message: message, at: now) {
            result.outcome = .fail
            result.detail = "ARC-Message-Signature i=\(newest): \(problem)"
            return result
        }
        // Step 6: every seal, newest first, over the sets up to its own.
        for instance in stride(from: newest, through: 1, by: -1) {
            var data: [UInt8] = []
            for earlier in 1...instance {
                let set = sets[earlier]!
                data += DKIMCanonicalization.relaxed.header(set.results!.raw)
                data += DKIMCanonicalization.relaxed.header(set.signature!.raw)
                data += earlier < instance ? DKIMCanonicalization.relaxed.header(set.seal!.raw)
                    : DKIMHashInput.signatureField(set.seal!.raw, .relaxed)
            }
            if let problem = await seal(seals[instance]!, data: data, at: now) {
                result.outcome = .fail
                result.detail = "ARC-Seal i=\(instance): \(problem)"
                return result
            }
        }
        return result
    }

    func fail(_ detail: String, instances: Int = 0) -> ARCResult {
        ARCResult(outcome: .fail, instances: instances, detail: detail)
    }

    /// `i=` of an ARC field: a tag of the seal and the signature; the first thing in the
    /// results' value (`i=1; authserv-id; …`).
    static func instance(of field: HeaderFields.Field, name: String) -> Int? {
        if name == "arc-authentication-results" {
            let value = Array(field.value)
            guard let semicolon = value.firstIndex(of: UInt8(ascii: ";")) else { return nil }
            let tag = String(decoding: value[..<semicolon], as: UTF8.self).filter { !$0.isWhitespace }
            guard tag.lowercased().hasPrefix("i="), tag.count <= 6 else { return nil }
            return Int(tag.dropFirst(2))
        }
        guard let tags = try? DKIMTagList(parsing: field.value), let value = tags["i"], value.count <= 4 else { return nil }
        return Int(value)
    }

    /// The ARC-Message-Signature read as a DKIM signature: its `i=` is an instance, not an
    /// identity, and it has no `v=`.
    func messageSignature(_ field: HeaderFields.Field, header: HeaderFields, message: some RandomAccessCollection<UInt8>,
                          at now: Date) async -> String? {
        guard let tags = try? DKIMTagList(parsing: field.value) else { return "does not parse" }
        let text = (["v=1"] + tags.tags.filter { $0.name != "i" && $0.name != "v" }.map { "\($0.name)=\($0.value)" })
            .joined(separator: "; ")
        let signature: DKIMSignature
        do {
            signature = try DKIMSignature(value: Array(text.utf8))
        } catch {
            return error.description
        }
        if let expiration = signature.expiration, Int64(now.timeIntervalSince1970) > expiration { return "expired" }
        var hasher = DKIMCanonicalization.BodyHasher(signature.bodyCanonicalization, limit: signature.bodyLength)
        hasher.update(message.dropFirst(header.bodyStart))
        guard hasher.finish() == signature.bodyHash else { return "body hash did not verify" }
        let data = DKIMHashInput.headers(header, names: signature.signedHeaders, canonicalization: signature.headerCanonicalization)
            + DKIMHashInput.signatureField(field.raw, signature.headerCanonicalization)
        return await check(signature, data: data)
    }

    /// The key `signature` names, then its signature over `data`; why it failed, or nil.
    func check(_ signature: DKIMSignature, data: [UInt8]) async -> String? {
        let verifier = DKIMVerifier(resolver: resolver)
        switch await verifier.keyRecord(signature) {
        case .success(let record): return verifier.check(signature, record: record, data: data)?.detail
        case .failure(let problem): return problem.detail
        }
    }

    /// An ARC-Seal over `data`, with the key its `d=` and `s=` name.
    func seal(_ tags: DKIMTagList, data: [UInt8], at now: Date) async -> String? {
        guard let a = tags["a"], let b = tags["b"], let d = tags["d"], let s = tags["s"] else { return "a tag is missing" }
        // The seal has no body hash or header list: a DKIM signature shaped around its tags
        // carries its algorithm, value and key name to the same check.
        let text = "v=1; a=\(a); d=\(d); s=\(s); b=\(b); bh=\(Data(count: 32).base64EncodedString()); h=from"
        let signature: DKIMSignature
        do {
            signature = try DKIMSignature(value: Array(text.utf8))
        } catch {
            return error.description
        }
        return await check(signature, data: data)
    }
}
