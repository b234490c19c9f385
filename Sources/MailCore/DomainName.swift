/// A DNS host name as SMTP uses it in EHLO, `Received:` and certificates.
///
/// RFC 5321 §4.1.2 (`Domain = sub-domain *("." sub-domain)`, letters, digits and hyphens, not
/// starting or ending with a hyphen) with the lengths of RFC 1035 §2.3.4: at most 63 octets per
/// label and 253 in all. Stored lowercased, without a trailing dot.
public struct DomainName: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case tooLong(Int)
        case emptyLabel
        case labelTooLong(String)
        case invalidCharacter(Character)
        case hyphenAtLabelEdge(String)

        public var description: String {
            switch self {
            case .empty: "a domain name cannot be empty"
            case .tooLong(let count): "a domain name has at most 253 characters, this one has \(count)"
            case .emptyLabel: "a domain name cannot contain an empty label (two dots in a row, or a leading dot)"
            case .labelTooLong(let label): "the label \"\(label)\" is longer than 63 characters"
            case .invalidCharacter(let character): "\"\(character)\" is not allowed in a domain name (letters, digits, hyphens and dots only)"
            case .hyphenAtLabelEdge(let label): "the label \"\(label)\" starts or ends with a hyphen"
            }
        }
    }

    public init(_ text: String) throws(ParseError) {
        var text = Substring(text)
        if text.hasSuffix(".") { text = text.dropLast() }
        guard !text.isEmpty else { throw .empty }
        guard text.utf8.count <= 253 else { throw .tooLong(text.utf8.count) }
        for label in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw .emptyLabel }
            guard label.utf8.count <= 63 else { throw .labelTooLong(String(label)) }
            for character in label {
                guard character.isASCII, character.isLetter || character.isNumber || character == "-" else {
                    throw .invalidCharacter(character)
                }
            }
            guard label.first != "-", label.last != "-" else { throw .hyphenAtLabelEdge(String(label)) }
        }
        self.value = text.lowercased()
    }

    public var description: String { value }
}
