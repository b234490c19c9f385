import Foundation

/// An address as IMAP's ENVELOPE gives it (RFC 3501 §7.4.2): display name, source route,
/// mailbox and host. A group is a start entry (mailbox = group name, host nil) and an end entry
/// (all nil).
public struct MessageAddress: Codable, Hashable, Sendable {
    public var name: String?
    public var route: String?
    public var mailbox: String?
    public var host: String?

    public init(name: String? = nil, route: String? = nil, mailbox: String?, host: String?) {
        self.name = name
        self.route = route
        self.mailbox = mailbox
        self.host = host
    }

    /// Parses an RFC 5322 address-list (§3.4), tolerating the usual damage: missing brackets,
    /// unbalanced quotes and comments, stray separators. Never fails; what cannot be read is dropped.
    public static func parseList(_ text: String, maxAddresses: Int = 1_000) -> [MessageAddress] {
        var tokens = AddressTokenizer(text).tokens()[...]
        var result: [MessageAddress] = []
        while !tokens.isEmpty && result.count < maxAddresses {
            parseAddress(&tokens, into: &result, inGroup: false)
        }
        return result
    }

    private static func parseAddress(_ tokens: inout ArraySlice<AddressToken>, into result: inout [MessageAddress],
                                     inGroup: Bool) {
        var phrase: [AddressToken] = []
        while let token = tokens.first {
            switch token {
            case .special(","):
                tokens.removeFirst()
                if let address = bareAddress(phrase) { result.append(address) }
                return
            case .special(";") where inGroup:
                if let address = bareAddress(phrase) { result.append(address) }
                return
            case .special(":") where !inGroup:
                tokens.removeFirst()
                result.append(MessageAddress(mailbox: words(phrase), host: nil))
                while let next = tokens.first {
                    if case .special(";") = next { tokens.removeFirst(); break }
                    parseAddress(&tokens, into: &result, inGroup: true)
                }
                result.append(MessageAddress(mailbox: nil, host: nil))
                if case .special(",")? = tokens.first { tokens.removeFirst() }
                return
            case .special("<"):
                tokens.removeFirst()
                var inner: [AddressToken] = []
                while let next = tokens.first {
                    tokens.removeFirst()
                    if case .special(">") = next { break }
                    inner.append(next)
                }
                var route: String?
                if let colon = inner.firstIndex(of: .special(":")), inner.first == .special("@") {
                    route = inner[..<colon].map(\.text).joined()
                    inner = Array(inner[(colon + 1)...])
                }
                var address = addrSpec(inner.filter { !$0.isComment })
                address.route = route
                let name = words(phrase)
                address.name = name.isEmpty ? nil : name
                // Skip anything up to the next separator.
                while let next = tokens.first, next != .special(","), !(inGroup && next == .special(";")) {
                    tokens.removeFirst()
                }
                if case .special(",")? = tokens.first { tokens.removeFirst() }
                result.append(address)
                return
            default:
                tokens.removeFirst()
                phrase.append(token)
            }
        }
        if let address = bareAddress(phrase) { result.append(address) }
    }

    /// `local@domain` without angle brackets, or a lone word (a mailbox with no domain).
    private static func bareAddress(_ tokens: [AddressToken]) -> MessageAddress? {
        let spec = tokens.filter { !$0.isComment }
        guard !spec.isEmpty else { return nil }
        var address = addrSpec(spec)
        if case .comment(let comment)? = tokens.last(where: { $0.isComment }), !comment.isEmpty { address.name = comment }
        return address
    }

    private static func addrSpec(_ tokens: [AddressToken]) -> MessageAddress {
        guard let at = tokens.lastIndex(of: .special("@")) else {
            let local = tokens.map(\.text).joined()
            return MessageAddress(mailbox: local.isEmpty ? "MISSING_MAILBOX" : local, host: "MISSING_DOMAIN")
        }
        let local = tokens[..<at].map(\.text).joined()
        let host = tokens[(at + 1)...].map(\.text).joined()
        return MessageAddress(mailbox: local.isEmpty ? "MISSING_MAILBOX" : local,
                              host: host.isEmpty ? "MISSING_DOMAIN" : host)
    }

    private static func words(_ tokens: [AddressToken]) -> String {
        var text = ""
        for token in tokens where !token.isComment {
            switch token {
            case .special(let special) where special == ".":
                text += "."
            default:
                if !text.isEmpty && !text.hasSuffix(".") { text += " " }
                text += token.text
            }
        }
        return text
    }
}

enum AddressToken: Equatable {
    case atom(String)
    case quoted(String)
    case literal(String)
    case special(Character)
    case comment(String)

    var isComment: Bool {
        if case .comment = self { return true }
        return false
    }

    var text: String {
        switch self {
        case .atom(let text), .quoted(let text): text
        case .comment: ""
        case .literal(let text): "[\(text)]"
        case .special(let character): String(character)
        }
    }
}

/// RFC 5322 §3.2 lexical tokens. Comments are kept as tokens: an address with no display name
/// takes its comment as the name (`user@example.org (Real Name)`); otherwise they are ignored.
struct AddressTokenizer {
    let characters: [Character]
    init(_ text: String) { characters = Array(text) }

    func tokens() -> [AddressToken] {
        var tokens: [AddressToken] = []
        var index = 0
        let specials: Set<Character> = ["<", ">", "@", ",", ";", ":", ".", "[", "]"]
        while index < characters.count {
            let character = characters[index]
            switch character {
            case " ", "\t", "\r", "\n":
                index += 1
            case "(":
                var depth = 0
                var text = ""
                while index < characters.count {
                    let c = characters[index]
                    if c == "\\" {
                        if index + 1 < characters.count { text.append(characters[index + 1]) }
                        index += 2
                        continue
                    }
                    if c == "(" { depth += 1 }
                    if c == ")" { depth -= 1; if depth == 0 { index += 1; break } }
                    if depth > 1 || (depth == 1 && c != "(") { text.append(c) }
                    index += 1
                }
                tokens.append(.comment(text.trimmingCharacters(in: .whitespaces)))
            case "\"":
                var text = ""
                index += 1
                while index < characters.count, characters[index] != "\"" {
                    if characters[index] == "\\", index + 1 < characters.count { index += 1 }
                    text.append(characters[index])
                    index += 1
                }
                index += 1
                tokens.append(.quoted(text))
            case "[":
                var text = ""
                index += 1
                while index < characters.count, characters[index] != "]" {
                    text.append(characters[index])
                    index += 1
                }
                index += 1
                tokens.append(.literal(text))
            case _ where specials.contains(character):
                tokens.append(.special(character))
                index += 1
            default:
                var text = ""
                while index < characters.count {
                    let c = characters[index]
                    if specials.contains(c) || c == " " || c == "\t" || c == "\r" || c == "\n" || c == "(" || c == "\"" { break }
                    text.append(c)
                    index += 1
                }
                tokens.append(.atom(text))
            }
        }
        return tokens
    }
}
