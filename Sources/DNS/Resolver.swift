import MailCore

/// What a lookup found. A name with no records of the type asked for (NODATA) and a name that
/// does not exist (NXDOMAIN) are answers, not errors: mail delivery treats them differently
/// (RFC 5321 §5.1). A lookup that could not be answered (a timeout, SERVFAIL, a DNSSEC
/// failure) throws `DNSFailure` and is worth trying again later.
public enum DNSAnswer<Records: Sendable>: Sendable {
    case records(Records, secure: Bool)
    case noRecords
    case nonexistentDomain

    /// The records found, or none.
    public var records: Records? {
        if case .records(let records, _) = self { return records }
        return nil
    }
}

/// A lookup that got no usable answer; a later attempt may succeed.
public struct DNSFailure: Error, Equatable, CustomStringConvertible {
    public let name: String
    public let reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    public var description: String { "DNS lookup of \(name) failed: \(reason)" }
}

/// An IP address as a resolver returns it: 4 or 16 bytes.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// An address literal (`192.0.2.1`, `2001:db8::1`), or nil.
    public init?(_ text: String) {
        guard let network = IPNetwork(text), case .network(let address, let prefix) = network.kind,
              prefix == address.count * 8 else { return nil }
        self.bytes = address
    }

    public var isIPv6: Bool { bytes.count == 16 }

    public var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // RFC 5952 §4.2: the longest run of two or more zero groups (the first of equals) becomes "::".
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (index, group) in groups.enumerated() {
            if group == 0 {
                run = run.start < 0 ? (index, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let text = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return text.joined(separator: ":") }
        return text[..<best.start].joined(separator: ":") + "::" + text[(best.start + best.length)...].joined(separator: ":")
    }
}

/// The lookups Pillarbox makes. The real one is `UnboundResolver`; `StaticResolver` answers
/// from tables for tests.
public protocol Resolver: Sendable {
    /// The MX records of `domain`.
    func mx(_ domain: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.MX]>
    /// The IPv4 (A) and IPv6 (AAAA) addresses of `host`, IPv4 first.
    func addresses(_ host: String) async throws(DNSFailure) -> DNSAnswer<[IPAddress]>
    /// The TXT records of `name`, each as its character strings.
    func txt(_ name: String) async throws(DNSFailure) -> DNSAnswer<[[[UInt8]]]>
    /// The PTR records of `name` (an `in-addr.arpa` or `ip6.arpa` name): host names.
    func ptr(_ name: String) async throws(DNSFailure) -> DNSAnswer<[String]>
    /// The addresses of one family: A (IPv4) or AAAA (IPv6) records only, as SPF asks.
    func addresses(_ host: String, ipv6: Bool) async throws(DNSFailure) -> DNSAnswer<[IPAddress]>
    /// The TLSA records of `name` (`_25._tcp.<host>`, RFC 6698 §3).
    func tlsa(_ name: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.TLSA]>
}
