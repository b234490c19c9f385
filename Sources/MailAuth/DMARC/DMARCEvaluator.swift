import DNS
import Foundation

/// A DMARC check's outcome (RFC 7489 §6.6), with what the aggregate reports need.
public struct DMARCOutcome: Sendable, Equatable {
    public enum Result: String, Sendable {
        case none, pass, fail, temperror, permerror
    }

    public var result: Result
    /// The RFC 5322.From domain checked.
    public var fromDomain: String
    /// The domain whose record applied (the From domain's or its organizational domain's).
    public var policyDomain: String?
    public var record: DMARCRecord?
    /// The policy for this message: `sp` for a subdomain when the organizational domain's
    /// record applied, `p` otherwise.
    public var policy: DMARCRecord.Policy?
    /// What to do with the message: the policy for a failure, lowered when `pct` sampled it
    /// out; `none` for a pass.
    public var disposition: DMARCRecord.Policy = .none
    public var spfAligned = false
    public var dkimAligned = false
    /// The policy was lowered because `pct` left the message out.
    public var sampledOut = false
    public var detail: String?

    public init(result: Result, fromDomain: String) {
        self.result = result
        self.fromDomain = fromDomain
    }
}

/// The DMARC check (RFC 7489 §6.6) over a resolver and the Public Suffix List.
public struct DMARCEvaluator: Sendable {
    public let resolver: any Resolver
    public let suffixes: PublicSuffixList

    public init(resolver: any Resolver, suffixes: PublicSuffixList) {
        self.resolver = resolver
        self.suffixes = suffixes
    }

    /// The policy record for `domain` (§6.6.3): at `_dmarc.<domain>`, else at its
    /// organizational domain's. Returns the record and the domain it was found at.
    public func discover(_ domain: String) async -> Result<(record: DMARCRecord, domain: String)?, DMARCLookupFailure> {
        let domain = domain.lowercased()
        switch await record(at: domain) {
        case .failure(let failure): return .failure(failure)
        case .success(let found?): return .success((found, domain))
        case .success(nil): break
        }
        guard let organizational = suffixes.organizationalDomain(of: domain), organizational != domain else { return .success(nil) }
        switch await record(at: organizational) {
        case .failure(let failure): return .failure(failure)
        case .success(let found?): return .success((found, organizational))
        case .success(nil): return .success(nil)
        }
    }

    func record(at domain: String) async -> Result<DMARCRecord?, DMARCLookupFailure> {
        let answer: DNSAnswer<[[[UInt8]]]>
        do {
            answer = try await resolver.txt("_dmarc." + domain)
        } catch {
            return .failure(.temporary(error.reason))
        }
        let texts = (answer.records ?? []).prefix(20).map { String(decoding: $0.joined(), as: UTF8.self) }.filter(DMARCRecord.isDMARC)
        // §6.6.3: more than one record means none applies.
        guard texts.count == 1, let text = texts.first else { return .success(nil) }
        do {
            return .success(try DMARCRecord(parsing: text))
        } catch {
            return .failure(.permanent("_dmarc.\(domain): \(error.description)"))
        }
    }

    /// Whether two domains are aligned: the same name (strict), or the same organizational
    /// domain (relaxed).
    public func aligned(_ a: String, _ b: String, _ mode: DMARCRecord.Alignment) -> Bool {
        let a = PublicSuffixList.trimmed(a).lowercased(), b = PublicSuffixList.trimmed(b).lowercased()
        if a == b { return true }
        guard mode == .relaxed, let orgA = suffixes.organizationalDomain(of: a), let orgB = suffixes.organizationalDomain(of: b) else {
            return false
        }
        return orgA == orgB
    }

    /// Checks a message. `spfDomain` is the domain SPF checked (MAIL FROM's, or HELO's for the
    /// null reverse-path); `sample` is a number from 0 to 99 that `pct` is compared with.
    public func evaluate(fromDomain: String, spf: SPFResult?, spfDomain: String?, dkim: [DKIMResult],
                         sample: Int = Int.random(in: 0..<100)) async -> DMARCOutcome {
        let from = PublicSuffixList.trimmed(fromDomain).lowercased()
        var outcome = DMARCOutcome(result: .none, fromDomain: from)
        let found: (record: DMARCRecord, domain: String)
        switch await discover(from) {
        case .failure(.temporary(let detail)):
            outcome.result = .temperror
            outcome.detail = detail
            return outcome
        case .failure(.permanent(let detail)):
            outcome.result = .permerror
            outcome.detail = detail
            return outcome
        case .success(nil):
            return outcome
        case .success(let record?):
            found = record
        }
        outcome.record = found.record
        outcome.policyDomain = found.domain
        outcome.policy = found.domain != from ? (found.record.subdomainPolicy ?? found.record.policy) : found.record.policy
        if spf == .pass, let spfDomain {
            outcome.spfAligned = aligned(spfDomain, from, found.record.spfAlignment)
        }
        outcome.dkimAligned = dkim.contains { result in
            guard result.outcome == .pass, let domain = result.domain else { return false }
            return aligned(domain, from, found.record.dkimAlignment)
        }
        if outcome.spfAligned || outcome.dkimAligned {
            outcome.result = .pass
            return outcome
        }
        outcome.result = .fail
        var disposition = outcome.policy ?? .none
        if sample >= found.record.percentage && disposition != .none {
            disposition = disposition.lower
            outcome.sampledOut = true
        }
        outcome.disposition = disposition
        return outcome
    }
}

public enum DMARCLookupFailure: Error, Equatable {
    case temporary(String)
    case permanent(String)
}
