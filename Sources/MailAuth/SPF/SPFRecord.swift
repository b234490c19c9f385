import DNS
import MailCore

/// An SPF record (RFC 7208 §4.6, §12): its directives in order and its modifiers. Parsed
/// strictly: a term that does not parse makes the whole record a permerror.
public struct SPFRecord: Sendable, Equatable {
    public enum Qualifier: Character, Sendable {
        case pass = "+", fail = "-", softfail = "~", neutral = "?"
    }

    public enum Mechanism: Sendable, Equatable {
        case all
        case include(String)
        /// The domain-spec (nil for the current domain) and the IPv4 and IPv6 prefix lengths.
        case a(String?, v4: Int, v6: Int)
        case mx(String?, v4: Int, v6: Int)
        case ptr(String?)
        case ip4([UInt8], Int)
        case ip6([UInt8], Int)
        case exists(String)
    }

    public struct Directive: Sendable, Equatable {
        public var qualifier: Qualifier
        public var mechanism: Mechanism
    }

    public var directives: [Directive] = []
    public var redirect: String?
    public var explanation: String?

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether a TXT record is an SPF record: `v=spf1` alone or followed by a space (§4.5).
    public static func isSPF(_ text: [UInt8]) -> Bool {
        let prefix = Array("v=spf1".utf8)
        guard text.count >= prefix.count, zip(text, prefix).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) || $0 == $1 }) else { return false }
        return text.count == prefix.count || text[prefix.count] == 0x20
    }

    public init(parsing text: String) throws(Failure) {
        guard text.utf8.count <= 4096 else { throw Failure("record too long") }
        guard text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else { throw Failure("non-ASCII or control characters") }
        var terms = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let version = terms.first, version.lowercased() == "v=spf1" else { throw Failure("no v=spf1") }
        terms.removeFirst()
        for term in terms {
            // A modifier: name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
            if let equals = term.firstIndex(of: "="), Self.isModifierName(term[..<equals]) {
                let name = term[..<equals].lowercased(), value = String(term[term.index(after: equals)...])
                try SPFMacro.check(value, explanation: false)
                switch name {
                case "redirect":
                    guard redirect == nil else { throw Failure("two redirect modifiers") }
                    guard !value.isEmpty else { throw Failure("empty redirect") }
                    try Self.checkDomainSpec(value)
                    redirect = value
                case "exp":
                    guard explanation == nil else { throw Failure("two exp modifiers") }
                    guard !value.isEmpty else { throw Failure("empty exp") }
                    try Self.checkDomainSpec(value)
                    explanation = value
                default:
                    break // Unknown modifiers are ignored (§6).
                }
                continue
            }
            var body = Substring(term)
            var qualifier = Qualifier.pass
            if let first = body.first, let given = Qualifier(rawValue: first) {
                qualifier = given
                body = body.dropFirst()
            }
            directives.append(Directive(qualifier: qualifier, mechanism: try Self.mechanism(body)))
        }
    }

    static func isModifierName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    static func mechanism(_ text: Substring) throws(Failure) -> Mechanism {
        let name: Substring, argument: Substring?
        if let separator = text.firstIndex(where: { $0 == ":" || $0 == "/" }) {
            name = text[..<separator]
            argument = text[separator] == ":" ? text[text.index(after: separator)...] : text[separator...]
        } else {
            name = text
            argument = nil
        }
        switch name.lowercased() {
        case "all":
            guard argument == nil else { throw Failure("all takes no argument") }
            return .all
        case "include", "exists":
            guard let argument, !argument.isEmpty else { throw Failure("\(name) needs a domain") }
            let spec = String(argument)
            try SPFMacro.check(spec, explanation: false)
            try checkDomainSpec(spec)
            return name.lowercased() == "include" ? .include(spec) : .exists(spec)
        case "a", "mx":
            var spec: String?
            var rest = argument ?? ""
            if let argument, text[text.index(text.startIndex, offsetBy: name.count)] == ":" {
                // The domain-spec may hold "/" itself: the CIDR lengths are only a tail of
                // "/digits" and "//digits".
                let tail = cidrTail(argument)
                spec = String(argument[..<tail])
                rest = argument[tail...]
                guard let spec, !spec.isEmpty else { throw Failure("\(name): empty domain") }
                try SPFMacro.check(spec, explanation: false)
                try checkDomainSpec(spec)
            }
            let (v4, v6) = try cidr(rest)
            return name.lowercased() == "a" ? .a(spec, v4: v4, v6: v6) : .mx(spec, v4: v4, v6: v6)
        case "ptr":
            if let argument {
                guard text[text.index(text.startIndex, offsetBy: name.count)] == ":", !argument.isEmpty else { throw Failure("ptr: bad argument") }
                try SPFMacro.check(String(argument), explanation: false)
                try checkDomainSpec(String(argument))
                return .ptr(String(argument))
            }
            return .ptr(nil)
        case "ip4":
            guard let argument, text[text.index(text.startIndex, offsetBy: name.count)] == ":" else { throw Failure("ip4 needs an address") }
            let parts = argument.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = strictIPv4(parts[0]) else { throw Failure("ip4: \(parts[0]) is not an IPv4 address") }
            var length = 32
            if parts.count == 2 { length = try prefix(parts[1], maximum: 32) }
            return .ip4(address, length)
        case "ip6":
            guard let argument, text[text.index(text.startIndex, offsetBy: name.count)] == ":" else { throw Failure("ip6 needs an address") }
            let slash = argument.firstIndex(of: "/") ?? argument.endIndex
            guard let address = IPAddress(String(argument[..<slash])), address.isIPv6 else { throw Failure("ip6: not an IPv6 address") }
            var length = 128
            if slash < argument.endIndex { length = try prefix(argument[argument.index(after: slash)...], maximum: 128) }
            return .ip6(address.bytes, length)
        default:
            throw Failure("unknown mechanism \(name)")
        }
    }

    /// Where a trailing `/n`, `//n` or `/n//n` starts (the end when there is none).
    static func cidrTail(_ text: Substring) -> Substring.Index {
        var index = text.endIndex
        func digitsBefore(_ end: Substring.Index) -> Substring.Index {
            var start = end
            while start > text.startIndex, text[text.index(before: start)].isASCII, text[text.index(before: start)].isNumber {
                start = text.index(before: start)
            }
            return start
        }
        // "//n" first, then "/n" before it.
        var start = digitsBefore(index)
        if start < index, start > text.startIndex, text[text.index(before: start)] == "/" {
            let slash = text.index(before: start)
            if slash > text.startIndex, text[text.index(before: slash)] == "/" {
                index = text.index(before: slash)
                start = digitsBefore(index)
                if start < index, start > text.startIndex, text[text.index(before: start)] == "/" { index = text.index(before: start) }
            } else {
                index = slash
            }
        }
        return index
    }

    /// `/n` for IPv4, `//n` for IPv6, either or both (§5.6).
    static func cidr(_ text: Substring) throws(Failure) -> (Int, Int) {
        guard !text.isEmpty else { return (32, 128) }
        var v4 = 32, v6 = 128
        var rest = text
        if rest.hasPrefix("/"), !rest.hasPrefix("//") {
            rest = rest.dropFirst()
            let digits = rest.prefix { $0 != "/" }
            v4 = try prefix(digits, maximum: 32)
            rest = rest.dropFirst(digits.count)
        }
        if rest.hasPrefix("//") {
            v6 = try prefix(rest.dropFirst(2), maximum: 128)
            rest = ""
        }
        guard rest.isEmpty else { throw Failure("bad CIDR length \(text)") }
        return (v4, v6)
    }

    static func prefix(_ text: Substring, maximum: Int) throws(Failure) -> Int {
        // No leading zeros (§5.6: ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT)).
        guard !text.isEmpty, text.count <= 3, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber),
              text == "0" || !text.hasPrefix("0"), let value = Int(text), value <= maximum else {
            throw Failure("bad prefix length \(text)")
        }
        return value
    }

    static func strictIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// A domain-spec's last label (when it has no macro there) must be a top label: not all digits (§7.1).
    static func checkDomainSpec(_ spec: String) throws(Failure) {
        if spec.hasSuffix("%") { return }
        let trimmed = spec.hasSuffix(".") ? String(spec.dropLast()) : spec
        guard let last = trimmed.split(separator: ".", omittingEmptySubsequences: false).last else { throw Failure("empty domain") }
        if last.contains("%") || last.contains("}") { return }
        if trimmed.split(separator: ".", omittingEmptySubsequences: false).count < 2 { throw Failure("domain \(spec) has no top label") }
        guard !last.isEmpty, !last.allSatisfy(\.isNumber), !last.hasPrefix("-"), !last.hasSuffix("-"),
              last.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw Failure("domain \(spec) does not end in a top label")
        }
    }
}
