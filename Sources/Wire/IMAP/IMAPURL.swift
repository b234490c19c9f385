import Foundation

/// An IMAP URL (RFC 5092) naming one message or a part of it, as CATENATE (RFC 4469) reads
/// them: `imap://user@host/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2/;PARTIAL=0.1024`,
/// the same from `/INBOX…` (an absolute path on this server), or `;UID=20…` (relative to the
/// selected mailbox). Names come percent-decoded as UTF-8; the section is parsed as a FETCH
/// section is.
public struct IMAPURL: Equatable, Sendable {
    /// The user named before `@`, when the URL has an authority.
    public var user: String?
    public var host: String?
    /// nil: a relative URL, the selected mailbox.
    public var mailbox: String?
    public var uidValidity: UInt32?
    public var uid: UInt32
    public var section: IMAPSection?
    public var partialOffset: Int?
    public var partialLength: Int?
    /// RFC 4467 `;EXPIRE=…;URLAUTH=access[:mechanism:token]`: a URL others may fetch.
    public var authorization: Authorization?

    /// Whether the URL carries a URLAUTH part (and so is read with URLFETCH, not as the user's own).
    public var authorized: Bool { authorization != nil }

    public struct Authorization: Equatable, Sendable {
        public var expire: Date?
        /// `user+NAME`, `submit+NAME` (the prefix in lower case), `authuser` or `anonymous`.
        public var access: String
        /// nil in a rump URL (GENURLAUTH's argument).
        public var mechanism: String?
        public var token: String?
        /// The URL through the access identifier: what the token is computed over.
        public var rump: String

        public init(expire: Date? = nil, access: String, mechanism: String? = nil, token: String? = nil, rump: String) {
            self.expire = expire
            self.access = access
            self.mechanism = mechanism
            self.token = token
            self.rump = rump
        }
    }

    public init(user: String? = nil, host: String? = nil, mailbox: String?, uidValidity: UInt32? = nil, uid: UInt32,
                section: IMAPSection? = nil, partialOffset: Int? = nil, partialLength: Int? = nil, authorization: Authorization? = nil) {
        self.user = user
        self.host = host
        self.mailbox = mailbox
        self.uidValidity = uidValidity
        self.uid = uid
        self.section = section
        self.partialOffset = partialOffset
        self.partialLength = partialLength
        self.authorization = authorization
    }

    /// The longest URL read.
    public static let maximumLength = 4_096

    public static func parse(_ text: String) -> IMAPURL? {
        guard text.utf8.count <= maximumLength, !text.isEmpty else { return nil }
        var rest = Substring(text)
        var user: String?, host: String?
        if rest.lowercased().hasPrefix("imap://") {
            rest = rest.dropFirst(7)
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = rest[..<authorityEnd]
            rest = rest[authorityEnd...]
            if let at = authority.lastIndex(of: "@") {
                var userPart = authority[..<at]
                // `;AUTH=mechanism` after the user is about how to log in; it does not change the message.
                if let semicolon = userPart.firstIndex(of: ";") { userPart = userPart[..<semicolon] }
                guard let decoded = percentDecoded(userPart), !decoded.isEmpty else { return nil }
                user = decoded
                authority = authority[authority.index(after: at)...]
            }
            guard !authority.isEmpty, authority.allSatisfy({ $0.isLetter || $0.isNumber || "-.:[]".contains($0) }) else { return nil }
            host = String(authority)
            guard rest.hasPrefix("/") else { return nil }
        }
        var mailbox: String?
        var uidValidity: UInt32?
        var parameters: Substring
        if rest.hasPrefix("/") {
            // `/mailbox[;UIDVALIDITY=n]/;UID=n…`: the mailbox may hold `/`, so it ends at the last `/;UID=`.
            guard let marker = rest.range(of: "/;uid=", options: [.backwards, .caseInsensitive]),
                  marker.lowerBound > rest.startIndex else { return nil }
            var name = rest[rest.index(after: rest.startIndex)..<marker.lowerBound]
            parameters = rest[rest.index(after: marker.lowerBound)...]
            if let validity = name.range(of: ";uidvalidity=", options: [.backwards, .caseInsensitive]) {
                guard let number = positive(name[validity.upperBound...]) else { return nil }
                uidValidity = number
                name = name[..<validity.lowerBound]
            }
            // A `;` in a name is sent as %3B (RFC 5092 `bchar`).
            guard !name.contains(";"), let decoded = percentDecoded(name), !decoded.isEmpty, !decoded.contains("\0") else { return nil }
            mailbox = decoded
        } else {
            guard host == nil, rest.lowercased().hasPrefix(";uid=") else { return nil }
            parameters = rest
        }
        // `;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]`, with optional `/` between them and URLAUTH's tail.
        var url = IMAPURL(user: user, host: host, mailbox: mailbox, uidValidity: uidValidity, uid: 0)
        var seenUID = false
        var expire: Date?
        for piece in parameters.split(separator: ";", omittingEmptySubsequences: true) {
            var piece = piece
            guard url.authorization == nil else { return nil } // URLAUTH comes last
            if piece.hasSuffix("/") { piece = piece.dropLast() }
            guard let equals = piece.firstIndex(of: "=") else { return nil }
            let key = piece[..<equals].uppercased()
            let value = piece[piece.index(after: equals)...]
            switch key {
            case "UID":
                guard !seenUID, let number = positive(value) else { return nil }
                url.uid = number
                seenUID = true
            case "SECTION":
                guard seenUID, url.section == nil, let decoded = percentDecoded(value), !decoded.isEmpty,
                      let section = section(decoded) else { return nil }
                url.section = section
            case "PARTIAL":
                guard seenUID, url.partialOffset == nil else { return nil }
                let numbers = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                guard let offset = Int(numbers[0]), offset >= 0 else { return nil }
                url.partialOffset = offset
                if numbers.count == 2 {
                    guard let length = Int(numbers[1]), length > 0 else { return nil }
                    url.partialLength = length
                }
            case "EXPIRE":
                guard seenUID, expire == nil, let date = Self.dateTime(value) else { return nil }
                expire = date
            case "URLAUTH":
                // RFC 4467: only on a full URL naming its user; `access[:mechanism:token]`.
                guard seenUID, user != nil, host != nil else { return nil }
                let parts = value.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 1 || parts.count == 3, let access = Self.access(parts[0]),
                      let marker = text.range(of: ";urlauth=", options: [.backwards, .caseInsensitive]) else { return nil }
                var authorization = Authorization(expire: expire, access: access,
                                                  rump: String(text[..<text.index(marker.upperBound, offsetBy: parts[0].count)]))
                if parts.count == 3 {
                    guard !parts[1].isEmpty, parts[1].count <= 64, parts[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }),
                          (32...512).contains(parts[2].count), parts[2].allSatisfy(\.isHexDigit) else { return nil }
                    authorization.mechanism = parts[1].uppercased()
                    authorization.token = parts[2].lowercased()
                }
                url.authorization = authorization
            default:
                return nil
            }
        }
        guard seenUID, expire == nil || url.authorization != nil else { return nil }
        return url
    }

    /// RFC 4467 `access`: `submit+user`, `user+user` (prefix in lower case), `authuser`, `anonymous`.
    static func access(_ text: Substring) -> String? {
        let lower = text.lowercased()
        if lower == "authuser" || lower == "anonymous" { return lower }
        for prefix in ["submit+", "user+"] where lower.hasPrefix(prefix) {
            guard let name = percentDecoded(text.dropFirst(prefix.count)), !name.isEmpty, !name.contains(":") else { return nil }
            return prefix + name
        }
        return nil
    }

    /// An RFC 3339 date-time (`;EXPIRE=`).
    static func dateTime(_ text: Substring) -> Date? {
        guard text.count <= 64 else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: String(text)) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: String(text))
    }

    /// A section of a URL (`HEADER`, `1.2.MIME`, `HEADER.FIELDS (TO FROM)`), read as FETCH reads it.
    static func section(_ text: String) -> IMAPSection? {
        var parser = IMAPParser(Array("[\(text)]".utf8), maxDepth: 16, maxRanges: 10)
        guard let section = try? parser.sectionSpec(binary: false), parser.isAtEnd else { return nil }
        return section
    }

    static func positive(_ text: Substring) -> UInt32? {
        guard !text.isEmpty, text.count <= 10, text.allSatisfy(\.isASCII), let value = UInt32(text), value > 0 else { return nil }
        return value
    }

    /// `%XX` escapes undone; the result must be UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.next().flatMap(hexValue), let low = utf8.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
