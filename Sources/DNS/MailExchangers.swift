import MailCore

/// Where mail for a domain goes (RFC 5321 §5.1), before any address is looked up.
public enum MailDestination: Equatable, Sendable {
    /// Hosts to try in this order; each may have several addresses, all of which are tried.
    case hosts([String])
    /// RFC 7505: the domain accepts no mail (a permanent failure, 5.1.10).
    case nullMX
    /// The domain does not exist (a permanent failure, 5.1.2).
    case nonexistentDomain
}

public enum MailExchangers {
    /// The hosts for `domain`: from `overrides` when it names the domain (VPOP3's "DNS
    /// Overrides"), else its MX records by preference with equal preferences shuffled, or the
    /// domain itself when it has no MX records (the implicit MX). Throws `DNSFailure` when the
    /// MX lookup got no answer: the delivery is deferred, not failed.
    public static func destination(of domain: String, resolver: some Resolver, overrides: [String: [String]] = [:],
                                   shuffle: ([String]) -> [String] = { $0.shuffled() }) async throws(DNSFailure)
        -> MailDestination {
        let domain = domain.lowercased().trimmingTrailingDot
        if let hosts = overrides[domain], !hosts.isEmpty { return .hosts(hosts) }
        switch try await resolver.mx(domain) {
        case .nonexistentDomain:
            return .nonexistentDomain
        case .noRecords:
            // RFC 5321 §5.1: no MX records — the domain itself is the one host, with preference 0.
            return .hosts([domain])
        case .records(let records, _):
            // RFC 7505 §3: a null MX is the only MX record a domain has; one among others is ignored.
            let real = records.filter { !$0.host.isEmpty }
            if real.isEmpty { return .nullMX }
            var hosts: [String] = []
            for preference in Set(real.map(\.preference)).sorted() {
                // RFC 5321 §5.1: equal preferences are tried in random order, spreading the load.
                let equal = real.filter { $0.preference == preference }.map(\.host)
                for host in shuffle(equal) where !hosts.contains(host) { hosts.append(host) }
            }
            return .hosts(hosts)
        }
    }
}

extension String {
    var trimmingTrailingDot: String { hasSuffix(".") ? String(dropLast()) : self }
}
