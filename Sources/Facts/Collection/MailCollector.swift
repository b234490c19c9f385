import Foundation

/// A mail collector (VPOP3's "Mail Collectors", POP3 download): an ISP mailbox whose mail is
/// downloaded into local mailboxes. Kept in the setting `collection.collectors`; the password
/// is never here: `passwordSecret` names it in the secret vault, sealed with the key outside
/// the database.
public struct MailCollector: Codable, Sendable, Equatable {
    /// VPOP3's "Session Encryption".
    public enum Encryption: String, Codable, Sendable, CaseIterable {
        case none
        /// TLS from the first byte, usually port 995 (RFC 8314).
        case ssl
        /// STLS (RFC 2595), required: a server without it gets no password.
        case stls
        case stlsIfAvailable = "stls-if-available"
    }

    /// VPOP3's "POP3 Authentication Method". MSN SPA and CompuServe RPA are not offered:
    /// both are proprietary and obsolete.
    public enum Authentication: String, Codable, Sendable, CaseIterable {
        /// USER and PASS (RFC 1939 §7).
        case plain
        /// APOP (RFC 1939 §7): an MD5 digest of the greeting's timestamp and the password.
        case apop
        /// AUTH CRAM-MD5 (RFC 5034, RFC 2195).
        case cramMD5 = "cram-md5"
        /// AUTH PLAIN (RFC 5034, RFC 4616).
        case saslPlain = "sasl-plain"
    }

    /// Where collected mail goes (VPOP3's routing tab). JSON `{"all_to": "alice"}` or
    /// `{"headers": {"accepted_domains": [...], ...}}`.
    public enum Routing: Codable, Sendable, Equatable {
        /// Every message to one local user or list (a mailbox for one address).
        case allTo(String)
        /// A catch-all mailbox: recipients found in the message's header fields.
        case parseHeaders(HeaderRouting)

        enum CodingKeys: String, CodingKey {
            case allTo = "all_to", headers
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let target = try container.decodeIfPresent(String.self, forKey: .allTo) {
                self = .allTo(target)
            } else {
                self = .parseHeaders(try container.decode(HeaderRouting.self, forKey: .headers))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .allTo(let target): try container.encode(target, forKey: .allTo)
            case .parseHeaders(let headers): try container.encode(headers, forKey: .headers)
            }
        }
    }

    /// Route by parsing message headers.
    public struct HeaderRouting: Codable, Sendable, Equatable {
        /// Domains (`example.com`) and addresses (`user@isp.example`) the mailbox holds mail for;
        /// addresses found elsewhere are not ours and are passed over.
        public var acceptedDomains: [String]
        /// Header fields holding the envelope recipient (`X-RCPTTO`); `*` in a pattern marks the
        /// address's place (`X-Recipient: account-5123 * delivered`), `~` trailing text.
        public var specialHeaders: [String]
        /// Look only for local users' own names, without the user → address mappings.
        public var disableMappings: Bool
        /// When no recipient is recognised.
        public var onError: RoutingError
        /// Also bounce to the sender when no recipient is recognised (off by default: the
        /// sender of spam at an ISP is usually forged, and a bounce would be backscatter).
        public var bounceToSender: Bool

        public init(acceptedDomains: [String], specialHeaders: [String] = [], disableMappings: Bool = false,
                    onError: RoutingError = .messageToAdministrator, bounceToSender: Bool = false) {
            self.acceptedDomains = acceptedDomains
            self.specialHeaders = specialHeaders
            self.disableMappings = disableMappings
            self.onError = onError
            self.bounceToSender = bounceToSender
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(acceptedDomains: try container.decode([String].self, forKey: .acceptedDomains),
                      specialHeaders: try container.decodeIfPresent([String].self, forKey: .specialHeaders) ?? [],
                      disableMappings: try container.decodeIfPresent(Bool.self, forKey: .disableMappings) ?? false,
                      onError: try container.decodeIfPresent(RoutingError.self, forKey: .onError) ?? .messageToAdministrator,
                      bounceToSender: try container.decodeIfPresent(Bool.self, forKey: .bounceToSender) ?? false)
        }

        enum CodingKeys: String, CodingKey {
            case acceptedDomains = "accepted_domains", specialHeaders = "special_headers", disableMappings = "disable_mappings"
            case onError = "on_error", bounceToSender = "bounce_to_sender"
        }
    }

    /// VPOP3's routing-error actions. JSON `"error-to-administrator"`,
    /// `"message-to-administrator"`, `"error-to:USER"`, `"message-to:USER"` or `"bounce"`.
    public enum RoutingError: Codable, Sendable, Equatable, CustomStringConvertible {
        case errorToAdministrator
        case messageToAdministrator
        case errorToUser(String)
        case messageToUser(String)
        /// Bounce to the sender and keep no local copy.
        case bounce

        public init?(_ text: String) {
            switch text {
            case "error-to-administrator": self = .errorToAdministrator
            case "message-to-administrator": self = .messageToAdministrator
            case "bounce": self = .bounce
            default:
                if text.hasPrefix("error-to:"), text.count > 9 { self = .errorToUser(String(text.dropFirst(9))) }
                else if text.hasPrefix("message-to:"), text.count > 11 { self = .messageToUser(String(text.dropFirst(11))) }
                else { return nil }
            }
        }

        public var description: String {
            switch self {
            case .errorToAdministrator: "error-to-administrator"
            case .messageToAdministrator: "message-to-administrator"
            case .errorToUser(let user): "error-to:\(user)"
            case .messageToUser(let user): "message-to:\(user)"
            case .bounce: "bounce"
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let value = Self(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(text) is not a routing-error action"))
            }
            self = value
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
    }

    /// A download rule (VPOP3's "Edit Download Rules"): the first rule that matches a message
    /// on the server decides what happens to it; a message no rule matches is downloaded.
    /// JSON `{"action": "delete", "header": "Subject", "pattern": "*lottery*"}` or
    /// `{"action": "skip", "larger_than_kib": 5000}`.
    public struct DownloadRule: Codable, Sendable, Equatable, CustomStringConvertible {
        public enum Action: String, Codable, Sendable, CaseIterable {
            /// Download it (and delete it from the server as the collector does).
            case keep
            /// Delete it from the server without downloading it.
            case delete
            /// Leave it on the server, not downloaded.
            case skip
        }

        public var action: Action
        /// A header field whose value `pattern` must match (case-insensitive, `*` and `?`
        /// wildcards; a field present several times matches when any occurrence does).
        public var header: String?
        public var pattern: String?
        /// Size bounds in KiB (as the server lists the message).
        public var largerThanKiB: Int?
        public var smallerThanKiB: Int?

        public init(action: Action, header: String? = nil, pattern: String? = nil, largerThanKiB: Int? = nil, smallerThanKiB: Int? = nil) {
            self.action = action
            self.header = header
            self.pattern = pattern
            self.largerThanKiB = largerThanKiB
            self.smallerThanKiB = smallerThanKiB
        }

        enum CodingKeys: String, CodingKey {
            case action, header, pattern
            case largerThanKiB = "larger_than_kib", smallerThanKiB = "smaller_than_kib"
        }

        /// The command line's form: the action, then `>N` (larger than N KiB) and `<N` (smaller
        /// than N KiB) in any order, then `Field:pattern` to the end (`delete >20 Subject:*win*`).
        public init(parsing text: String) throws(RuleSyntaxError) {
            var rest = Substring(text.trimmingCharacters(in: .whitespaces))
            let word = rest.prefix { $0 != " " }
            guard let action = Action(rawValue: word.lowercased()) else {
                throw RuleSyntaxError(description: "a rule starts with keep, delete or skip, not \(word)")
            }
            self.init(action: action)
            rest = rest.dropFirst(word.count).drop { $0 == " " }
            while let first = rest.first, first == ">" || first == "<" {
                let token = rest.prefix { $0 != " " }
                guard let value = Int(token.dropFirst()), value >= 0 else {
                    throw RuleSyntaxError(description: "\(token) is not a size in KiB (>N or <N)")
                }
                if first == ">" { largerThanKiB = value } else { smallerThanKiB = value }
                rest = rest.dropFirst(token.count).drop { $0 == " " }
            }
            if !rest.isEmpty {
                guard let colon = rest.firstIndex(of: ":") else {
                    throw RuleSyntaxError(description: "\(rest) is not Field:pattern")
                }
                header = String(rest[..<colon]).trimmingCharacters(in: .whitespaces)
                pattern = String(rest[rest.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
            if let problem { throw RuleSyntaxError(description: problem) }
        }

        /// The command line's form of the rule.
        public var text: String {
            var parts = [action.rawValue]
            if let largerThanKiB { parts.append(">\(largerThanKiB)") }
            if let smallerThanKiB { parts.append("<\(smallerThanKiB)") }
            if let header { parts.append("\(header):\(pattern ?? "*")") }
            return parts.joined(separator: " ")
        }

        /// Whether it needs the message's header fields (`TOP n 0`) to decide.
        public var readsHeader: Bool { header != nil }

        /// Whether the rule matches a message of `size` bytes whose header fields named
        /// `header` have `values` (only asked for when `readsHeader`).
        public func matches(size: Int, values: (String) -> [String]) -> Bool {
            if let largerThanKiB, size <= largerThanKiB * 1024 { return false }
            if let smallerThanKiB, size >= smallerThanKiB * 1024 { return false }
            if let header {
                let pattern = pattern ?? "*"
                return values(header).contains { DirectoryRules.matches(pattern: pattern, domain: $0) }
            }
            return true
        }

        public var description: String {
            var parts: [String] = []
            if let header { parts.append("\(header) matches \(pattern ?? "*")") }
            if let largerThanKiB { parts.append("larger than \(largerThanKiB) KiB") }
            if let smallerThanKiB { parts.append("smaller than \(smallerThanKiB) KiB") }
            return "\(action.rawValue)" + (parts.isEmpty ? "" : " if " + parts.joined(separator: " and "))
        }

        var problem: String? {
            if header == nil && pattern != nil { return "a pattern needs a header field" }
            if let header, header.isEmpty || !header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ":") }) {
                return "\(header) is not a header field name"
            }
            if let pattern, pattern.utf8.count > 998 { return "the pattern is longer than a header line" }
            for bound in [largerThanKiB, smallerThanKiB].compactMap({ $0 }) where !(0...(1 << 22)).contains(bound) {
                return "sizes are 0...4194304 KiB"
            }
            return nil
        }
    }

    /// Why a download rule's text was not understood.
    public struct RuleSyntaxError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The ISP mailbox's protocol.
    public enum MailboxProtocol: String, Codable, Sendable, CaseIterable {
        case pop3
        /// IMAP4 (RFC 9051, RFC 3501): one folder, each message known by UIDVALIDITY and UID.
        case imap
    }

    /// What an IMAP collector does to a message on the server once its copy is stored.
    public enum IMAPAfterDownload: String, Codable, Sendable, CaseIterable {
        /// Flag it `\Seen` and leave it.
        case seen
        /// Delete it (after `leave_on_server_days`), flagging it `\Deleted` and expunging.
        case delete
    }

    /// Letters, digits, `-`, `_` and `.`.
    public var name: String
    public var mailboxProtocol: MailboxProtocol
    /// IMAP: the folder collected (default INBOX).
    public var folder: String
    public var afterDownload: IMAPAfterDownload
    /// IMAP: keep a session waiting in IDLE (RFC 2177) and collect as soon as new mail comes,
    /// while the collector's connections are online (network connections always are).
    public var idle: Bool
    /// `host` or `host:port`; the port defaults to 995 with `ssl`, 110 otherwise.
    public var server: String
    public var user: String
    /// The vault id of the password (purpose `collector-password`, subject `collector:<name>`).
    public var passwordSecret: UUID?
    public var encryption: Encryption
    /// Check the server's certificate and name (on unless turned off).
    public var verifyCertificate: Bool
    /// A PEM file of certificates trusted besides the system's.
    public var trustedCertificates: String?
    public var authentication: Authentication
    /// Days a collected message stays on the server; 0 deletes it once its copy is committed.
    public var leaveOnServerDays: Int
    /// Messages larger than this many KiB are left on the server (0: no limit).
    public var maxSizeKiB: Int
    /// Days a UIDL no longer on the server is remembered (VPOP3's "Hold obsolete UIDLs").
    public var holdObsoleteUIDLDays: Int
    public var routing: Routing
    /// The connections whose runs collect this mailbox; none: every run of any connection.
    public var connections: [String]
    /// Minutes between collections besides the connections' runs; 0 only when asked or run.
    public var pollMinutes: Int
    /// In order; the first that matches decides.
    public var downloadRules: [DownloadRule]
    public var enabled: Bool

    public init(name: String, server: String, user: String, passwordSecret: UUID? = nil, encryption: Encryption = .stls,
                verifyCertificate: Bool = true, trustedCertificates: String? = nil, authentication: Authentication = .plain,
                leaveOnServerDays: Int = 0, maxSizeKiB: Int = 0, holdObsoleteUIDLDays: Int = 30, routing: Routing,
                connections: [String] = [], pollMinutes: Int = 15, downloadRules: [DownloadRule] = [], enabled: Bool = true) {
        self.name = name
        self.mailboxProtocol = .pop3
        self.folder = "INBOX"
        self.afterDownload = .delete
        self.idle = false
        self.server = server
        self.user = user
        self.passwordSecret = passwordSecret
        self.encryption = encryption
        self.verifyCertificate = verifyCertificate
        self.trustedCertificates = trustedCertificates
        self.authentication = authentication
        self.leaveOnServerDays = leaveOnServerDays
        self.maxSizeKiB = maxSizeKiB
        self.holdObsoleteUIDLDays = holdObsoleteUIDLDays
        self.routing = routing
        self.connections = connections
        self.pollMinutes = pollMinutes
        self.downloadRules = downloadRules
        self.enabled = enabled
    }

    enum CodingKeys: String, CodingKey {
        case name, server, user, encryption, authentication, routing, connections, enabled
        case passwordSecret = "password_secret", verifyCertificate = "verify_certificate"
        case trustedCertificates = "trusted_certificates", leaveOnServerDays = "leave_on_server_days"
        case maxSizeKiB = "max_size_kib", holdObsoleteUIDLDays = "hold_obsolete_uidl_days", pollMinutes = "poll_minutes"
        case downloadRules = "download_rules"
        case mailboxProtocol = "protocol", folder, afterDownload = "after_download", idle
    }

    /// Everything but the name, server, user and routing may be left out of the JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), server: try container.decode(String.self, forKey: .server),
                  user: try container.decode(String.self, forKey: .user), routing: try container.decode(Routing.self, forKey: .routing))
        passwordSecret = try container.decodeIfPresent(UUID.self, forKey: .passwordSecret)
        encryption = try container.decodeIfPresent(Encryption.self, forKey: .encryption) ?? .stls
        verifyCertificate = try container.decodeIfPresent(Bool.self, forKey: .verifyCertificate) ?? true
        trustedCertificates = try container.decodeIfPresent(String.self, forKey: .trustedCertificates)
        authentication = try container.decodeIfPresent(Authentication.self, forKey: .authentication) ?? .plain
        leaveOnServerDays = try container.decodeIfPresent(Int.self, forKey: .leaveOnServerDays) ?? 0
        maxSizeKiB = try container.decodeIfPresent(Int.self, forKey: .maxSizeKiB) ?? 0
        holdObsoleteUIDLDays = try container.decodeIfPresent(Int.self, forKey: .holdObsoleteUIDLDays) ?? 30
        connections = try container.decodeIfPresent([String].self, forKey: .connections) ?? []
        pollMinutes = try container.decodeIfPresent(Int.self, forKey: .pollMinutes) ?? 15
        downloadRules = try container.decodeIfPresent([DownloadRule].self, forKey: .downloadRules) ?? []
        mailboxProtocol = try container.decodeIfPresent(MailboxProtocol.self, forKey: .mailboxProtocol) ?? .pop3
        folder = try container.decodeIfPresent(String.self, forKey: .folder) ?? "INBOX"
        afterDownload = try container.decodeIfPresent(IMAPAfterDownload.self, forKey: .afterDownload) ?? .delete
        idle = try container.decodeIfPresent(Bool.self, forKey: .idle) ?? false
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
    }

    /// The secret's purpose and subject in the vault.
    public static let passwordPurpose = "collector-password"
    public static func passwordSubject(_ name: String) -> String { "collector:\(name.lowercased())" }

    /// The server and port to connect to.
    public var endpoint: MailSender.RelayServer? {
        guard case .success(var server) = MailSender.parseRelay(self.server) else { return nil }
        let explicitPort = self.server.hasPrefix("[") ? self.server.contains("]:") : self.server.contains(":")
        if !explicitPort {
            server.port = switch (mailboxProtocol, encryption == .ssl) {
            case (.pop3, true): 995
            case (.pop3, false): 110
            case (.imap, true): 993
            case (.imap, false): 143
            }
        }
        return server
    }

    /// Why this collector cannot be used as it stands; nil when it can.
    public var problem: String? {
        let who = "collector \(name)"
        if !MailSender.isName(name) { return "\(who): the name must be 1 to 64 letters, digits, -, _ or ." }
        if case .failure(let problem) = MailSender.parseRelay(server) { return "\(who): \(problem)" }
        if user.isEmpty || user.utf8.count > 255 || user.unicodeScalars.contains(where: { $0.value < 0x21 }) {
            return "\(who): the user must be 1 to 255 characters without spaces or control characters"
        }
        if !(0...3_650).contains(leaveOnServerDays) { return "\(who): leave_on_server_days must be 0...3650" }
        if !(0...(1 << 22)).contains(maxSizeKiB) { return "\(who): max_size_kib must be 0...4194304" }
        if !(0...3_650).contains(holdObsoleteUIDLDays) { return "\(who): hold_obsolete_uidl_days must be 0...3650" }
        if !(0...10_080).contains(pollMinutes) { return "\(who): poll_minutes must be 0...10080" }
        if idle && mailboxProtocol != .imap { return "\(who): idle is for IMAP collectors" }
        if mailboxProtocol == .imap {
            if authentication == .apop { return "\(who): APOP is POP3's; an IMAP collector logs in with plain, cram-md5 or sasl-plain" }
            if folder.isEmpty || folder.utf8.count > 255 || folder.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\"" || $0 == "\\" }) {
                return "\(who): the folder must be 1 to 255 characters without control characters, quotes or backslashes"
            }
        }
        for (index, rule) in downloadRules.enumerated() {
            if let problem = rule.problem { return "\(who): download rule \(index + 1): \(problem)" }
        }
        switch routing {
        case .allTo(let target):
            if target.isEmpty { return "\(who): all_to needs a user or list" }
        case .parseHeaders(let headers):
            if headers.acceptedDomains.isEmpty { return "\(who): routing by headers needs accepted domains" }
            if let star = headers.acceptedDomains.first(where: { $0.contains("*") }) {
                return "\(who): accepted domains are domains or addresses without *: \(star)"
            }
        }
        return nil
    }

    /// The collectors' names must differ; each must be usable.
    public static func problem(_ collectors: [MailCollector]) -> String? {
        var seen = Set<String>()
        for collector in collectors {
            if let problem = collector.problem { return problem }
            if !seen.insert(collector.name.lowercased()).inserted { return "two collectors are named \(collector.name)" }
        }
        return nil
    }
}
