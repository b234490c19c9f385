import EventLog
import Facts

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
        try await change { _, directory in
            try directory.checkNameFree(list.name)
            return ([ListCreated(list: list)], ())
        }
    }

    /// Removes a list and the aliases that point at it.
    public func removeList(_ name: String) async throws {
        let id = name.lowercased()
        try await change { _, directory in
            guard directory.lists[id] != nil else { throw DirectoryError.notFound("list", name) }
            var events: [any Event] = []
            for (address, target) in directory.aliases.sorted(by: { $0.key < $1.key })
            where target.kind == .list && target.name == id {
                events.append(AliasRemoved(address: address))
            }
            events.append(ListRemoved(name: id))
            return (events, ())
        }
    }

    /// Adds a member: a local user name or a full address. A forwarding list has exactly one.
    public func addListMember(_ list: String, address: String) async throws {
        let id = list.lowercased()
        try await change { _, directory in
            guard let record = directory.lists[id] else { throw DirectoryError.notFound("list", list) }
            let member = address.lowercased()
            if !member.contains("@") && directory.users[member] == nil { throw DirectoryError.notFound("user", address) }
            if member.contains("@") && !DirectoryRules.isAliasAddress(member) { throw DirectoryError.invalid("address", address) }
            let members = directory.listMembers[id] ?? []
            if members.contains(member) { return ([], ()) }
            if record.kind == .forwarding && !members.isEmpty {
                throw DirectoryError.inUse("a forwarding list has exactly one member")
            }
            return ([ListMemberAdded(list: id, address: member)], ())
        }
    }

    public func removeListMember(_ list: String, address: String) async throws {
        let id = list.lowercased(), member = address.lowercased()
        try await change { _, directory in
            guard directory.listMembers[id]?.contains(member) == true else {
                throw DirectoryError.notFound("member of \(list)", address)
            }
            return ([ListMemberRemoved(list: id, address: member)], ())
        }
    }
}
