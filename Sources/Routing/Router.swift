import Facts
import Foundation
import Projections

/// Recipient resolution over one directory snapshot and the settings that shape it: aliases,
/// lists, the implied `user@local-domain` mappings, the relay decision and list expansion.
/// Pure: no I/O, no clock; the SMTP gateway asks it, and so will every other writer of mail.
public struct Router: Sendable {
    public let snapshot: DirectorySnapshot
    /// VPOP3's default mappings (`mail.disable_default_user_mappings` off).
    public var defaultMappings = true
    /// Who gets mail for `<Postmaster>` (`admin.main_administrator`).
    public var mainAdministrator = "postmaster"
    /// `mail.unknown_local_recipients_outgoing`.
    public var unknownLocalAsOutgoing = false
    /// `lan.forwarding` and `lan.bare_user_names`.
    public var lanForwarding = LANForwarding([])
    /// SRS for forwarded mail; nil when the server has no key to make it with.
    public var senderRewriting: SenderRewriting?
    /// The ListServer's local part (`lists.listserver_name`); empty for none.
    public var listServerName = "listserver"
    /// Whether `mailer_daemon@<local domain>` takes mail commands (`mail.commands`).
    public var mailCommands = true
    /// The day SRS addresses are checked against.
    public var today = Date()

    public init(snapshot: DirectorySnapshot) {
        self.snapshot = snapshot
    }

    /// A recipient `localPart@domain` (`domain` empty for RFC 5321's bare `<Postmaster>`).
    /// `plainLocalPart` is false for a quoted local part that needed its quotes, which is no
    /// user name.
    public func route(localPart: String, plainLocalPart: Bool = true, domain: String, from sender: RouteSender) -> RecipientRoute {
        // RFC 5321 §4.5.1: <Postmaster> without a domain is always local.
        if domain.isEmpty {
            let administrator = mainAdministrator.lowercased()
            return snapshot.users[administrator] != nil ? .local(user: administrator) : .unknownLocal
        }
        // LAN forwarding's explicit addresses come before the directory; its `~@domain`
        // fallbacks after it.
        if !lanForwarding.isEmpty,
           let rule = lanForwarding.explicit(localPart: localPart, domain: domain, isLocalDomain: isLocal(domain: domain)) {
            return .lan(rule.target, address: rule.rewritten("\(localPart)@\(domain)"))
        }
        // SRS: an address we gave a forwarded message as its sender.
        if let senderRewriting, localPart.count > 5, localPart.prefix(5).uppercased() == "SRS0=", isLocal(domain: domain) {
            guard let original = senderRewriting.reverse(localPart, day: SenderRewriting.day(today)) else { return .unknownLocal }
            return .senderReturn(address: original)
        }
        if let local = local(localPart: localPart, plainLocalPart: plainLocalPart, domain: domain) {
            if local == .unknownLocal, let rule = lanForwarding.fallback(domain: domain.lowercased()) {
                return .lan(rule.target, address: rule.rewritten("\(localPart)@\(domain)"))
            }
            // VPOP3's rule: a list that is not public is no address at all for senders who
            // neither authenticated nor may relay (else its remote members make it a relay).
            if case .list(let name) = local, snapshot.lists[name]?.isPublic != true, sender.user == nil, !sender.inRelayNetworks {
                return .unknownLocal
            }
            // VPOP3's "treat locally sent mail for unknown local recipients as outgoing": a
            // domain hosted partly here and partly elsewhere, for senders who may relay.
            if local == .unknownLocal, unknownLocalAsOutgoing, sender.mayRelay { return .remote }
            return local
        }
        if let rule = lanForwarding.fallback(domain: domain.lowercased()) {
            return .lan(rule.target, address: rule.rewritten("\(localPart)@\(domain)"))
        }
        // Not a local domain: relaying.
        if let user = sender.user { return user.maySendInternetMail ? .remote : .internetMailNotAllowed }
        return sender.inRelayNetworks ? .remote : .relayDenied
    }

    /// The local user whose address `address` is (`local@domain`, aliases and default mappings
    /// followed); nil for a list, an outside address or no address at all.
    public func localUser(_ address: String) -> String? {
        guard let at = address.lastIndex(of: "@"),
              case .local(let user)? = local(localPart: String(address[..<at]), domain: String(address[address.index(after: at)...]))
        else { return nil }
        return user
    }

    /// Whether a message with these `X-Loop:` values has already been through distribution
    /// list `name` (a value is one of the list's addresses, `<>` and comments allowed).
    public func hasLooped(list name: String, xLoop values: [String]) -> Bool {
        values.contains { value in
            var address = value.trimmingCharacters(in: .whitespaces)
            if let open = address.firstIndex(of: "<"), let close = address[open...].firstIndex(of: ">") {
                address = String(address[address.index(after: open)..<close])
            } else if let space = address.firstIndex(where: \.isWhitespace) {
                address = String(address[..<space])
            }
            guard let at = address.lastIndex(of: "@"),
                  case .list(let list)? = local(localPart: String(address[..<at]), domain: String(address[address.index(after: at)...]))
            else { return false }
            return list == name
        }
    }

    /// Nil when the domain is not local. Aliases first (exact address, then domain patterns,
    /// then the bare name), then VPOP3's implied `<user>@<each local domain>` mappings.
    public func local(localPart: String, plainLocalPart: Bool = true, domain: String) -> RecipientRoute? {
        let domain = domain.lowercased()
        guard isLocal(domain: domain) else { return nil }
        let local = localPart.lowercased()
        // A reply to a collector's notice of a message left on the server: taken and
        // discarded here, read by the collector service from the accepted message.
        if local.hasPrefix(MessageLeftOnServer.replyPrefix) { return .discard }
        let address = "\(local)@\(domain)"
        var target = snapshot.aliases[address]
        if target == nil {
            target = snapshot.aliases.first { key, _ in
                guard let at = key.lastIndex(of: "@") else { return false }
                return key[..<at] == local && DirectoryRules.matches(pattern: String(key[key.index(after: at)...]), domain: domain)
            }?.value
        }
        if target == nil { target = snapshot.aliases[local] }
        if let target {
            switch target.kind {
            case .user: return snapshot.users[target.name.lowercased()] != nil ? .local(user: target.name.lowercased()) : .unknownLocal
            case .list: return snapshot.lists[target.name.lowercased()] != nil ? .list(target.name.lowercased()) : .unknownLocal
            case .remote: return .remote
            case .noOne: return .discard
            }
        }
        if plainLocalPart, !listServerName.isEmpty, local == listServerName.lowercased(),
           snapshot.users[local] == nil, snapshot.lists[local] == nil {
            return .listServer
        }
        if plainLocalPart, mailCommands, local == MailCommandAddress.localPart, snapshot.users[local] == nil, snapshot.lists[local] == nil {
            return .mailCommands
        }
        guard defaultMappings, plainLocalPart else { return .unknownLocal }
        if snapshot.users[local] != nil { return .local(user: local) }
        if snapshot.lists[local] != nil { return .list(local) }
        return .unknownLocal
    }

    public func isLocal(domain: String) -> Bool {
        let domain = domain.lowercased()
        return !domain.hasPrefix("[") && snapshot.domains.contains { DirectoryRules.matches(pattern: $0, domain: domain) }
    }

    /// A full address (`local@domain`), a bare user name or an inline `SMTP:` target, as the
    /// members of `list` are written.
    func route(member: String, of list: String) -> RecipientRoute {
        if InlineSMTPTarget.isInline(member) {
            guard case .success(let inline) = InlineSMTPTarget.parse(member) else { return .unknownLocal }
            return .lan(inline.target(passwordSubject: InlineSMTPTarget.passwordSubject(list: list)), address: inline.address)
        }
        guard let at = member.lastIndex(of: "@") else {
            return snapshot.users[member.lowercased()] != nil ? .local(user: member.lowercased()) : .unknownLocal
        }
        let localPart = String(member[..<at]), domain = String(member[member.index(after: at)...])
        if let rule = lanForwarding.explicit(localPart: localPart, domain: domain, isLocalDomain: isLocal(domain: domain)) {
            return .lan(rule.target, address: rule.rewritten(member))
        }
        let found = local(localPart: localPart, domain: domain)
        if found == nil || found == .unknownLocal, let rule = lanForwarding.fallback(domain: domain.lowercased()) {
            return .lan(rule.target, address: rule.rewritten(member))
        }
        return found ?? .remote
    }

    /// A list's members as recipients of a message sent to `address`: local users (also through
    /// their addresses and nested lists, each list and user once) get a local copy; remote
    /// members get the message with the list's address as its envelope sender, and only when
    /// `remoteAllowed` (the list is public, or the sender may relay). Returns the remote
    /// members left out as well.
    public func expand(list name: String, address: String, notify: [String], originalRecipient: String?,
                       remoteAllowed: Bool) -> (recipients: [MessageAccepted.Recipient], withheld: [String]) {
        var recipients: [MessageAccepted.Recipient] = []
        var withheld: [String] = []
        var seenUsers = Set<String>()
        var seenLists: Set<String> = [name]
        var pending = [name]
        while let current = pending.popLast() {
            for member in snapshot.listMembers[current] ?? [] {
                switch route(member: member, of: current) {
                case .local(let user) where seenUsers.insert(user).inserted:
                    recipients.append(.init(address: address, route: .local, user: user, notify: notify,
                                            originalRecipient: originalRecipient))
                case .list(let nested) where seenLists.insert(nested).inserted:
                    pending.append(nested)
                case .remote where remoteAllowed:
                    recipients.append(.init(address: member, route: .remote, notify: notify, originalRecipient: "rfc822;" + address,
                                            envelopeSender: address, distributedBy: address))
                case .remote:
                    withheld.append(member)
                case .lan(let target, let to):
                    // The organisation's own servers: no relaying, whoever posted.
                    recipients.append(.init(address: to, route: .lan, notify: notify, originalRecipient: "rfc822;" + address,
                                            envelopeSender: address, lan: target, distributedBy: address))
                default:
                    break
                }
            }
        }
        return (recipients, withheld)
    }

    /// Whether `user` may send as `address` (RFC 6409 §8.1): one of their own addresses, a list
    /// they belong to, or anything when `anySender` names them (or holds `*`).
    public func may(_ user: UserRecord, sendAs address: String, anySender: [String]) -> Bool {
        if anySender.contains(where: { $0 == "*" || $0.lowercased() == user.id }) { return true }
        guard let at = address.lastIndex(of: "@") else { return false }
        switch local(localPart: String(address[..<at]), domain: String(address[address.index(after: at)...])) {
        case .local(let owner): return owner == user.id
        // A list's members may send as the list.
        case .list(let name): return (snapshot.listMembers[name] ?? []).contains { $0.lowercased() == user.id }
        default: return false
        }
    }
}
