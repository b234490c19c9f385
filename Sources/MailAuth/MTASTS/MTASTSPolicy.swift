import Foundation

/// The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): a policy exists, and its id.
public struct MTASTSRecord: Sendable, Equatable {
    public var id: String

    public init(id: String) {
        self.id = id
    }

    /// `v=STSv1; id=…;` with `v` first; other tags are ignored. Nil when it is not one.
    public init?(parsing text: String) {
        let fields = text.split(separator: ";", omittingEmptySubsequences: true)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let first = fields.first, first == "v=STSv1" else { return nil }
        var id: String?
        for field in fields.dropFirst() {
            guard let equals = field.firstIndex(of: "=") else { return nil }
            let name = field[..<equals], value = String(field[field.index(after: equals)...])
            if name == "id" {
                guard id == nil, (1...32).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                    return nil
                }
                id = value
            }
        }
        guard let id else { return nil }
        self.id = id
    }
}

/// An MTA-STS policy (RFC 8461 §3.2), as served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
public struct MTASTSPolicy: Sendable, Equatable {
    public enum Mode: String, Sendable {
        case enforce, testing, none
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case tooLarge
        case missing(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .tooLarge: "the policy is larger than 64 KiB"
            case .missing(let key): "the policy has no \(key)"
            case .invalid(let detail): detail
            }
        }
    }

    public var mode: Mode
    /// MX patterns: a host name, or `*.` and a name for one more label.
    public var mx: [String]
    /// Seconds the policy may be cached (at most a year, §3.2).
    public var maxAge: Int

    /// §3.3: policies are small; more than this is refused.
    public static let maximumSize = 64 * 1024
    public static let maximumAge = 31_557_600

    public init(mode: Mode, mx: [String], maxAge: Int) {
        self.mode = mode
        self.mx = mx
        self.maxAge = maxAge
    }

    /// Parses `key: value` lines (CRLF or LF). `version` must be `STSv1`; `mx` may repeat and is
    /// required unless the mode is `none`; unknown keys are ignored.
    public init(parsing bytes: [UInt8]) throws(Failure) {
        guard bytes.count <= Self.maximumSize else { throw .tooLarge }
        var version: String?, mode: Mode?, maxAge: Int?
        var mx: [String] = []
        for rawLine in String(decoding: bytes, as: UTF8.self).split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            guard let colon = line.firstIndex(of: ":") else {
                if line.allSatisfy(\.isWhitespace) { continue }
                throw .invalid("a line without a colon")
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "version": version = value
            case "mode":
                guard let parsed = Mode(rawValue: value) else { throw .invalid("mode \(value) is not enforce, testing or none") }
                mode = parsed
            case "max_age":
                guard value.count <= 10, let seconds = Int(value), (0...Self.maximumAge).contains(seconds) else {
                    throw .invalid("max_age \(value) is not 0 to \(Self.maximumAge)")
                }
                maxAge = seconds
            case "mx":
                guard mx.count < 100, Self.isPattern(value) else { throw .invalid("mx \(value) is not a host name pattern") }
                mx.append(value.lowercased())
            default:
                continue
            }
        }
        guard version == "STSv1" else { throw version == nil ? .missing("version") : .invalid("version is not STSv1") }
        guard let mode else { throw .missing("mode") }
        guard let maxAge else { throw .missing("max_age") }
        guard !mx.isEmpty || mode == .none else { throw .missing("mx") }
        self.init(mode: mode, mx: mx, maxAge: maxAge)
    }

    static func isPattern(_ value: String) -> Bool {
        let name = value.hasPrefix("*.") ? String(value.dropFirst(2)) : value
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && name.utf8.count <= 253 && labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    /// Whether an MX host is one the policy names (§4.1): the same name, or a wildcard
    /// pattern's name with exactly one label more in front.
    public func allows(mx host: String) -> Bool {
        var host = host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        return mx.contains { pattern in
            guard pattern.hasPrefix("*.") else { return pattern == host }
            let base = pattern.dropFirst(1) // ".example.net"
            guard host.hasSuffix(base) else { return false }
            let label = host.dropLast(base.count)
            return !label.isEmpty && !label.contains(".")
        }
    }
}
