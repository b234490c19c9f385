import Foundation

/// An IP address or CIDR network (`192.0.2.1`, `192.168.0.0/24`, `2001:db8::/32`), or the
/// special `local` (VPOP3's "Local Networks": loopback, RFC 1918, link-local, RFC 4193 ULA).
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case network(address: [UInt8], prefix: Int)
        case localNetworks
    }

    public let kind: Kind

    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "local" || text == "local-networks" {
            kind = .localNetworks
            return
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = IPNetwork.parseAddress(String(parts[0])) else { return nil }
        let maximum = address.count * 8
        var prefix = maximum
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isASCII), let value = Int(parts[1]),
                  (0...maximum).contains(value) else { return nil }
            prefix = value
        }
        kind = .network(address: IPNetwork.masked(address, prefix), prefix: prefix)
    }

    public var description: String {
        switch kind {
        case .localNetworks: "local"
        case .network(let address, let prefix):
            prefix == address.count * 8 ? IPNetwork.format(address) : "\(IPNetwork.format(address))/\(prefix)"
        }
    }

    /// Whether `address` (text, as a peer's address prints) lies in this network.
    public func contains(_ address: String) -> Bool {
        guard let bytes = IPNetwork.parseAddress(address) else { return false }
        return contains(bytes: bytes)
    }

    public func contains(bytes: [UInt8]) -> Bool {
        let bytes = IPNetwork.unmapped(bytes)
        switch kind {
        case .localNetworks:
            return IPNetwork.localNetworks.contains { $0.contains(bytes: bytes) }
        case .network(let network, let prefix):
            guard network.count == bytes.count else { return false }
            return IPNetwork.masked(bytes, prefix) == network
        }
    }

    static let localNetworks: [IPNetwork] = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                             "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"].compactMap(IPNetwork.init)

    static func masked(_ address: [UInt8], _ prefix: Int) -> [UInt8] {
        address.enumerated().map { index, byte in
            let bits = max(0, min(8, prefix - index * 8))
            return bits == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
    }

    /// `::ffff:a.b.c.d` compares as the IPv4 address.
    static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.count == 16 && bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return Array(bytes[12...])
        }
        return bytes
    }

    /// 4 bytes for IPv4, 16 for IPv6; nil for anything else. A zone (`%eth0`) is dropped.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if !text.contains(":") { return parseIPv4(text) }
        var head: [UInt8] = [], tail: [UInt8] = []
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, into output: inout [UInt8], allowIPv4: Bool) -> Bool {
            guard !part.isEmpty else { return true }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowIPv4 && index == pieces.count - 1 && piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return false }
                    output += v4
                } else {
                    guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return false }
                    output += [UInt8(value >> 8), UInt8(value & 0xff)]
                }
            }
            return true
        }
        guard groups(halves[0], into: &head, allowIPv4: halves.count == 1) else { return nil }
        if halves.count == 2 {
            guard groups(halves[1], into: &tail, allowIPv4: true), head.count + tail.count <= 14 else { return nil }
            return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
        }
        return head.count == 16 ? head : nil
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part),
                  part.count == 1 || part.first != "0" else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    public static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [UInt16] = []
        for index in stride(from: 0, to: bytes.count, by: 2) { groups.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])) }
        // RFC 5952: the longest run of two or more zero groups becomes "::".
        var bestStart = -1, bestLength = 1, runStart = -1
        for index in 0...groups.count {
            if index < groups.count && groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestLength { bestStart = runStart; bestLength = index - runStart }
                runStart = -1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        return hex[..<bestStart].joined(separator: ":") + "::" + hex[(bestStart + bestLength)...].joined(separator: ":")
    }
}

/// An ordered allow/deny list: entries are networks, `!` before one denies it; the first
/// entry that matches decides, and an address no entry matches is not allowed.
public struct IPAccessList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let allow: Bool
        public let network: IPNetwork
    }

    public let entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Nil with the first entry that does not parse.
    public static func parse(_ lines: [String]) -> Result<IPAccessList, ParseError> {
        var entries: [Entry] = []
        for line in lines {
            let text = line.trimmingCharacters(in: .whitespaces)
            let deny = text.hasPrefix("!")
            guard let network = IPNetwork(deny ? String(text.dropFirst()) : text) else { return .failure(ParseError(entry: line)) }
            entries.append(Entry(allow: !deny, network: network))
        }
        return .success(IPAccessList(entries: entries))
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let entry: String
        public var description: String { "\"\(entry)\" is not an IP address, CIDR network or \"local\" (prefix ! to deny)" }
    }

    public func allows(_ address: String) -> Bool {
        guard let bytes = IPNetwork.parseAddress(address) else { return false }
        for entry in entries where entry.network.contains(bytes: bytes) { return entry.allow }
        return false
    }
}
