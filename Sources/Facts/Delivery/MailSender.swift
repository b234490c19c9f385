import Foundation
import MailCore

/// A mail sender (VPOP3's "Mail Senders", up to 10): how queued mail leaves, either straight
/// to each recipient domain's MX hosts (`direct`) or through relay servers (`relay`, a
/// smarthost). Kept in the setting `outqueue.senders`; domain filtering (`filter`) chooses
/// the sender of each recipient, and a recipient no filter takes goes through the default one.
///
/// The relay password is never here: `passwordSecret` names it in the secret vault, sealed
/// with the key outside the database.
public struct MailSender: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        case direct
        case relay
    }

    /// VPOP3's "Session Encryption".
    public enum Encryption: String, Codable, Sendable, CaseIterable {
        case none
        /// Implicit TLS from the first byte, usually port 465 (RFC 8314).
        case ssl
        /// STARTTLS, required: a relay that does not offer it gets nothing.
        case starttls
        case starttlsIfAvailable = "starttls-if-available"
    }

    /// VPOP3 6.11's "Max recipients: X per Y minutes".
    public struct RateLimit: Codable, Sendable, Equatable {
        public var recipients: Int
        public var minutes: Int

        public init(recipients: Int, minutes: Int) {
            self.recipients = recipients
            self.minutes = minutes
        }
    }

    /// Letters, digits, `-`, `_` and `.`; shown in the queue and the attempts' `route`.
    public var name: String
    public var method: Method
    /// `host` or `host:port` (`[IPv6]:port`), tried in order until one answers.
    public var relays: [String]
    public var encryption: Encryption
    /// Check the relay's certificate and name (on unless turned off for this sender).
    public var verifyCertificate: Bool
    /// A PEM file of certificates trusted besides the system's (a private CA).
    public var trustedCertificates: String?
    /// SMTP AUTH user; nil sends without logging in.
    public var user: String?
    /// The vault id of the relay password (purpose `relay-password`, subject `sender:<name>`).
    public var passwordSecret: UUID?
    /// Let PLAIN and LOGIN send the password over a connection without TLS.
    public var passwordWithoutTLS: Bool
    /// The EHLO name; nil for `smtp.outbound_hostname` (or the host name).
    public var ehloName: String?
    /// Messages over one connection; nil for `outqueue.max_messages_per_session`.
    public var maxMessagesPerSession: Int?
    /// Recipients in one transaction (more are split); nil for `outqueue.max_recipients_per_message`.
    public var maxRecipientsPerMessage: Int?
    /// Recipients over one connection; nil for no limit.
    public var maxRecipientsPerSession: Int?
    public var rateLimit: RateLimit?
    /// Domain filtering, one rule per entry (see `SenderFilter`).
    public var filter: [String]
    /// VPOP3's "Send smaller messages first" and "Reverse send order".
    public var smallestFirst: Bool
    public var reverseOrder: Bool
    /// The sender for recipients no filter takes.
    public var isDefault: Bool

    public init(name: String, method: Method, relays: [String] = [], encryption: Encryption = .starttlsIfAvailable,
                verifyCertificate: Bool = true, trustedCertificates: String? = nil, user: String? = nil,
                passwordSecret: UUID? = nil, passwordWithoutTLS: Bool = false, ehloName: String? = nil,
                maxMessagesPerSession: Int? = nil, maxRecipientsPerMessage: Int? = nil, maxRecipientsPerSession: Int? = nil,
                rateLimit: RateLimit? = nil, filter: [String] = [], smallestFirst: Bool = false, reverseOrder: Bool = false,
                isDefault: Bool = false) {
        self.name = name
        self.method = method
        self.relays = relays
        self.encryption = encryption
        self.verifyCertificate = verifyCertificate
        self.trustedCertificates = trustedCertificates
        self.user = user
        self.passwordSecret = passwordSecret
        self.passwordWithoutTLS = passwordWithoutTLS
        self.ehloName = ehloName
        self.maxMessagesPerSession = maxMessagesPerSession
        self.maxRecipientsPerMessage = maxRecipientsPerMessage
        self.maxRecipientsPerSession = maxRecipientsPerSession
        self.rateLimit = rateLimit
        self.filter = filter
        self.smallestFirst = smallestFirst
        self.reverseOrder = reverseOrder
        self.isDefault = isDefault
    }

    enum CodingKeys: String, CodingKey {
        case name, method, relays, encryption, user, filter
        case verifyCertificate = "verify_certificate", trustedCertificates = "trusted_certificates"
        case passwordSecret = "password_secret", passwordWithoutTLS = "password_without_tls", ehloName = "ehlo_name"
        case maxMessagesPerSession = "max_messages_per_session", maxRecipientsPerMessage = "max_recipients_per_message"
        case maxRecipientsPerSession = "max_recipients_per_session", rateLimit = "rate_limit"
        case smallestFirst = "smallest_first", reverseOrder = "reverse_order", isDefault = "default"
    }

    /// Everything but the name and method may be left out of the JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), method: try container.decode(Method.self, forKey: .method))
        relays = try container.decodeIfPresent([String].self, forKey: .relays) ?? []
        encryption = try container.decodeIfPresent(Encryption.self, forKey: .encryption) ?? .starttlsIfAvailable
        verifyCertificate = try container.decodeIfPresent(Bool.self, forKey: .verifyCertificate) ?? true
        trustedCertificates = try container.decodeIfPresent(String.self, forKey: .trustedCertificates)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        passwordSecret = try container.decodeIfPresent(UUID.self, forKey: .passwordSecret)
        passwordWithoutTLS = try container.decodeIfPresent(Bool.self, forKey: .passwordWithoutTLS) ?? false
        ehloName = try container.decodeIfPresent(String.self, forKey: .ehloName)
        maxMessagesPerSession = try container.decodeIfPresent(Int.self, forKey: .maxMessagesPerSession)
        maxRecipientsPerMessage = try container.decodeIfPresent(Int.self, forKey: .maxRecipientsPerMessage)
        maxRecipientsPerSession = try container.decodeIfPresent(Int.self, forKey: .maxRecipientsPerSession)
        rateLimit = try container.decodeIfPresent(RateLimit.self, forKey: .rateLimit)
        filter = try container.decodeIfPresent([String].self, forKey: .filter) ?? []
        smallestFirst = try container.decodeIfPresent(Bool.self, forKey: .smallestFirst) ?? false
        reverseOrder = try container.decodeIfPresent(Bool.self, forKey: .reverseOrder) ?? false
        isDefault = try container.decodeIfPresent(Bool.self, forKey: .isDefault) ?? false
    }

    /// The sender used when none is configured: direct to MX.
    public static let implicitDirect = MailSender(name: "direct", method: .direct, isDefault: true)

    /// The secret's purpose and subject in the vault.
    public static let passwordPurpose = "relay-password"
    public static func passwordSubject(_ name: String) -> String { "sender:\(name.lowercased())" }

    // MARK: Relay servers

    public struct RelayServer: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; port 25 unless given. Nil with the fault.
    public static func parseRelay(_ text: String) -> Result<RelayServer, SettingProblem> {
        var host = Substring(text), port = 25
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return .failure("\(text): no ] after the IPv6 address") }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let number = Int(rest.dropFirst()) else { return .failure("\(text): the port is not a number") }
                port = number
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { return .failure("\(text): the port is not a number") }
            port = number
            host = host[..<colon]
        }
        guard (1...65_535).contains(port) else { return .failure("\(text): the port must be 1...65535") }
        guard !host.isEmpty, host.utf8.count <= 253,
              host.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-.:".unicodeScalars.contains($0) })
        else { return .failure("\(text): not a host name or address") }
        return .success(RelayServer(host: String(host).lowercased(), port: port))
    }

    public var relayServers: [RelayServer] {
        relays.compactMap { try? Self.parseRelay($0).get() }
    }

    /// 1 to 64 letters, digits, `-`, `_` or `.`: a sender's or a LAN forwarding rule's name.
    public static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    /// Why this sender cannot be used as it stands; nil when it can.
    public var problem: String? {
        let who = "sender \(name)"
        if !Self.isName(name) {
            return "\(who): the name must be 1 to 64 letters, digits, -, _ or ."
        }
        switch method {
        case .relay:
            if relays.isEmpty { return "\(who): a relay sender needs at least one relay server" }
            for relay in relays {
                if case .failure(let problem) = Self.parseRelay(relay) { return "\(who): \(problem)" }
            }
        case .direct:
            if !relays.isEmpty { return "\(who): a direct sender has no relay servers (use dns.overrides for one domain)" }
            if user != nil || passwordSecret != nil { return "\(who): a direct sender does not log in" }
        }
        if passwordSecret != nil && user == nil { return "\(who): a password without a user" }
        if let user, user.isEmpty || user.utf8.count > 255 || user.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return "\(who): the user must be 1 to 255 characters without control characters"
        }
        if let ehloName, (try? DomainName(ehloName)) == nil { return "\(who): the EHLO name must be a domain name" }
        if let path = trustedCertificates, !path.hasPrefix("/") { return "\(who): trusted_certificates must be an absolute path" }
        for (field, value) in [("max_messages_per_session", maxMessagesPerSession), ("max_recipients_per_message", maxRecipientsPerMessage),
                               ("max_recipients_per_session", maxRecipientsPerSession)] {
            if let value, !(1...100_000).contains(value) { return "\(who): \(field) must be 1...100000" }
        }
        if let rateLimit {
            if !(1...1_000_000).contains(rateLimit.recipients) { return "\(who): rate_limit.recipients must be 1...1000000" }
            if !(1...10_080).contains(rateLimit.minutes) { return "\(who): rate_limit.minutes must be 1...10080" }
        }
        do {
            _ = try SenderFilter(parsing: filter.joined(separator: "\n"))
        } catch {
            return "\(who): \(error)"
        }
        return nil
    }

    public var domainFilter: SenderFilter {
        (try? SenderFilter(parsing: filter.joined(separator: "\n"))) ?? SenderFilter(rules: [])
    }
}

/// The senders as configured, and which one a recipient goes through.
public struct MailSenders: Sendable, Equatable {
    public let all: [MailSender]
    private let filters: [(name: String, filter: SenderFilter)]

    public static func == (lhs: MailSenders, rhs: MailSenders) -> Bool { lhs.all == rhs.all }

    /// An empty list is one implicit `direct` sender.
    public init(_ senders: [MailSender]) {
        all = senders.isEmpty ? [.implicitDirect] : senders
        filters = all.map { ($0.name, $0.domainFilter) }
    }

    /// The default sender: the one marked default, else the first.
    public var defaultSender: MailSender { all.first(where: \.isDefault) ?? all[0] }

    public func named(_ name: String) -> MailSender? { all.first { $0.name.lowercased() == name.lowercased() } }

    /// The first sender, in order, whose filter takes mail from `sender` to `recipient`; the
    /// default one when none does.
    public func choose(sender: String, recipient: String) -> MailSender {
        if let name = SenderFilter.choose(from: filters, sender: sender, recipient: recipient), let chosen = named(name) {
            return chosen
        }
        return defaultSender
    }

    /// Why the list cannot be used; nil when it can.
    public static func problem(_ senders: [MailSender]) -> String? {
        if senders.count > 10 { return "at most 10 senders" }
        if let bad = senders.lazy.compactMap(\.problem).first { return bad }
        let names = senders.map { $0.name.lowercased() }
        if Set(names).count != names.count { return "two senders have the same name" }
        if senders.filter(\.isDefault).count > 1 { return "only one sender can be the default" }
        return nil
    }
}
