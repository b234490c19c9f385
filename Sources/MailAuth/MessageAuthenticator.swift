import DNS
import Foundation
import MailCore

/// What the checks on a received message found, and the header field that says so.
public struct MessageAuthentication: Sendable {
    public var dkim: [DKIMResult] = []
    /// The ARC chain's validation, when DKIM was checked.
    public var arc: ARCResult?
    public var dmarc: DMARCOutcome?
    /// The `Authentication-Results:` field to put at the top of the message.
    public var results: AuthenticationResults
    /// `Authentication-Results:` fields in the message that claim to be this server's (RFC
    /// 8601 §5): their offsets and lengths, to be removed.
    public var forged: [Range<Int>] = []
}

/// The checks made on a message from outside once its whole content is in (SPF was made at
/// MAIL FROM): DKIM signatures, then DMARC over both. Pure over its resolver.
public struct MessageAuthenticator: Sendable {
    public let resolver: any Resolver
    /// This server's name in `Authentication-Results:` (the authserv-id).
    public let authservID: String
    /// Nil: DMARC is not checked.
    public var suffixes: PublicSuffixList?
    public var verifyDKIM = true
    public var maximumSignatures = 5

    public init(resolver: any Resolver, authservID: String, suffixes: PublicSuffixList?) {
        self.resolver = resolver
        self.authservID = authservID
        self.suffixes = suffixes
    }

    /// The SPF check made at MAIL FROM: its result and the identity checked
    /// (`postmaster@helo` for the null reverse-path).
    public struct SPFCheck: Sendable {
        public var result: SPFResult
        public var identity: String

        public init(result: SPFResult, identity: String) {
            self.result = result
            self.identity = identity
        }
    }

    /// Checks `message` (the client's bytes: header and body, no trace lines of ours).
    public func check(_ message: some RandomAccessCollection<UInt8>, spf: SPFCheck?, at now: Date,
                      sample: Int = Int.random(in: 0..<100)) async -> MessageAuthentication {
        var entries: [AuthenticationResults.Entry] = []
        var outcome = MessageAuthentication(results: AuthenticationResults(authservID: authservID, entries: []))
        let header = HeaderFields(message)
        outcome.forged = (header?.fields ?? []).filter { field in
            guard field.name.lowercased() == "authentication-results",
                  let id = AuthenticationResults.authservID(ofValue: field.value) else { return false }
            return id.lowercased() == authservID.lowercased()
        }.map { $0.offset..<($0.offset + $0.raw.count) }

        if let spf {
            entries.append(.init(method: "spf", result: spf.result.rawValue, properties: [("smtp.mailfrom", spf.identity)]))
        }
        if verifyDKIM {
            var verifier = DKIMVerifier(resolver: resolver)
            verifier.maximumSignatures = maximumSignatures
            outcome.dkim = await verifier.verify(message, at: now)
            if outcome.dkim.isEmpty { entries.append(.init(method: "dkim", result: "none")) }
            for result in outcome.dkim {
                var properties: [(String, String)] = []
                if let domain = result.domain { properties.append(("header.d", domain)) }
                if let selector = result.selector { properties.append(("header.s", selector)) }
                if let algorithm = result.algorithm { properties.append(("header.a", algorithm)) }
                if let prefix = result.signaturePrefix { properties.append(("header.b", prefix)) }
                entries.append(.init(method: "dkim", result: result.outcome.rawValue, reason: result.detail, properties: properties))
            }
            // RFC 8617 §5.2: the chain of the hops before, recorded for later filters.
            let arc = await ARCVerifier(resolver: resolver).verify(message, at: now)
            outcome.arc = arc
            if arc.outcome != .none {
                var properties: [(String, String)] = []
                if let domain = arc.domain { properties.append(("header.d", domain)) }
                properties.append(("header.i", "\(arc.instances)"))
                entries.append(.init(method: "arc", result: arc.outcome.rawValue, reason: arc.detail, properties: properties))
            }
        }
        if let suffixes {
            let from = Self.fromDomain(header)
            switch from {
            case .none:
                var failed = DMARCOutcome(result: .permerror, fromDomain: "")
                failed.detail = "no single From domain"
                outcome.dmarc = failed
                entries.append(.init(method: "dmarc", result: "permerror", reason: failed.detail))
            case .some(let domain):
                let evaluator = DMARCEvaluator(resolver: resolver, suffixes: suffixes)
                let spfDomain = spf.map { check in String(check.identity.split(separator: "@").last ?? "") }
                let dmarc = await evaluator.evaluate(fromDomain: domain, spf: spf?.result, spfDomain: spfDomain,
                                                     dkim: outcome.dkim, sample: sample)
                outcome.dmarc = dmarc
                var comment: String?
                if let policy = dmarc.policy { comment = "p=\(policy.rawValue) dis=\(dmarc.disposition.rawValue)" }
                entries.append(.init(method: "dmarc", result: dmarc.result.rawValue, reason: dmarc.detail, comment: comment,
                                     properties: [("header.from", dmarc.fromDomain)]))
            }
        }
        outcome.results.entries = entries
        return outcome
    }

    /// The RFC 5322.From domain (RFC 7489 §6.6.1): nil when there is no From field, more than
    /// one, or its addresses do not share one domain.
    static func fromDomain(_ header: HeaderFields?) -> String? {
        guard let header else { return nil }
        let fields = header.fields.filter { $0.name.lowercased() == "from" }
        guard fields.count == 1, let field = fields.first else { return nil }
        let addresses = MessageAddress.parseList(String(decoding: field.value, as: UTF8.self), maxAddresses: 20)
        let domains = Set(addresses.compactMap { $0.host?.lowercased() })
        guard domains.count == 1, let domain = domains.first, !domain.isEmpty else { return nil }
        return domain
    }
}
