/// The record data (RDATA) of the answers a resolver hands back, decoded from wire form
/// (RFC 1035 §3.3). The bytes come from the network through the resolver: every length is
/// checked, and data that does not decode is reported, never trusted.
public enum DNSRecordData {
    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { "malformed DNS record data: \(reason)" }
    }

    /// A mail exchanger (RFC 1035 §3.3.9): its preference and host name, lower-case without
    /// the trailing dot. The null MX (RFC 7505) has the host name ".", given here as "".
    public struct MX: Hashable, Sendable {
        public let preference: UInt16
        public let host: String

        public init(preference: UInt16, host: String) {
            self.preference = preference
            self.host = host
        }
    }

    /// RFC 1035 §3.3.9: a 16-bit preference, then the exchange as a domain name.
    public static func mx(_ bytes: some Collection<UInt8>) throws(Malformed) -> MX {
        let bytes = Array(bytes)
        guard bytes.count >= 3 else { throw Malformed(reason: "MX shorter than 3 bytes") }
        let preference = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let (host, end) = try name(bytes, from: 2)
        guard end == bytes.count else { throw Malformed(reason: "bytes after the MX exchange") }
        return MX(preference: preference, host: host)
    }

    /// A TLSA record (RFC 6698 §2.1): how a server's certificate is to be matched.
    public struct TLSA: Hashable, Sendable, CustomStringConvertible {
        /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
        public let usage: UInt8
        /// 0 the whole certificate, 1 its SubjectPublicKeyInfo.
        public let selector: UInt8
        /// 0 the data itself, 1 its SHA-256, 2 its SHA-512.
        public let matchingType: UInt8
        public let data: [UInt8]

        public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
            self.usage = usage
            self.selector = selector
            self.matchingType = matchingType
            self.data = data
        }

        /// The presentation form: `3 1 1 0a1b…`.
        public var description: String {
            "\(usage) \(selector) \(matchingType) " + data.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        }
    }

    /// RFC 6698 §2.1: three one-byte fields, then the association data (not empty).
    public static func tlsa(_ bytes: some Collection<UInt8>) throws(Malformed) -> TLSA {
        let bytes = Array(bytes)
        guard bytes.count >= 4 else { throw Malformed(reason: "TLSA shorter than 4 bytes") }
        return TLSA(usage: bytes[0], selector: bytes[1], matchingType: bytes[2], data: Array(bytes[3...]))
    }

    /// RFC 1035 §3.4.1: four bytes.
    public static func ipv4(_ bytes: some Collection<UInt8>) throws(Malformed) -> [UInt8] {
        guard bytes.count == 4 else { throw Malformed(reason: "A record of \(bytes.count) bytes") }
        return Array(bytes)
    }

    /// RFC 3596 §2.2: sixteen bytes.
    public static func ipv6(_ bytes: some Collection<UInt8>) throws(Malformed) -> [UInt8] {
        guard bytes.count == 16 else { throw Malformed(reason: "AAAA record of \(bytes.count) bytes") }
        return Array(bytes)
    }

    /// RFC 1035 §3.3.12: a PTR record's domain name.
    public static func ptr(_ bytes: some Collection<UInt8>) throws(Malformed) -> String {
        let bytes = Array(bytes)
        let (name, end) = try name(bytes, from: 0)
        guard end == bytes.count else { throw Malformed(reason: "bytes after the PTR name") }
        return name
    }

    /// RFC 1035 §3.3.14: one or more character strings, each a length byte and that many
    /// bytes. Returned as they are; SPF and DMARC join them (RFC 7208 §3.3).
    public static func txt(_ bytes: some Collection<UInt8>) throws(Malformed) -> [[UInt8]] {
        let bytes = Array(bytes)
        var strings: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            let length = Int(bytes[index])
            index += 1
            guard index + length <= bytes.count else { throw Malformed(reason: "TXT string runs past the record") }
            strings.append(Array(bytes[index..<index + length]))
            index += length
        }
        guard !strings.isEmpty else { throw Malformed(reason: "empty TXT record") }
        return strings
    }

    /// An uncompressed domain name starting at `start` (record data handed back by a resolver
    /// carries names in full, RFC 3597 §4): the name lower-case, dot-separated, without the
    /// root's trailing dot, and the index after it. Labels must be printable and not contain
    /// dots; the whole name is at most 255 bytes (RFC 1035 §2.3.4).
    public static func name(_ bytes: [UInt8], from start: Int) throws(Malformed) -> (String, Int) {
        var labels: [String] = []
        var index = start
        var total = 0
        while true {
            guard index < bytes.count else { throw Malformed(reason: "domain name runs past the record") }
            let length = Int(bytes[index])
            index += 1
            if length == 0 { break }
            guard length <= 63 else { throw Malformed(reason: "compressed or oversized label") }
            guard index + length <= bytes.count else { throw Malformed(reason: "label runs past the record") }
            total += length + 1
            guard total <= 255 else { throw Malformed(reason: "domain name longer than 255 bytes") }
            let label = bytes[index..<index + length]
            guard label.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ".") }) else {
                throw Malformed(reason: "label with unprintable bytes or a dot")
            }
            labels.append(String(decoding: label, as: UTF8.self).lowercased())
            index += length
        }
        return (labels.joined(separator: "."), index)
    }
}
