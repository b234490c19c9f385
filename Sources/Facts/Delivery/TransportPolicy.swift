import EventLog
import Foundation

/// What one delivery attempt found of the recipient domain's transport security policy, in
/// TLS-RPT's terms (RFC 8460 §4.3): the policy applied (MTA-STS, RFC 8461, or DANE, RFC 7672),
/// how many sessions met it and why the others did not. Carried in `delivery_attempted`; the
/// daily TLS reports are counted from it.
public struct TransportPolicyCheck: Codable, Sendable, Equatable {
    /// TLS-RPT's `policy-type`.
    public enum Kind: String, Codable, Sendable {
        case sts
        case tlsa
        case noPolicyFound = "no-policy-found"
    }

    /// A session that did not meet the policy, or a policy that could not be had.
    public struct Failure: Codable, Sendable, Equatable {
        /// TLS-RPT's `result-type`: `starttls-not-supported`, `certificate-host-mismatch`,
        /// `certificate-expired`, `certificate-not-trusted`, `validation-failure`,
        /// `tlsa-invalid`, `dnssec-invalid`, `dane-required`, `sts-policy-fetch-error`,
        /// `sts-policy-invalid`, `sts-webpki-invalid`.
        public var result: String
        public var mxHost: String?
        public var ip: String?
        public var detail: String?

        public init(result: String, mxHost: String? = nil, ip: String? = nil, detail: String? = nil) {
            self.result = result
            self.mxHost = mxHost
            self.ip = ip
            self.detail = detail
        }
    }

    public var kind: Kind
    /// The recipient domain whose policy it is.
    public var domain: String
    /// `enforce` or `testing`: only an enforced policy keeps mail from a host that fails it.
    public var mode: String
    /// The policy as TLS-RPT quotes it (`policy-string`): the MTA-STS policy's lines, or the
    /// TLSA records.
    public var policy: [String]
    /// The MTA-STS policy's id.
    public var id: String?
    /// Sessions that met the policy (or, with no policy, that were made).
    public var successes: Int
    public var failures: [Failure]

    public init(kind: Kind, domain: String, mode: String, policy: [String] = [], id: String? = nil, successes: Int = 0,
                failures: [Failure] = []) {
        self.kind = kind
        self.domain = domain
        self.mode = mode
        self.policy = policy
        self.id = id
        self.successes = successes
        self.failures = failures
    }
}

/// A recipient domain's MTA-STS policy fetched over HTTPS (RFC 8461 §3.3), written by the
/// delivery scheduler when the domain publishes a policy id it does not hold. A server
/// started again takes the last one from the log, so a policy in force outlives a restart
/// and a DNS record removed by an attacker (§5.1). Stream `mtasts-<domain>`.
public struct MTASTSPolicyFetched: Event {
    public static let eventType = "mta_sts_policy_fetched"
    public static let category = "mtasts"

    public var domain: String
    public var id: String
    /// The policy's `key: value` lines as served.
    public var policy: [String]
    public var mode: String
    public var mx: [String]
    public var maxAge: Int
    public var fetchedAt: Date

    public init(domain: String, id: String, policy: [String], mode: String, mx: [String], maxAge: Int, fetchedAt: Date) {
        self.domain = domain
        self.id = id
        self.policy = policy
        self.mode = mode
        self.mx = mx
        self.maxAge = maxAge
        self.fetchedAt = fetchedAt
    }

    public static func stream(domain: String) throws -> StreamName {
        try StreamName(category: category, id: domain.lowercased())
    }
}
