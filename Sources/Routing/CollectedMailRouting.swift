import Facts
import Foundation
import MailCore

/// Where a message collected from an ISP mailbox goes: every message to one user or list, or
/// (a catch-all mailbox) the local recipients found in its header fields. Pure over a
/// `Router`: the collector asks it with the message's header section.
public struct CollectedMailRouting: Sendable {
    public let router: Router
    public let routing: MailCollector.Routing

    public init(router: Router, routing: MailCollector.Routing) {
        self.router = router
        self.routing = routing
    }

    /// A recognised recipient: the address it was found as and where it goes.
    public struct Recipient: Sendable, Equatable {
        public var address: String
        public var route: RecipientRoute

        public init(address: String, route: RecipientRoute) {
            self.address = address
            self.route = route
        }
    }

    /// The header fields searched (VPOP3's list, and the envelope fields ISPs add).
    static let searched = ["to", "cc", "apparently-to", "delivered-to", "x-original-to", "envelope-to", "received"]

    /// The recipients, each local user or list once; empty when none is recognised.
    public func recipients(header: [UInt8]) -> [Recipient] {
        switch routing {
        case .allTo(let target):
            guard let route = Self.target(target, router: router) else { return [] }
            return [Recipient(address: target, route: route)]
        case .parseHeaders(let rules):
            var found: [Recipient] = []
            var seen = Set<String>()
            for address in Self.candidates(header: header, specialHeaders: rules.specialHeaders) where accepted(address, rules) {
                guard let route = resolve(address, rules), seen.insert(Self.key(route)).inserted else { continue }
                found.append(Recipient(address: address, route: route))
            }
            return found
        }
    }

    /// A user name, a list name or a local address.
    public static func target(_ target: String, router: Router) -> RecipientRoute? {
        if let at = target.lastIndex(of: "@") {
            let route = router.local(localPart: String(target[..<at]), domain: String(target[target.index(after: at)...]))
            switch route {
            case .local, .list: return route
            default: return nil
            }
        }
        let name = target.lowercased()
        if router.snapshot.users[name] != nil { return .local(user: name) }
        if router.snapshot.lists[name] != nil { return .list(name) }
        return nil
    }

    private static func key(_ route: RecipientRoute) -> String {
        switch route {
        case .local(let user): "u:" + user
        case .list(let name): "l:" + name
        default: "?"
        }
    }

    /// An address of the mailbox's: its domain is an accepted domain, or it is an accepted
    /// address.
    func accepted(_ address: String, _ rules: MailCollector.HeaderRouting) -> Bool {
        let lower = address.lowercased()
        guard let at = lower.lastIndex(of: "@") else { return false }
        let domain = lower[lower.index(after: at)...]
        return rules.acceptedDomains.contains { entry in
            let entry = entry.trimmingCharacters(in: .whitespaces).lowercased()
            return entry.contains("@") ? entry == lower : entry == domain
        }
    }

    /// The local user or list an accepted address means: the directory's own addresses and
    /// aliases first (a `*REMOTE` alias is not ours: passed over), then, unless the mappings
    /// are off, the local part as a user or list name.
    func resolve(_ address: String, _ rules: MailCollector.HeaderRouting) -> RecipientRoute? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let localPart = String(address[..<at]), domain = String(address[address.index(after: at)...])
        if let alias = router.snapshot.aliases[address.lowercased()] {
            switch alias.kind {
            case .user: return router.snapshot.users[alias.name.lowercased()] != nil ? .local(user: alias.name.lowercased()) : nil
            case .list: return router.snapshot.lists[alias.name.lowercased()] != nil ? .list(alias.name.lowercased()) : nil
            case .remote, .noOne: return nil
            }
        }
        if router.isLocal(domain: domain) {
            var local = router
            local.defaultMappings = !rules.disableMappings
            switch local.local(localPart: localPart, domain: domain) {
            case .local(let user)?: return .local(user: user)
            case .list(let name)?: return .list(name)
            default: return nil
            }
        }
        guard !rules.disableMappings else { return nil }
        let name = localPart.lowercased()
        if router.snapshot.users[name] != nil { return .local(user: name) }
        if router.snapshot.lists[name] != nil { return .list(name) }
        return nil
    }

    /// Every address in the searched fields and the special ones, in order.
    static func candidates(header: [UInt8], specialHeaders: [String]) -> [String] {
        var addresses: [String] = []
        let special = specialHeaders.map(SpecialHeader.init)
        for field in MessageHeader.parse(header).fields {
            let name = field.name.lowercased()
            let value = field.value
            if let rule = special.first(where: { $0.name == name }) {
                if let address = rule.address(in: value) { addresses.append(address) }
                continue
            }
            guard searched.contains(name) else { continue }
            if name == "received" {
                // `for <address>` in a Received field: the envelope recipient the ISP saw.
                if let range = value.range(of: "for <", options: .caseInsensitive),
                   let close = value[range.upperBound...].firstIndex(of: ">") {
                    addresses.append(String(value[range.upperBound..<close]))
                } else if let range = value.range(of: " for ", options: .caseInsensitive) {
                    let word = value[range.upperBound...].prefix { !$0.isWhitespace && $0 != ";" }
                    if word.contains("@") { addresses.append(String(word)) }
                }
                continue
            }
            addresses += MessageAddress.parseList(value).compactMap { address in
                guard let mailbox = address.mailbox, let host = address.host else { return nil }
                return mailbox + "@" + host
            }
        }
        return addresses.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "<> \t\r")) }.filter { !$0.isEmpty }
    }

    /// A special header field: `X-RCPTTO`, or with a pattern, `X-Recipient: account-5123 * delivered`
    /// (`*` the address, `~` anything after it).
    struct SpecialHeader {
        let name: String
        let pattern: [Substring]?

        init(_ text: String) {
            if let colon = text.firstIndex(of: ":") {
                name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let rest = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                pattern = rest.isEmpty ? nil : rest.split(separator: " ")
            } else {
                name = text.trimmingCharacters(in: .whitespaces).lowercased()
                pattern = nil
            }
        }

        /// The one address the field's value holds.
        func address(in value: String) -> String? {
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let pattern else {
                return words.first.map(String.init).flatMap { $0.contains("@") ? $0 : nil }
            }
            var index = 0
            var found: String?
            for item in pattern {
                if item == "~" { return found }
                guard index < words.count else { return nil }
                if item == "*" {
                    found = String(words[index])
                } else if words[index].lowercased() != item.lowercased() {
                    return nil
                }
                index += 1
            }
            return found.flatMap { $0.contains("@") ? $0 : nil }
        }
    }
}
