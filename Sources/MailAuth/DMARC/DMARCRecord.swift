import Foundation

/// A DMARC policy record (RFC 7489 §6.3), as published in TXT at `_dmarc.<domain>`.
public struct DMARCRecord: Sendable, Equatable {
    public enum Policy: String, Sendable, Codable, Comparable {
        case none, quarantine, reject

        var rank: Int { self == .none ? 0 : self == .quarantine ? 1 : 2 }
        public static func < (lhs: Policy, rhs: Policy) -> Bool { lhs.rank < rhs.rank }

        /// The next policy down (§6.6.4, for messages `pct` leaves out).
        public var lower: Policy { self == .reject ? .quarantine : .none }
    }

    public enum Alignment: String, Sendable, Codable {
        case relaxed = "r", strict = "s"
    }

    /// A report address with its optional size limit (`mailto:a@b.example!10m`).
    public struct ReportURI: Sendable, Equatable {
        public var uri: String
        /// Bytes; nil for no limit.
        public var maximumSize: Int?

        public init(uri: String, maximumSize: Int? = nil) {
            self.uri = uri
            self.maximumSize = maximumSize
        }

        /// One item of `rua`/`ruf`: a URI, then `!` and a size with an optional unit (§6.2:
        /// k, m, g, t). Nil for an empty item.
        public init?(parsing item: String) {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { return nil }
            guard let bang = trimmed.lastIndex(of: "!") else {
                self.init(uri: trimmed)
                return
            }
            let size = trimmed[trimmed.index(after: bang)...].lowercased()
            let units: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
            var digits = Substring(size)
            var unit = 1
            if let last = size.last, let multiplier = units[last] {
                unit = multiplier
                digits = digits.dropLast()
            }
            let limit = Int(digits).map { $0.multipliedReportingOverflow(by: unit) }
            self.init(uri: String(trimmed[..<bang]), maximumSize: limit.flatMap { $0.overflow ? nil : $0.partialValue })
        }

        /// The address of a `mailto:` URI, nil for other schemes.
        public var mailbox: String? {
            guard uri.lowercased().hasPrefix("mailto:") else { return nil }
            let address = uri.dropFirst("mailto:".count).split(separator: "?").first.map(String.init) ?? ""
            let decoded = address.removingPercentEncoding ?? address
            return decoded.contains("@") ? decoded : nil
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notDMARC
        case syntax(String)

        public var description: String {
            switch self {
            case .notDMARC: "the record does not start with v=DMARC1"
            case .syntax(let detail): detail
            }
        }
    }

    public var policy: Policy
    public var subdomainPolicy: Policy?
    public var dkimAlignment: Alignment = .relaxed
    public var spfAlignment: Alignment = .relaxed
    public var percentage = 100
    public var aggregateReports: [ReportURI] = []
    public var failureReports: [ReportURI] = []
    /// Seconds between aggregate reports the domain asks for (`ri`).
    public var reportInterval = 86_400
    public var failureOptions = "0"

    public init(policy: Policy) {
        self.policy = policy
    }

    /// Whether a TXT record is meant as a DMARC record at all (§6.6.3: others are ignored).
    public static func isDMARC(_ text: String) -> Bool {
        let start = text.drop { $0 == " " || $0 == "\t" }
        guard start.lowercased().hasPrefix("v") else { return false }
        let afterV = start.dropFirst().drop { $0 == " " || $0 == "\t" }
        guard afterV.first == "=" else { return false }
        let value = afterV.dropFirst().drop { $0 == " " || $0 == "\t" }
        guard value.hasPrefix("DMARC1") else { return false }
        let rest = value.dropFirst("DMARC1".count).drop { $0 == " " || $0 == "\t" }
        return rest.isEmpty || rest.first == ";"
    }

    /// Parses a record. `v=DMARC1` must come first; unknown tags are ignored (§6.3). A record
    /// without a valid `p` but with `rua` is read as `p=none` (§6.6.3).
    public init(parsing text: String) throws(Failure) {
        guard Self.isDMARC(text) else { throw .notDMARC }
        guard text.utf8.count <= DKIMTagList.maximumLength else { throw .syntax("the record is too long") }
        let tags: DKIMTagList
        do { tags = try DKIMTagList(parsing: Array(text.utf8)) } catch { throw .syntax(error.description) }
        func policy(_ tag: String) -> Policy? { tags[tag].flatMap { Policy(rawValue: $0.lowercased()) } }
        func reports(_ tag: String) -> [ReportURI] {
            guard let value = tags[tag] else { return [] }
            return value.split(separator: ",").prefix(10).compactMap { ReportURI(parsing: String($0)) }
        }
        let aggregate = reports("rua")
        guard let published = policy("p") ?? (aggregate.isEmpty ? nil : Policy.none) else {
            throw .syntax(tags["p"] == nil ? "p= is missing" : "p= is not none, quarantine or reject")
        }
        self.policy = published
        subdomainPolicy = policy("sp")
        if let value = tags["adkim"]?.lowercased() { dkimAlignment = Alignment(rawValue: value) ?? .relaxed }
        if let value = tags["aspf"]?.lowercased() { spfAlignment = Alignment(rawValue: value) ?? .relaxed }
        if let value = tags["pct"] {
            guard let number = Int(value), (0...100).contains(number) else { throw .syntax("pct= is not 0 to 100") }
            percentage = number
        }
        aggregateReports = aggregate
        failureReports = reports("ruf")
        if let value = tags["ri"], let seconds = Int(value), seconds > 0 { reportInterval = seconds }
        if let value = tags["fo"] { failureOptions = value }
    }
}
