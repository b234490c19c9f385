import Foundation

/// The results of the authentication checks made on a message from outside, as
/// `message_accepted` and `message_rejected` carry them: LogDB, filters and the DMARC
/// aggregate reports read them from the log, never by parsing the stored header again.
public struct DKIMCheck: Codable, Sendable, Equatable {
    /// `pass`, `fail`, `neutral`, `temperror`, `permerror` (RFC 8601 §2.7.1).
    public var result: String
    /// `d=` and `s=`, when the signature could be read that far.
    public var domain: String?
    public var selector: String?
    public var algorithm: String?
    /// Why it did not pass.
    public var detail: String?

    public init(result: String, domain: String?, selector: String?, algorithm: String? = nil, detail: String? = nil) {
        self.result = result
        self.domain = domain
        self.selector = selector
        self.algorithm = algorithm
        self.detail = detail
    }
}

/// A DMARC evaluation (RFC 7489 §6.6) with the policy record it applied, as the aggregate
/// report's `policy_published` and `policy_evaluated` need it.
public struct DMARCCheck: Codable, Sendable, Equatable {
    /// The policy record as published (`p`, `sp`, alignment modes, `pct`, report addresses).
    public struct Published: Codable, Sendable, Equatable {
        public var domain: String
        public var p: String
        public var sp: String?
        public var adkim: String
        public var aspf: String
        public var pct: Int
        /// `rua` URIs, with any `!size` suffix as published.
        public var rua: [String]

        public init(domain: String, p: String, sp: String?, adkim: String, aspf: String, pct: Int, rua: [String]) {
            self.domain = domain
            self.p = p
            self.sp = sp
            self.adkim = adkim
            self.aspf = aspf
            self.pct = pct
            self.rua = rua
        }
    }

    /// `none`, `pass`, `fail`, `temperror`, `permerror`.
    public var result: String
    /// The RFC 5322.From domain.
    public var fromDomain: String
    public var published: Published?
    /// `none`, `quarantine` or `reject`: what the policy asked for this message.
    public var disposition: String
    /// What the server did: `none`, `quarantine` (to Junk) or `reject`; differs from
    /// `disposition` when `smtp.dmarc_policy` is `tag`.
    public var applied: String
    public var spfAligned: Bool
    public var dkimAligned: Bool
    /// `pct` left this message out of the policy.
    public var sampledOut: Bool
    public var detail: String?

    public init(result: String, fromDomain: String, published: Published?, disposition: String, applied: String,
                spfAligned: Bool, dkimAligned: Bool, sampledOut: Bool, detail: String?) {
        self.result = result
        self.fromDomain = fromDomain
        self.published = published
        self.disposition = disposition
        self.applied = applied
        self.spfAligned = spfAligned
        self.dkimAligned = dkimAligned
        self.sampledOut = sampledOut
        self.detail = detail
    }
}
