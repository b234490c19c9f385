import Foundation
import MailCore

/// A LAN forwarding rule (VPOP3's "LAN Forwarding"): recipients whose address matches go to
/// another SMTP server on the local network (an Exchange or Linux server), with no MX lookup
/// and no schedule, through their own always-on queue. Kept, in order, in the setting
/// `lan.forwarding`; the first rule that matches takes the recipient.
///
/// The password is never here: `passwordSecret` names it in the secret vault (purpose
/// `lan-password`, subject `lan:<name>`), sealed with the key outside the database.
public struct LANForwardRule: Codable, Sendable, Equatable {
    /// Letters, digits, `-`, `_` and `.`; the queue shows it as `lan:<name>`.
    public var name: String
    /// One pattern each, case-insensitive, with DOS wildcards (`*`, `?`): `sales@example.com`,
    /// `*@branch.example.com`. `~@domain` is a fallback, tried only after users, aliases and
    /// lists. A pattern without `@` is a bare user name, matched on every local domain, and only
    /// when `lan.bare_user_names` is on.
    public var addresses: [String]
    /// The target server: a host name or an IP address.
    public var server: String
    public var port: Int
    /// STARTTLS when the server offers it (the default), required, or never. The certificate
    /// of a LAN server is not checked.
    public var encryption: MailSender.Encryption
    /// SMTP AUTH user; nil sends without logging in.
    public var user: String?
    /// The vault id of the password.
    public var passwordSecret: UUID?
    /// `*@newdomain` keeps the user part and changes the domain; a full address replaces the
    /// address; nil leaves it as it is.
    public var rewrite: String?

    public init(name: String, addresses: [String] = [], server: String = "", port: Int = 25,
                encryption: MailSender.Encryption = .starttlsIfAvailable, user: String? = nil, passwordSecret: UUID? = nil,
                rewrite: String? = nil) {
        self.name = name
        self.addresses = addresses
        self.server = server
        self.port = port
        self.encryption = encryption
        self.user = user
        self.passwordSecret = passwordSecret
        self.rewrite = rewrite
    }

    enum CodingKeys: String, CodingKey {
        case name, addresses, server, port, encryption, user, rewrite
        case passwordSecret = "password_secret"
    }

    /// Everything but the name and the server may be left out of the JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), server: try container.decode(String.self, forKey: .server))
        addresses = try container.decodeIfPresent([String].self, forKey: .addresses) ?? []
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? 25
        encryption = try container.decodeIfPresent(MailSender.Encryption.self, forKey: .encryption) ?? .starttlsIfAvailable
        user = try container.decodeIfPresent(String.self, forKey: .user)
        passwordSecret = try container.decodeIfPresent(UUID.self, forKey: .passwordSecret)
        rewrite = try container.decodeIfPresent(String.self, forKey: .rewrite)
    }

    public static let passwordPurpose = "lan-password"
    public static func passwordSubject(_ name: String) -> String { "lan:\(name.lowercased())" }

    /// Where the rule's recipients go, as their queue entries carry it.
    public var target: LANTarget {
        LANTarget(rule: name, server: server, port: port, encryption: encryption, user: user, passwordSecret: passwordSecret)
    }

    /// Why this rule cannot be used as it stands; nil when it can.
    public var problem: String? {
        let who = "LAN forwarding rule \(name)"
        if !MailSender.isName(name) { return "\(who): the name must be 1 to 64 letters, digits, -, _ or ." }
        if addresses.isEmpty { return "\(who): it has no addresses" }
        for pattern in addresses {
            if let problem = Self.patternProblem(pattern) { return "\(who): \(pattern): \(problem)" }
        }
        switch MailSender.parseRelay(server) {
        case .failure(let problem): return "\(who): server \(problem)"
        case .success(let parsed):
            if server.lowercased() != parsed.host && server.lowercased() != "[\(parsed.host)]" {
                return "\(who): give the port with port, not in the server"
            }
        }
        if !(1...65_535).contains(port) { return "\(who): the port must be 1...65535" }
        if encryption == .ssl { return "\(who): implicit TLS is not used for LAN forwarding (none, starttls or starttls-if-available)" }
        if passwordSecret != nil && user == nil { return "\(who): a password without a user" }
        if let user, user.isEmpty || user.utf8.count > 255 || user.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return "\(who): the user must be 1 to 255 characters without control characters"
        }
        if let rewrite, let problem = Self.rewriteProblem(rewrite) { return "\(who): rewrite \(rewrite): \(problem)" }
        return nil
    }

    static func patternProblem(_ pattern: String) -> String? {
        if pattern.isEmpty || pattern.utf8.count > 320 { return "a pattern is 1 to 320 characters" }
        if pattern.unicodeScalars.contains(where: { $0.value <= 0x20 || $0 == "<" || $0 == ">" || $0 == "," || $0 == ";" }) {
            return "a pattern has no spaces, control characters, <, >, comma or semicolon"
        }
        let parts = pattern.split(separator: "@", omittingEmptySubsequences: false)
        if parts.count > 2 { return "more than one @" }
        if parts.count == 2 {
            if parts[0].isEmpty || parts[1].isEmpty { return "both sides of @ are needed" }
            if parts[0].contains("~") && parts[0] != "~" { return "~ stands alone before @ (~@domain)" }
        } else if pattern.contains("~") {
            return "~ is only used as ~@domain"
        }
        return nil
    }

    static func rewriteProblem(_ rewrite: String) -> String? {
        let parts = rewrite.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, (try? DomainName(String(parts[1]))) != nil else {
            return "write *@newdomain or a full address"
        }
        if parts[0] != "*" && parts[0].contains(where: { $0 == "*" || $0 == "?" || $0 == " " }) {
            return "the user part is * or a plain name"
        }
        return nil
    }

    /// The address a recipient leaves with after `rewrite`.
    public func rewritten(_ address: String) -> String {
        guard let rewrite, let at = rewrite.lastIndex(of: "@") else { return address }
        if rewrite[..<at] == "*" {
            let local = address.lastIndex(of: "@").map { address[..<$0] } ?? Substring(address)
            return "\(local)\(rewrite[at...])"
        }
        return rewrite
    }
}

/// Where a LAN-forwarded recipient goes: a rule's server, or an inline `SMTP:` target's.
/// Carried on the recipient in `message_accepted`, so the queue knows the target whatever
/// the rules say later (a rule still present by its name is used as it then stands).
public struct LANTarget: Codable, Sendable, Hashable {
    /// The rule; nil for an inline target.
    public var rule: String?
    public var server: String
    public var port: Int
    public var encryption: MailSender.Encryption
    public var user: String?
    /// The password in the vault: a rule's (`lan:<rule>`), or an inline target's (its list's).
    public var passwordSecret: UUID?
    /// The vault subject `passwordSecret` is filed under (a label such as `lan:<rule>` or
    /// `list:<name>`, never the password).
    public var vaultSubject: String?

    public init(rule: String?, server: String, port: Int, encryption: MailSender.Encryption = .starttlsIfAvailable,
                user: String? = nil, passwordSecret: UUID? = nil, vaultSubject: String? = nil) {
        self.rule = rule
        self.server = server
        self.port = port
        self.encryption = encryption
        self.user = user
        self.passwordSecret = passwordSecret
        self.vaultSubject = vaultSubject ?? rule.map(LANForwardRule.passwordSubject)
    }

    enum CodingKeys: String, CodingKey {
        case rule, server, port, encryption, user
        case passwordSecret = "password_secret", vaultSubject = "vault_subject"
    }

    /// `lan:<rule>`, or `lan:<server>:<port>` for an inline target: the queue's name for it
    /// and its attempts' route.
    public var label: String {
        if let rule { return "lan:\(rule)" }
        return "lan:" + MailSender.RelayServer(host: server, port: port).description
    }
}

/// The LAN forwarding rules in order, and which one takes an address.
public struct LANForwarding: Sendable, Equatable {
    public let rules: [LANForwardRule]
    /// `lan.bare_user_names`: patterns without a domain match on every local domain.
    public let bareUserNames: Bool

    public init(_ rules: [LANForwardRule], bareUserNames: Bool = false) {
        self.rules = rules
        self.bareUserNames = bareUserNames
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// The first rule with an explicit pattern (not `~@`) matching `local@domain`.
    /// `isLocalDomain` says whether a bare user name may match.
    public func explicit(localPart: String, domain: String, isLocalDomain: Bool) -> LANForwardRule? {
        let address = "\(localPart)@\(domain)".lowercased()
        return rules.first { rule in
            rule.addresses.contains { pattern in
                if pattern.hasPrefix("~@") { return false }
                if !pattern.contains("@") {
                    return bareUserNames && isLocalDomain && DirectoryRules.matches(pattern: pattern, domain: localPart.lowercased())
                }
                return DirectoryRules.matches(pattern: pattern, domain: address)
            }
        }
    }

    /// The first rule whose `~@domain` fallback takes `domain`.
    public func fallback(domain: String) -> LANForwardRule? {
        rules.first { rule in
            rule.addresses.contains { $0.hasPrefix("~@") && DirectoryRules.matches(pattern: String($0.dropFirst(2)), domain: domain) }
        }
    }

    public func named(_ name: String) -> LANForwardRule? { rules.first { $0.name.lowercased() == name.lowercased() } }

    /// Why the list cannot be used; nil when it can.
    public static func problem(_ rules: [LANForwardRule]) -> String? {
        if let bad = rules.lazy.compactMap(\.problem).first { return bad }
        let names = rules.map { $0.name.lowercased() }
        if Set(names).count != names.count { return "two LAN forwarding rules have the same name" }
        return nil
    }
}
