import MailCore

/// A resolver that answers from tables: for tests, and for `dns.overrides`. A name missing
/// from every table does not exist; a name in `failing` cannot be resolved.
public struct StaticResolver: Resolver {
    public var mxRecords: [String: [DNSRecordData.MX]] = [:]
    public var addressRecords: [String: [IPAddress]] = [:]
    public var txtRecords: [String: [[[UInt8]]]] = [:]
    public var ptrRecords: [String: [String]] = [:]
    public var tlsaRecords: [String: [DNSRecordData.TLSA]] = [:]
    public var failing: Set<String> = []

    public init() {}

    private func exists(_ name: String) -> Bool {
        mxRecords[name] != nil || addressRecords[name] != nil || txtRecords[name] != nil || ptrRecords[name] != nil
            || tlsaRecords[name] != nil
    }

    private func answer<Records>(_ name: String, _ table: [String: [Records]]) throws(DNSFailure) -> DNSAnswer<[Records]> {
        let name = name.lowercased()
        if failing.contains(name) { throw DNSFailure(name: name, reason: "SERVFAIL (static)") }
        if let records = table[name], !records.isEmpty { return .records(records, secure: false) }
        return exists(name) ? .noRecords : .nonexistentDomain
    }

    public func mx(_ domain: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.MX]> {
        try answer(domain, mxRecords)
    }

    public func tlsa(_ name: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.TLSA]> {
        try answer(name, tlsaRecords)
    }

    public func addresses(_ host: String) async throws(DNSFailure) -> DNSAnswer<[IPAddress]> {
        try answer(host, addressRecords)
    }

    public func txt(_ name: String) async throws(DNSFailure) -> DNSAnswer<[[[UInt8]]]> {
        try answer(name, txtRecords)
    }

    public func ptr(_ name: String) async throws(DNSFailure) -> DNSAnswer<[String]> {
        try answer(name, ptrRecords)
    }

    public func addresses(_ host: String, ipv6: Bool) async throws(DNSFailure) -> DNSAnswer<[IPAddress]> {
        switch try answer(host, addressRecords) {
        case .records(let all, let secure):
            let family = all.filter { $0.isIPv6 == ipv6 }
            return family.isEmpty ? .noRecords : .records(family, secure: secure)
        case .noRecords: return .noRecords
        case .nonexistentDomain: return .nonexistentDomain
        }
    }
}
