import Foundation

/// The Public Suffix List (publicsuffix.org), which DMARC uses to find a domain's
/// organizational domain (RFC 7489 §3.2). Read from the list's text form, as Debian's
/// `publicsuffix` package installs it; both its ICANN and private sections count.
public struct PublicSuffixList: Sendable {
    /// Where Debian's `publicsuffix` package puts the list.
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    private var rules: Set<String> = []
    private var wildcards: Set<String> = []
    private var exceptions: Set<String> = []

    public var count: Int { rules.count + wildcards.count + exceptions.count }

    /// Parses the list's text: one rule per line, `//` comments, `*.` wildcards, `!`
    /// exceptions. Unicode rules are kept in their A-label form, as domains in mail are.
    public init(text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            // A rule ends at the first whitespace.
            guard let rule = line.split(whereSeparator: \.isWhitespace).first, !rule.hasPrefix("//") else { continue }
            var name = String(rule)
            if name.hasPrefix("!") {
                name.removeFirst()
                if let key = Self.normalise(name) { exceptions.insert(key) }
            } else if name.hasPrefix("*.") {
                name.removeFirst(2)
                if let key = Self.normalise(name) { wildcards.insert(key) }
            } else if let key = Self.normalise(name) {
                rules.insert(key)
            }
        }
    }

    public init(contentsOfFile path: String) throws {
        self.init(text: try String(contentsOfFile: path, encoding: .utf8))
    }

    /// Lower case, each label in its A-label (Punycode) form; nil for a label that cannot be.
    static func normalise(_ name: String) -> String? {
        var labels: [String] = []
        for label in name.lowercased().split(separator: ".", omittingEmptySubsequences: false) {
            if label.allSatisfy(\.isASCII) {
                labels.append(String(label))
            } else {
                guard let encoded = Punycode.encode(String(label)) else { return nil }
                labels.append("xn--" + encoded)
            }
        }
        return labels.joined(separator: ".")
    }

    /// The public suffix of `domain` by the list's algorithm: an exception rule wins, then the
    /// matching rule with the most labels; a name no rule covers has its last label as suffix.
    public func publicSuffix(of domain: String) -> String? {
        guard let name = Self.normalise(Self.trimmed(domain)), !name.isEmpty else { return nil }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !labels.contains(where: \.isEmpty) else { return nil }
        var best = 1
        for start in 0..<labels.count {
            let suffix = labels[start...].joined(separator: ".")
            let length = labels.count - start
            if exceptions.contains(suffix) {
                // An exception names a registrable domain: its suffix is one label shorter.
                return labels[(start + 1)...].joined(separator: ".")
            }
            if rules.contains(suffix) { best = max(best, length) }
            // `*.ck` covers `anything.ck`: the label to the left of the wildcard's base.
            if start + 1 < labels.count, wildcards.contains(labels[(start + 1)...].joined(separator: ".")) {
                best = max(best, length)
            }
        }
        return labels[(labels.count - best)...].joined(separator: ".")
    }

    /// The organizational domain (RFC 7489 §3.2): the public suffix and one label more. A name
    /// that is itself a public suffix is its own organizational domain.
    public func organizationalDomain(of domain: String) -> String? {
        guard let name = Self.normalise(Self.trimmed(domain)), let suffix = publicSuffix(of: name) else { return nil }
        let labels = name.split(separator: ".")
        let suffixCount = suffix.split(separator: ".").count
        guard labels.count > suffixCount else { return name }
        return labels[(labels.count - suffixCount - 1)...].joined(separator: ".")
    }

    static func trimmed(_ domain: String) -> String {
        domain.hasSuffix(".") ? String(domain.dropLast()) : domain
    }
}

/// RFC 3492 Punycode, encoding only: how the list's Unicode rules become the A-labels that
/// domains in mail are written with.
enum Punycode {
    static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128

    static func encode(_ label: String) -> String? {
        let input = label.unicodeScalars.map { Int($0.value) }
        var output = input.filter { $0 < 0x80 }.map { Character(Unicode.Scalar(UInt8($0))) }
        let basicCount = output.count
        var handled = basicCount
        if basicCount > 0 { output.append("-") }
        var n = initialN, delta = 0, bias = initialBias
        while handled < input.count {
            guard let next = input.filter({ $0 >= n }).min() else { return nil }
            let (product, overflow) = (next - n).multipliedReportingOverflow(by: handled + 1)
            guard !overflow else { return nil }
            delta += product
            n = next
            for code in input {
                if code < n { delta += 1 }
                if code == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta, handled + 1, first: handled == basicCount)
                    delta = 0
                    handled += 1
                }
            }
            delta += 1
            n += 1
        }
        return String(output)
    }

    static func digit(_ value: Int) -> Character {
        Character(Unicode.Scalar(UInt8(value < 26 ? 0x61 + value : 0x30 + value - 26)))
    }

    static func adapt(_ delta: Int, _ count: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / count
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
