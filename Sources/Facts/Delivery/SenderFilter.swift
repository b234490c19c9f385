/// A mail sender's domain filtering (VPOP3's Advanced tab): which queued recipients go out
/// through that sender rather than the default one.
///
/// One rule per line. `From: <wildcard>` is a sender rule, matched against the envelope sender
/// (the address a relay checks); any other line is a recipient rule. A pattern with `@` is
/// matched against the whole address, one without against its domain, so `*microsoft.com`,
/// `customer.*` and `*@sales.example` all read as an administrator expects. `*` and `?` are
/// wildcards; case does not matter. A leading `!` makes a rule an exclusion.
///
/// A recipient goes through the sender when both kinds agree: for each kind that has rules,
/// at least one of its plain rules matches (or it has only exclusions) and none of its
/// exclusions does; a kind without rules agrees with everything. A filter without any rule
/// takes nothing: such a sender is used only as the default.
public struct SenderFilter: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case sender
            case recipient
        }

        public var kind: Kind
        public var pattern: String
        public var excludes: Bool

        public init(_ kind: Kind, _ pattern: String, excludes: Bool = false) {
            self.kind = kind
            self.pattern = pattern.lowercased()
            self.excludes = excludes
        }

        func matches(_ address: String) -> Bool {
            let address = address.lowercased()
            if pattern.contains("@") { return DirectoryRules.matches(pattern: pattern, domain: address) }
            guard let at = address.lastIndex(of: "@") else { return false }
            return DirectoryRules.matches(pattern: pattern, domain: String(address[address.index(after: at)...]))
        }
    }

    /// A line that is not a rule, by its number (from 1).
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let problem: String

        public init(line: Int, problem: String) {
            self.line = line
            self.problem = problem
        }

        public var description: String { "domain filtering, line \(line): \(problem)" }
    }

    public let rules: [Rule]

    public init(rules: [Rule]) {
        self.rules = rules
    }

    /// Reads the rules as an administrator writes them; blank lines and `#` comments are
    /// skipped. The first line that is not a rule is refused, naming what is wrong with it.
    public init(parsing text: String) throws(ParseError) {
        var rules: [Rule] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let excludes = line.hasPrefix("!")
            if excludes { line = line.dropFirst().trimmingWhitespace() }
            var kind = Rule.Kind.recipient
            if line.count >= 5, line.prefix(5).lowercased() == "from:" {
                kind = .sender
                line = line.dropFirst(5).trimmingWhitespace()
            }
            if let problem = Self.problem(with: line, kind: kind) {
                throw ParseError(line: index + 1, problem: problem)
            }
            rules.append(Rule(kind, String(line), excludes: excludes))
        }
        self.init(rules: rules)
    }

    private static func problem(with pattern: Substring, kind: Rule.Kind) -> String? {
        let what = kind == .sender ? "the sender pattern after From:" : "the recipient pattern"
        if pattern.isEmpty { return "\(what) is empty" }
        if pattern.utf8.count > 320 { return "\(what) is longer than an address can be" }
        if pattern.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            return "\(what) holds a space or a control character (one rule per line)"
        }
        if pattern.filter({ $0 == "@" }).count > 1 { return "\(what) has more than one @" }
        if pattern.hasSuffix("@") { return "\(what) has no domain after its @" }
        return nil
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// Whether mail from the envelope sender `sender` (empty for `<>`) to `recipient` goes
    /// through this sender.
    public func takes(sender: String, recipient: String) -> Bool {
        guard !rules.isEmpty else { return false }
        return agrees(.sender, sender) && agrees(.recipient, recipient)
    }

    private func agrees(_ kind: Rule.Kind, _ address: String) -> Bool {
        let own = rules.filter { $0.kind == kind }
        let plain = own.filter { !$0.excludes }, exclusions = own.filter(\.excludes)
        if exclusions.contains(where: { $0.matches(address) }) { return false }
        return plain.isEmpty || plain.contains { $0.matches(address) }
    }

    /// The first of `senders`, in their order, whose filter takes the recipient; nil for the
    /// default sender.
    public static func choose<Name>(from senders: [(name: Name, filter: SenderFilter)], sender: String,
                                    recipient: String) -> Name? {
        senders.first { $0.filter.takes(sender: sender, recipient: recipient) }?.name
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return text
    }
}
