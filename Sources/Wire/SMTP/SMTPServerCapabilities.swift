/// What a server said it supports in its EHLO reply (RFC 5321 §4.1.1.1: the first line greets,
/// each further line is a keyword and its parameters). Keywords are compared without case.
public struct SMTPServerCapabilities: Equatable, Sendable {
    /// Each keyword, upper-case, with its parameters as sent.
    public let keywords: [String: [String]]
    /// The name the server gave on the reply's first line (lower-case), when it gave one.
    public let serverName: String?

    public init(ehloReply: SMTPReply) {
        serverName = ehloReply.lines.first?.split(separator: " ").first.map { $0.lowercased() }
        var keywords: [String: [String]] = [:]
        for line in ehloReply.lines.dropFirst() {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let keyword = words.first, keyword.utf8.count <= 64,
                  keyword.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d })
            else { continue }
            keywords[keyword.uppercased()] = Array(words.dropFirst())
        }
        self.keywords = keywords
    }

    public func supports(_ keyword: String) -> Bool { keywords[keyword.uppercased()] != nil }

    public var startTLS: Bool { supports("STARTTLS") }
    public var pipelining: Bool { supports("PIPELINING") }
    public var eightBitMIME: Bool { supports("8BITMIME") }
    public var smtpUTF8: Bool { supports("SMTPUTF8") }
    public var dsn: Bool { supports("DSN") }
    public var chunking: Bool { supports("CHUNKING") }
    public var enhancedStatusCodes: Bool { supports("ENHANCEDSTATUSCODES") }

    /// RFC 1870: the largest message the server takes; nil when it states none (`SIZE` alone
    /// or `SIZE 0`) or does not support the extension.
    public var maximumSize: Int? {
        guard let parameters = keywords["SIZE"], let first = parameters.first, let size = Int(first), size > 0 else { return nil }
        return size
    }

    /// The SASL mechanisms offered (RFC 4954), upper-case.
    public var authMechanisms: [String] { (keywords["AUTH"] ?? []).map { $0.uppercased() } }
}
