import DNS
import Facts
import Foundation
import MailAuth
import MailCore

/// What the recipient domain's transport security policy asks of the sessions of one
/// attempt: DANE (RFC 7672) for MX hosts with TLSA records validated by DNSSEC, else the
/// domain's MTA-STS policy (RFC 8461), else opportunistic TLS. Records what it finds, in
/// TLS-RPT's terms, in `check`.
struct TransportSecurity {
    /// Per MX host: its DANE policy, or why its TLSA records could not be had.
    enum DANEHost {
        case policy(DANEPolicy)
        case failed(String)
    }

    /// How the sessions with one host are made.
    enum Demand {
        /// STARTTLS when offered, unchecked.
        case opportunistic
        /// STARTTLS checked so; when `enforced`, no session without it.
        case verified(RemoteConnection.Verification, enforced: Bool)
        /// The host is not sent to.
        case refused(RemoteReply, detail: String)
    }

    var check: TransportPolicyCheck?
    var dane: [String: DANEHost] = [:]
    var sts: MTASTSPolicies.Held?
    var trustedCertificates: String?

    mutating func demand(for host: String) -> Demand {
        switch dane[host] {
        case .failed(let why):
            check?.failures.append(.init(result: "tlsa-invalid", mxHost: host, detail: why))
            return .refused(RemoteReply(code: 451, enhanced: "4.7.5", text: "the TLSA records of \(host) could not be had: \(why)",
                                        fromServer: false), detail: why)
        case .policy(let policy):
            return .verified(.dane(policy), enforced: true)
        case nil:
            break
        }
        // §2.3 of RFC 8461: where DANE applies to the domain, MTA-STS does not.
        guard dane.isEmpty, let sts else { return .opportunistic }
        let domain = check?.domain ?? ""
        guard sts.policy.allows(mx: host) else {
            let detail = "\(host) is not an MX host the MTA-STS policy of \(domain) names"
            check?.failures.append(.init(result: "validation-failure", mxHost: host, detail: detail))
            guard sts.policy.mode == .enforce else { return .opportunistic }
            return .refused(RemoteReply(code: 451, enhanced: "4.7.5", text: "no MX host of \(domain) meets its MTA-STS policy",
                                        fromServer: false), detail: detail)
        }
        return .verified(.full(extraTrust: trustedCertificates), enforced: sts.policy.mode == .enforce)
    }

    /// Records a session that failed the demand's TLS check; false when the failure had
    /// nothing to do with TLS (no connection, a refusal).
    mutating func recordFailure(_ failure: TransferFailure, host: String, address: IPAddress,
                                verification: RemoteConnection.Verification) -> Bool {
        guard var result = DeliveryScheduler.tlsReportResult(failure) else { return false }
        if case .dane = verification, result != "starttls-not-supported" { result = "validation-failure" }
        check?.failures.append(.init(result: result, mxHost: host, ip: address.description, detail: failure.description))
        return true
    }
}

extension DeliveryScheduler {
    /// The policies that apply to mail for `domain` over `hosts` (its MX hosts from DNS; routes
    /// an administrator set and address literals are taken as they are, without one).
    func transportSecurity(for domain: String, hosts: [String], policy: Policy) async -> TransportSecurity {
        var security = TransportSecurity(trustedCertificates: policy.trustedCertificates)
        guard policy.overrides[domain] == nil, let resolver = try? resolver(policy) else { return security }
        if policy.dane, policy.trustAnchors != nil {
            security.dane = await Self.daneHosts(of: domain, hosts: hosts, port: policy.port, resolver: resolver)
            if !security.dane.isEmpty {
                let records = security.dane.values.flatMap { host -> [String] in
                    if case .policy(let policy) = host { return policy.records.map(\.description) }
                    return []
                }
                security.check = TransportPolicyCheck(kind: .tlsa, domain: domain, mode: "enforce", policy: records.sorted())
                return security
            }
        }
        guard policy.mtaSTS else { return security }
        switch await mtaSTS.policy(for: domain, resolver: resolver, trust: policy.trustedCertificates, timeout: policy.connectTimeout) {
        case .policy(let held) where held.policy.mode != .none:
            security.sts = held
            security.check = TransportPolicyCheck(kind: .sts, domain: domain, mode: held.policy.mode.rawValue, policy: held.lines,
                                                  id: held.id)
        case .unavailable(let result, let detail):
            security.check = TransportPolicyCheck(kind: .sts, domain: domain, mode: "none", failures: [.init(result: result, detail: detail)])
        case .none, .policy:
            break
        }
        return security
    }

    /// RFC 7672 §2.2: MX hosts of a domain whose MX records are signed (or the domain itself,
    /// when it is its own mail host and its addresses are signed), whose addresses are signed
    /// too, and whose `_<port>._tcp` TLSA records validate with a usable one. A TLSA lookup
    /// that fails for such a host leaves it unusable (§2.2.3): it is in the table as failed.
    static func daneHosts(of domain: String, hosts: [String], port: Int,
                          resolver: any DNS.Resolver) async -> [String: TransportSecurity.DANEHost] {
        let signed: Bool
        switch try? await resolver.mx(domain) {
        case .records(_, let secure)?: signed = secure
        default:
            guard hosts == [domain], case .records(_, let secure)? = try? await resolver.addresses(domain) else { return [:] }
            signed = secure
        }
        guard signed else { return [:] }
        var table: [String: TransportSecurity.DANEHost] = [:]
        for host in hosts {
            guard case .records(_, true)? = try? await resolver.addresses(host) else { continue }
            do {
                if case .records(let records, true) = try await resolver.tlsa("_\(port)._tcp.\(host)"),
                   let policy = DANEPolicy(records: records, host: host) {
                    table[host] = .policy(policy)
                }
            } catch {
                table[host] = .failed(error.reason)
            }
        }
        return table
    }
}
