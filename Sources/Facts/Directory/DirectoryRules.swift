/// The names the directory accepts: users, groups, domains and alias addresses.
public enum DirectoryRules {
    /// The groups every directory has; no custom group may take their names.
    public static let builtinGroups = ["Everyone", "Admins", "No-one"]

    /// VPOP3's rule: 1–32 characters of `[A-Za-z0-9._-]`, compared without case.
    public static func isUserName(_ name: String) -> Bool {
        (1...32).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// A domain name whose labels may hold the wildcards `*` and `?`.
    public static func isDomainPattern(_ pattern: String) -> Bool {
        let labels = pattern.split(separator: ".", omittingEmptySubsequences: false)
        return !pattern.isEmpty && pattern.utf8.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?")
            }
        }
    }

    /// Whether `domain` is local: equal to a listed domain or matched by a wildcard pattern.
    public static func matches(pattern: String, domain: String) -> Bool {
        let pattern = Array(pattern.lowercased()), text = Array(domain.lowercased())
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1; t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p; mark = t; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }

    /// An alias address: a local part of printable characters, optionally `@` and a domain pattern.
    public static func isAliasAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].utf8.count <= 64,
              parts[0].utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "<") })
        else { return false }
        return parts.count == 1 || isDomainPattern(String(parts[1]))
    }
}

/// Why a directory command was refused.
public enum DirectoryError: Error, Equatable, CustomStringConvertible {
    case invalid(String, String)
    case exists(String, String)
    case notFound(String, String)
    case inUse(String)
    case weakPassword(String)
    case needsPassword(String)
    case noKeyDirectory

    public var description: String {
        switch self {
        case .invalid(let what, let value): "not a valid \(what): \(value)"
        case .exists(let what, let value): "\(what) \(value) already exists"
        case .notFound(let what, let value): "no \(what) named \(value)"
        case .inUse(let reason): reason
        case .weakPassword(let reason): reason
        case .needsPassword(let user): "set a new password for \(user) to enable CRAM-MD5 or APOP (their secrets are made from the password)"
        case .noKeyDirectory: "CRAM-MD5 and APOP secrets are sealed with the key in the key directory, which is not available here"
        }
    }
}
