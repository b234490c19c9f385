import Commands
import Facts
import Foundation
import IMAPWire
import Projections

/// Folders shared between users (RFC 4314 ACL, RFC 2342 NAMESPACE): another user's folder is
/// `Other Users/<owner>/<folder>`, visible to whoever has `l` on it, usable as its rights say;
/// the public folders (`MailboxNames.publicOwner`'s) are `Shared/<folder>`.
extension IMAPSession {
    static let otherUsers = "Other Users"
    static let publicNamespace = "Shared"

    /// Whose folder a name is, and its name in that account.
    struct Location: Equatable {
        let owner: String
        let name: String
    }

    /// Where a stored (decoded) name points: the user's own folder, under `Other Users/`
    /// another's, under `Shared/` a public one; nil for the namespaces' own levels
    /// (`Other Users`, `Other Users/bob`, `Shared`).
    func locate(_ stored: String, user: UserRecord) -> Location? {
        let publicPrefix = Self.publicNamespace + "/"
        if stored == Self.publicNamespace { return nil }
        if stored.hasPrefix(publicPrefix) {
            let name = String(stored.dropFirst(publicPrefix.count))
            return name.isEmpty ? nil : Location(owner: MailboxNames.publicOwner, name: name)
        }
        let prefix = Self.otherUsers + "/"
        guard stored.hasPrefix(prefix) || stored == Self.otherUsers else { return Location(owner: user.id, name: stored) }
        let rest = stored.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let owner = rest[..<slash].lowercased(), name = String(rest[rest.index(after: slash)...])
        guard !owner.isEmpty, !name.isEmpty else { return nil }
        return Location(owner: owner, name: name)
    }

    /// The name a client sees for `owner`'s folder `name`.
    func visibleName(owner: String, _ name: String, user: UserRecord) -> String {
        owner == user.id ? name : owner == MailboxNames.publicOwner ? "\(Self.publicNamespace)/\(name)" : "\(Self.otherUsers)/\(owner)/\(name)"
    }

    /// What `user` may do in `owner`'s folder: everything in their own, and in the public
    /// folders when they are an administrator; else what the folder's ACL grants.
    func rights(owner: String, mailboxID: Int64, user: UserRecord) async throws -> String {
        if owner == user.id || (owner == MailboxNames.publicOwner && user.admin) { return MailboxRights.owner }
        return try await accounts.mail.reader.myRights(user.id, owner: owner, mailboxID: mailboxID)
    }

    /// The folder a client named, with the user's rights on it; nil when it does not exist or
    /// the user may not know of it (no `l` and no `r`, RFC 4314 §6: answered as NONEXISTENT).
    func folder(_ wireName: String, user: UserRecord) async throws -> (location: Location, mailbox: MailboxInfo, rights: String)? {
        guard let stored = storedName(wireName), let location = locate(stored, user: user),
              let mailbox = try await accounts.mail.reader.mailbox(location.owner, named: location.name) else { return nil }
        let rights = try await rights(owner: location.owner, mailboxID: mailbox.id, user: user)
        guard rights.contains("l") || rights.contains("r") else { return nil }
        return (location, mailbox, rights)
    }

    /// `flags` as this user sees them: in a shared folder, \Seen is their own.
    static func viewed(_ flags: [String], uid: UInt32, in current: Selected) -> [String] {
        guard let seen = current.seenByMe else { return flags }
        let others = flags.filter { $0.caseInsensitiveCompare("\\Seen") != .orderedSame }
        return seen.contains(uid) ? others + ["\\Seen"] : others
    }

    static func viewed(_ messages: [MessageInfo], in current: Selected) -> [MessageInfo] {
        guard current.seenByMe != nil else { return messages }
        return messages.map { $0.with(flags: viewed($0.flags, uid: $0.uid, in: current)) }
    }

    /// STORE in another user's folder: \Seen is the reader's own (`SharedSeenChanged`), the
    /// other flags the folder's. Returns each target's flags as this user sees them now, the
    /// UIDs whose flags changed, and the UNCHANGEDSINCE failures.
    func sharedStore(_ targets: [UInt32], mode: IMAPStoreMode, flags: [String], unchangedSince: Int64?,
                     user: UserRecord) async throws -> (flags: [UInt32: [String]], changed: Set<UInt32>, modified: [UInt32], modSeq: Int64?) {
        guard let current = selected, var seen = current.seenByMe else { return ([:], [], [], nil) }
        let isSeen = { (flag: String) in flag.caseInsensitiveCompare("\\Seen") == .orderedSame }
        let wantsSeen = flags.contains(where: isSeen)
        let others = flags.filter { !isSeen($0) && $0 != "\\Recent" }
        var changed = Set<UInt32>()
        var modified: [UInt32] = []
        var modSeq: Int64?
        let mail = accounts.mail
        func ownerFlags(_ operation: MailStore.FlagOperation, _ uids: [UInt32], _ flags: [String]) async throws {
            guard !uids.isEmpty else { return }
            let result = try await mail.setFlags(user: current.owner, mailboxID: current.mailbox.id, uids: uids, operation, flags,
                                                 unchangedSince: unchangedSince)
            changed.formUnion(result.changed)
            modified += result.modified
            if let value = result.modSeq { modSeq = max(modSeq ?? value, value) }
        }
        switch mode {
        case .add, .remove:
            try await ownerFlags(mode == .add ? .add : .remove, others.isEmpty ? [] : targets, others)
        case .replace:
            // The folder's flags but \Seen become `others`; the owner keeps their own \Seen.
            let owned = try await mail.reader.messages(current.owner, mailboxID: current.mailbox.id, uids: targets)
            let ownerSeen = owned.filter { $0.flags.contains(where: isSeen) }.map(\.uid)
            try await ownerFlags(.replace, ownerSeen, others + ["\\Seen"])
            try await ownerFlags(.replace, owned.map(\.uid).filter { !ownerSeen.contains($0) }, others)
        }
        if wantsSeen || mode == .replace {
            let setting = mode == .remove ? false : wantsSeen
            let (flipped, seenModSeq) = try await mail.setSeen(reader: user.id, owner: current.owner, mailboxID: current.mailbox.id,
                                                               uids: targets.filter { !modified.contains($0) }, seen: setting)
            for uid in flipped { if setting { seen.insert(uid) } else { seen.remove(uid) } }
            changed.formUnion(flipped)
            if let value = seenModSeq { modSeq = max(modSeq ?? value, value) }
        }
        setSelected { $0.seenByMe = seen }
        var shown: [UInt32: [String]] = [:]
        guard let now = selected else { return ([:], changed, modified, modSeq) }
        for message in try await mail.reader.messages(current.owner, mailboxID: current.mailbox.id, uids: targets) {
            shown[message.uid] = Self.viewed(message.flags, uid: message.uid, in: now)
        }
        return (shown, changed, modified, modSeq)
    }

    /// Whether the user may create (`k`, on the parent) or delete (`x`) at `location`: always
    /// in their own folders.
    func mayChange(_ location: Location, right: Character, onParent: Bool, user: UserRecord) async throws -> Bool {
        guard location.owner != user.id else { return true }
        // Administrators may do anything among the public folders, including make new ones at the top.
        if location.owner == MailboxNames.publicOwner && user.admin { return true }
        var name = location.name
        if onParent {
            guard let slash = name.lastIndex(of: "/") else { return false }
            name = String(name[..<slash])
        }
        guard let mailbox = try await accounts.mail.reader.mailbox(location.owner, named: name) else { return false }
        return try await rights(owner: location.owner, mailboxID: mailbox.id, user: user).contains(right)
    }

    /// Before a command on the selected folder of another user: its rights read again. When
    /// `r` was taken away the folder is closed (`* OK [CLOSED]`) and the command refused.
    func rightsStillHold(_ tag: String, user: UserRecord) async throws -> Bool {
        guard case .selected(let user, var current) = state, current.owner != user.id else { return true }
        current.rights = try await rights(owner: current.owner, mailboxID: current.mailbox.id, user: user)
        guard current.rights.contains("r") else {
            state = .authenticated(user)
            searchContexts = []
            savedResult = []
            untagged("OK [CLOSED] Access to the mailbox was taken away")
            tagged(tag, "NO [NOPERM] You may no longer read this mailbox")
            return false
        }
        state = .selected(user, current)
        return true
    }

    static func text(_ value: String) -> String { String(decoding: IMAPText.string(value), as: UTF8.self) }

    /// RFC 4314 §3: SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS.
    func aclCommand(_ command: IMAPCommand, user: UserRecord) async throws {
        let tag = command.tag
        let name: String
        switch command.kind {
        case .setACL(let mailbox, _, _), .deleteACL(let mailbox, _), .getACL(let mailbox), .listRights(let mailbox, _),
             .myRights(let mailbox):
            name = mailbox
        default:
            return
        }
        guard let (location, mailbox, rights) = try await folder(name, user: user) else {
            tagged(tag, .noSuchMailbox)
            return
        }
        let shown = String(decoding: wireName(visibleName(owner: location.owner, location.name, user: user)), as: UTF8.self)
        if case .myRights = command.kind {
            untagged("MYRIGHTS \(shown) \(rights)")
            tagged(tag, .completed("MYRIGHTS"))
            return
        }
        guard rights.contains("a") else {
            tagged(tag, "NO [NOPERM] You may not administer this mailbox")
            return
        }
        switch command.kind {
        case .setACL(_, let identifier, let change):
            let identifier = identifier.lowercased()
            guard MailboxRights.isIdentifier(identifier), identifier != location.owner else {
                tagged(tag, identifier == location.owner ? "NO [CANNOT] The owner's rights cannot change" : "BAD Unknown identifier")
                return
            }
            let current = try await accounts.mail.reader.rights(location.owner, mailboxID: mailbox.id)[identifier] ?? ""
            var letters = change
            let mode = letters.first
            if mode == "+" || mode == "-" { letters.removeFirst() }
            guard let asked = MailboxRights.normalised(letters) else {
                tagged(tag, "BAD Rights are letters of \(MailboxRights.all)")
                return
            }
            let updated = mode == "+" ? MailboxRights.normalised(current + asked) ?? current
                : mode == "-" ? String(current.filter { !asked.contains($0) }) : asked
            try await accounts.mail.setRights(owner: location.owner, mailbox: mailbox.name, identifier: identifier, rights: updated)
            accounts.noteChange()
            tagged(tag, .completed("SETACL"))
        case .deleteACL(_, let identifier):
            guard identifier.lowercased() != location.owner else {
                tagged(tag, "NO [CANNOT] The owner's rights cannot change")
                return
            }
            try await accounts.mail.setRights(owner: location.owner, mailbox: mailbox.name, identifier: identifier, rights: "")
            accounts.noteChange()
            tagged(tag, .completed("DELETEACL"))
        case .getACL:
            let entries = try await accounts.mail.reader.rights(location.owner, mailboxID: mailbox.id)
            // The public folders have no owner to list.
            let owner = location.owner == MailboxNames.publicOwner ? [] : [(location.owner, MailboxRights.owner)]
            let listed = owner + entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            untagged("ACL \(shown)" + listed.map { " \(Self.text($0.0)) \($0.1)" }.joined())
            tagged(tag, .completed("GETACL"))
        case .listRights(_, let identifier):
            // Nothing is granted without asking; each right can be granted on its own.
            let required = identifier.lowercased() == location.owner ? MailboxRights.owner : "\"\""
            let optional = identifier.lowercased() == location.owner ? "" : " " + MailboxRights.all.map(String.init).joined(separator: " ")
            untagged("LISTRIGHTS \(shown) \(Self.text(identifier)) \(required)\(optional)")
            tagged(tag, .completed("LISTRIGHTS"))
        default:
            break
        }
    }
}
