import EventLog
import Facts
import Projections

extension Directory {
    // MARK: Aliases

    /// Maps an address (`name` or `name@domain`) to a user, a list, `*REMOTE` or `No-one`.
    public func addAlias(_ address: String, target: String) async throws {
        let address = address.lowercased()
        guard DirectoryRules.isAliasAddress(address) else { throw DirectoryError.invalid("alias address", address) }
        try await change { _, directory in
            guard directory.aliases[address] == nil else { throw DirectoryError.exists("alias", address) }
            let resolved: AliasTarget
            switch target.lowercased() {
            case "*remote": resolved = AliasTarget(kind: .remote, name: "*REMOTE")
            case "no-one": resolved = AliasTarget(kind: .noOne, name: "No-one")
            case let id where directory.users[id] != nil: resolved = AliasTarget(kind: .user, name: id)
            case let id where directory.lists[id] != nil: resolved = AliasTarget(kind: .list, name: id)
            default: throw DirectoryError.notFound("user or list", target)
            }
            return ([AliasAdded(address: address, target: resolved)], ())
        }
    }

    public func removeAlias(_ address: String) async throws {
        let address = address.lowercased()
        try await change { _, directory in
            guard directory.aliases[address] != nil else { throw DirectoryError.notFound("alias", address) }
            return ([AliasRemoved(address: address)], ())
        }
    }

    // MARK: Groups

    public func createGroup(_ name: String, enabled: Bool = true) async throws {
        guard DirectoryRules.isUserName(name) else { throw DirectoryError.invalid("group name", name) }
        try await change { _, directory in
            try directory.checkNameFree(name)
            return ([GroupCreated(name: name, enabled: enabled)], ())
        }
    }

    public func setGroupEnabled(_ name: String, _ enabled: Bool) async throws {
        try await change { _, directory in
            guard directory.groups[name.lowercased()] != nil else { throw DirectoryError.notFound("group", name) }
            return ([GroupChanged(name: name.lowercased(), enabled: enabled)], ())
        }
    }

    public func removeGroup(_ name: String) async throws {
        try await change { _, directory in
            guard directory.groups[name.lowercased()] != nil else { throw DirectoryError.notFound("group", name) }
            return ([GroupRemoved(name: name.lowercased())], ())
        }
    }

    /// Puts a user in a custom group, taking them out of the one they were in: a user is in at
    /// most one custom group.
    public func addGroupMember(_ group: String, user: String) async throws {
        let groupID = group.lowercased(), userID = user.lowercased()
        try await change { _, directory in
            guard directory.groups[groupID] != nil else {
                if DirectoryRules.builtinGroups.contains(where: { $0.lowercased() == groupID }) {
                    throw DirectoryError.inUse("membership of \(group) follows the users' settings")
                }
                throw DirectoryError.notFound("group", group)
            }
            guard directory.users[userID] != nil else { throw DirectoryError.notFound("user", user) }
            if directory.groupMembers[groupID]?.contains(userID) == true { return ([], ()) }
            var events: [any Event] = []
            for (other, members) in directory.groupMembers.sorted(by: { $0.key < $1.key }) where members.contains(userID) {
                events.append(GroupMemberRemoved(group: other, userID: userID))
            }
            events.append(GroupMemberAdded(group: groupID, userID: userID))
            return (events, ())
        }
    }

    public func removeGroupMember(_ group: String, user: String) async throws {
        let groupID = group.lowercased(), userID = user.lowercased()
        try await change { _, directory in
            guard directory.groupMembers[groupID]?.contains(userID) == true else {
                throw DirectoryError.notFound("member of \(group)", user)
            }
            return ([GroupMemberRemoved(group: groupID, userID: userID)], ())
        }
    }

    // MARK: Lists

    public func createList(_ list: ListRecord) async throws {
        guard DirectoryRules.isUserName(list.name) else { throw DirectoryError.invalid("list name", list.name) }
        try DirectoryRules.checkText(list.description, field: "list description")
        try await change { _, directory in
            try directory.checkNameFree(list.name)
            return ([ListCreated(list: list)], ())
        }
    }

    /// Changes a list: its visibility, description and (for a mailing list) its options;
    /// `change` gets the record as it is and returns it as it should be.
    public func changeList(_ name: String, _ change: @escaping @Sendable (inout ListRecord) throws -> Void) async throws -> ListRecord {
        let id = name.lowercased()
        return try await self.change { _, directory in
            guard var list = directory.lists[id] else { throw DirectoryError.notFound("list", name) }
            let before = list
            try change(&list)
            try DirectoryRules.checkText(list.description, field: "list description")
            if list.kind != .mailing, list.mailing != nil {
                throw DirectoryError.invalid("list options", "only a mailing list has posting and subscription options")
            }
            if let problem = list.mailing?.problem { throw DirectoryError.invalid("list options", problem) }
            if list.kind == .forwarding, (directory.listMembers[id]?.count ?? 0) > 1 {
                throw DirectoryError.inUse("a forwarding list has exactly one member")
            }
            return (list == before ? [] : [ListChanged(list: list)], list)
        }
    }

    /// Removes a list and the aliases that point at it.
    public func removeList(_ name: String) async throws {
        let id = name.lowercased()
        try await change { transaction, directory in
            guard directory.lists[id] != nil else { throw DirectoryError.notFound("list", name) }
            var events: [any Event] = []
            for (address, target) in directory.aliases.sorted(by: { $0.key < $1.key })
            where target.kind == .list && target.name == id {
                events.append(AliasRemoved(address: address))
            }
            events.append(ListRemoved(name: id))
            // The sealed passwords of its inline targets.
            if let vault = self.vault {
                try await vault.delete(subject: InlineSMTPTarget.passwordSubject(list: id), on: transaction.connection)
            }
            return (events, ())
        }
    }

    /// Adds a member: a local user name, a full address, or an inline LAN forwarding target
    /// (`SMTP:<address>@[<user>:<password>@]<server>[:<port>]`, parsed strictly, its password
    /// sealed into the vault in the same transaction). A forwarding list has exactly one.
    public func addListMember(_ list: String, address: String, in joined: ProjectionTransaction? = nil) async throws {
        let id = list.lowercased()
        var inline: InlineSMTPTarget?
        if InlineSMTPTarget.isInline(address) {
            switch InlineSMTPTarget.parse(address) {
            case .failure(let problem): throw DirectoryError.invalid("inline SMTP target", problem.description)
            case .success(let target): inline = target
            }
            if case .sealed = inline?.password {
                throw DirectoryError.invalid("inline SMTP target", "give the password itself, not a sealed reference")
            }
            if inline?.password != nil, vault == nil { throw DirectoryError.noKeyDirectory }
        }
        let vault = self.vault, parsed = inline
        try await change(in: joined) { transaction, directory in
            guard let record = directory.lists[id] else { throw DirectoryError.notFound("list", list) }
            let members = directory.listMembers[id] ?? []
            var member = address.lowercased()
            if var target = parsed {
                // The target's address keeps its case: it is sent as written.
                if members.contains(where: { Self.sameTarget($0, target) }) { return ([], ()) }
                if case .clear(let password) = target.password, let vault {
                    target.password = .sealed(try await vault.store(Array(password.utf8), purpose: InlineSMTPTarget.passwordPurpose,
                                                                    subject: InlineSMTPTarget.passwordSubject(list: id),
                                                                    on: transaction.connection))
                }
                member = target.stored
            } else {
                if !member.contains("@") && directory.users[member] == nil { throw DirectoryError.notFound("user", address) }
                if member.contains("@") && !DirectoryRules.isAliasAddress(member) { throw DirectoryError.invalid("address", address) }
                if members.contains(member) { return ([], ()) }
                if let nested = Self.listNamed(by: member, in: directory), Self.reaches(nested, id, in: directory) {
                    throw DirectoryError.invalid("list member", "\(address) would make list \(list) contain itself")
                }
            }
            if record.kind == .forwarding && !members.isEmpty {
                throw DirectoryError.inUse("a forwarding list has exactly one member")
            }
            return ([ListMemberAdded(list: id, address: member)], ())
        }
    }

    /// Removes a member; an inline target is named by its address and server (with or without
    /// its login), and its sealed password goes with it.
    public func removeListMember(_ list: String, address: String, in joined: ProjectionTransaction? = nil) async throws {
        let id = list.lowercased()
        let inline = InlineSMTPTarget.isInline(address) ? try? InlineSMTPTarget.parse(address).get() : nil
        let vault = self.vault
        try await change(in: joined) { transaction, directory in
            let members = directory.listMembers[id] ?? []
            let member = inline.flatMap { target in members.first { Self.sameTarget($0, target) } }
                ?? members.first { $0 == address.lowercased() || $0 == address }
            guard let member else { throw DirectoryError.notFound("member of \(list)", address) }
            if let vault, case .success(let target) = InlineSMTPTarget.parse(member), case .sealed(let secret) = target.password {
                try await vault.delete([secret], on: transaction.connection)
            }
            return ([ListMemberRemoved(list: id, address: member)], ())
        }
    }

    /// The list a member address stands for (`name@<local domain>`, or an alias to a list).
    static func listNamed(by member: String, in directory: DirectorySnapshot) -> String? {
        guard let at = member.lastIndex(of: "@") else { return nil }
        let local = String(member[..<at]), domain = String(member[member.index(after: at)...])
        guard directory.domains.contains(where: { DirectoryRules.matches(pattern: $0, domain: domain) }) else { return nil }
        if let alias = directory.aliases[member] ?? directory.aliases[local] {
            return alias.kind == .list ? alias.name.lowercased() : nil
        }
        return directory.lists[local] != nil ? local : nil
    }

    /// Whether list `from` is `target` or has it among its members, however deep.
    static func reaches(_ from: String, _ target: String, in directory: DirectorySnapshot) -> Bool {
        var seen: Set<String> = []
        var pending = [from]
        while let current = pending.popLast() {
            if current == target { return true }
            guard seen.insert(current).inserted else { continue }
            pending += (directory.listMembers[current] ?? []).compactMap { listNamed(by: $0, in: directory) }
        }
        return false
    }

    /// Whether a stored member is the inline target `target` (same address, server and user).
    static func sameTarget(_ member: String, _ target: InlineSMTPTarget) -> Bool {
        guard InlineSMTPTarget.isInline(member), case .success(let stored) = InlineSMTPTarget.parse(member) else { return false }
        return stored.address.lowercased() == target.address.lowercased() && stored.server == target.server
            && (target.user == nil || stored.user == target.user)
    }
}

extension Directory {
    /// A moderator's decision on a post held for `token`, for the list agent to carry out.
    /// Throws when no post waits on the token.
    public func moderate(token: String, approved: Bool, reason: String?) async throws -> ListsProjection.Pending {
        try await engine.transaction { transaction in
            guard let pending = try await ListsProjection.pending(token: token.lowercased(), on: transaction.connection, logger: logger),
                  pending.kind == "post" else {
                throw DirectoryError.notFound("held post", token)
            }
            try await transaction.append([PendingEvent(ListPostModerated(list: pending.list, token: pending.token, approved: approved,
                                                                         actor: actor ?? "cli", reason: reason))],
                                         to: try ListPostDistributed.stream(list: pending.list), expectedVersion: .any)
            return pending
        }
    }

    /// What waits on a token: held posts and unconfirmed subscription changes, of one list or all.
    public func pending(list: String?) async throws -> [ListsProjection.Pending] {
        try await engine.transaction { try await ListsProjection.pending(list: list, on: $0.connection, logger: logger) }
    }
}
