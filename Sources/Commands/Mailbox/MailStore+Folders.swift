import EventLog
import Facts
import Foundation
import Projections

extension MailStore {
    /// Creates a folder, and any missing parents (RFC 3501 §6.3.3).
    @discardableResult
    public func createMailbox(user: String, name: String, specialUse: String? = nil) async throws -> MailboxInfo {
        let user = user.lowercased()
        let name = try MailboxNames.valid(name)
        return try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            var expected = try await transaction.expectedVersion(of: stream)
            if user == MailboxNames.publicOwner, try await reader.account(user, on: transaction.connection)?.active != true {
                // The public folders' account opens with the first of them.
                try await transaction.append([PendingEvent(MailAccountOpened(user: user, mailboxes: []))], to: stream,
                                             expectedVersion: expected)
                expected = try await transaction.expectedVersion(of: stream)
            }
            guard let account = try await reader.account(user, on: transaction.connection), account.active else {
                throw MailStoreError.noSuchAccount(user)
            }
            let existing = Dictionary(try await reader.mailboxes(user, on: transaction.connection).map { ($0.name, $0) },
                                      uniquingKeysWith: { first, _ in first })
            if let found = existing[name], found.selectable { throw MailStoreError.mailboxExists(name) }
            var events: [PendingEvent] = []
            var nextID = account.nextMailboxID
            var uidValidity = self.nextUIDValidity(after: account.lastUIDValidity)
            let levels = name.split(separator: MailboxNames.delimiter)
            for depth in 1...levels.count {
                let path = levels[..<depth].joined(separator: String(MailboxNames.delimiter))
                if let found = existing[path], found.selectable || depth < levels.count { continue }
                let id = existing[path]?.id ?? nextID
                if existing[path] == nil { nextID += 1 }
                events.append(PendingEvent(MailboxCreated(mailbox: MailboxSpec(
                    mailboxID: id, name: path, uidValidity: uidValidity, specialUse: depth == levels.count ? specialUse : nil)).stamped()))
                uidValidity += 1
            }
            try await transaction.append(events, to: stream, expectedVersion: expected)
            return try await reader.selectableMailbox(user, named: name, on: transaction.connection)
        }
    }

    /// Renames a folder and its children. Renaming INBOX moves its messages to a new folder and
    /// leaves INBOX empty (RFC 3501 §6.3.5).
    public func renameMailbox(user: String, from: String, to: String) async throws {
        let user = user.lowercased()
        let from = MailboxNames.canonical(from)
        let to = try MailboxNames.valid(to)
        try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let all = try await reader.mailboxes(user, on: transaction.connection)
            guard let source = all.first(where: { $0.name == from }) else { throw MailStoreError.noSuchMailbox(from) }
            if all.contains(where: { $0.name == to }) { throw MailStoreError.mailboxExists(to) }
            guard let account = try await reader.account(user, on: transaction.connection) else {
                throw MailStoreError.noSuchAccount(user)
            }
            if from == "INBOX" {
                let spec = MailboxSpec(mailboxID: account.nextMailboxID, name: to,
                                       uidValidity: self.nextUIDValidity(after: account.lastUIDValidity), specialUse: nil)
                let messages = try await reader.messages(user, mailboxID: source.id, uids: nil, on: transaction.connection)
                var events = [PendingEvent(MailboxCreated(mailbox: spec).stamped())]
                if !messages.isEmpty {
                    let copies = messages.enumerated().map { offset, message in
                        MessagesCopied.Copy(sourceUID: message.uid, message: StoredMessage(
                            mailboxID: spec.mailboxID, uid: UInt32(offset + 1), modSeq: 2, flags: message.flags,
                            internalDate: message.internalDate, size: message.size, blob: message.blob))
                    }
                    events.append(PendingEvent(MessagesMoved(sourceMailboxID: source.id, sourceModSeq: source.highestModSeq + 1,
                                                             copies: copies, bytes: messages.reduce(0) { $0 + $1.size }).stamped()))
                }
                try await transaction.append(events, to: stream, expectedVersion: expected)
                return
            }
            let prefix = from + String(MailboxNames.delimiter)
            var renames = [MailboxRenamed.Rename(mailboxID: source.id, from: from, to: to)]
            for child in all where child.name.hasPrefix(prefix) {
                let newName = to + String(MailboxNames.delimiter) + child.name.dropFirst(prefix.count)
                if all.contains(where: { $0.name == newName }) { throw MailStoreError.mailboxExists(newName) }
                renames.append(.init(mailboxID: child.id, from: child.name, to: newName))
            }
            try await transaction.append([PendingEvent(MailboxRenamed(renames: renames).stamped())], to: stream, expectedVersion: expected)
        }
    }

    /// Deletes a folder and its messages (RFC 3501 §6.3.4): with children it stays as \Noselect.
    public func deleteMailbox(user: String, name: String) async throws {
        let user = user.lowercased()
        let name = MailboxNames.canonical(name)
        guard name != "INBOX" else { throw MailStoreError.cannotDeleteInbox }
        try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let all = try await reader.mailboxes(user, on: transaction.connection)
            guard let mailbox = all.first(where: { $0.name == name }) else { throw MailStoreError.noSuchMailbox(name) }
            let hasChildren = all.contains { $0.name.hasPrefix(name + String(MailboxNames.delimiter)) }
            if hasChildren && !mailbox.selectable { throw MailStoreError.hasChildren(name) }
            try await transaction.append([PendingEvent(MailboxDeleted(
                mailboxID: mailbox.id, name: name, keptAsNoSelect: hasChildren, messages: mailbox.messages,
                bytes: mailbox.bytes).stamped())], to: stream, expectedVersion: expected)
        }
    }

    /// SUBSCRIBE / UNSUBSCRIBE: a name, which need not exist (RFC 3501 §6.3.6).
    public func setSubscribed(user: String, name: String, _ subscribed: Bool) async throws {
        let user = user.lowercased()
        let name = MailboxNames.canonical(name)
        try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            try await transaction.append([PendingEvent(MailboxSubscriptionChanged(name: name, subscribed: subscribed))],
                                         to: stream, expectedVersion: expected)
        }
    }
}

extension MailStore {
    /// RFC 4314 SETACL/DELETEACL (and `pillarbox folder share`): `identifier` (a user or
    /// `anyone`) gets `rights` on `owner`'s folder; empty rights remove the entry. The owner's
    /// own rights are all of them and cannot be changed.
    public func setRights(owner: String, mailbox name: String, identifier: String, rights: String) async throws {
        let owner = owner.lowercased(), identifier = identifier.lowercased()
        guard MailboxRights.isIdentifier(identifier) else { throw MailStoreError.invalidName("identifier \(identifier)") }
        guard identifier != owner else { throw MailStoreError.invalidName("the owner's own rights cannot change") }
        guard let rights = MailboxRights.normalised(rights) else { throw MailStoreError.invalidName("rights \(rights)") }
        try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: owner)
            let expected = try await transaction.expectedVersion(of: stream)
            guard let mailbox = try await reader.mailbox(owner, named: name, on: transaction.connection) else {
                throw MailStoreError.noSuchMailbox(name)
            }
            let current = try await reader.rights(owner, mailboxID: mailbox.id, on: transaction.connection)[identifier] ?? ""
            guard current != rights else { return }
            try await transaction.append([PendingEvent(MailboxRightsChanged(mailboxID: mailbox.id, identifier: identifier,
                                                                            rights: rights).stamped())],
                                         to: stream, expectedVersion: expected)
        }
    }
}

extension MailStore {
    /// `reader`'s own \Seen on messages of `owner`'s folder (RFC 4314 §4), set or cleared: a
    /// `SharedSeenChanged` on the reader's stream, and in the same transaction a
    /// `MessageFlagsChanged` on the owner's that keeps the folder's flags and gives the messages
    /// a new MODSEQ, so CONDSTORE and QRESYNC clients (the reader's other sessions among them)
    /// learn of the change. Returns the UIDs that changed and their MODSEQ.
    @discardableResult
    public func setSeen(reader: String, owner: String, mailboxID: Int64, uids: [UInt32], seen: Bool) async throws
        -> (changed: [UInt32], modSeq: Int64?) {
        let reader = reader.lowercased(), owner = owner.lowercased()
        return try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: reader)
            let expected = try await transaction.expectedVersion(of: stream)
            let ownerStream = try MailboxStream.name(for: owner)
            let ownerExpected = try await transaction.expectedVersion(of: ownerStream)
            let messages = try await self.reader.messages(owner, mailboxID: mailboxID, uids: uids, on: transaction.connection)
            let already = try await self.reader.seenBy(reader, owner: owner, mailboxID: mailboxID, on: transaction.connection)
            let changed = messages.filter { already.contains($0.uid) != seen }
            guard !changed.isEmpty else { return ([], nil) }
            let mailbox = try await self.reader.mailbox(owner, id: mailboxID, on: transaction.connection)
            let modSeq = mailbox.highestModSeq + 1
            let uids = changed.map(\.uid)
            try await transaction.append([PendingEvent(SharedSeenChanged(owner: owner, mailboxID: mailboxID,
                                                                         seen: seen ? uids : [], unseen: seen ? [] : uids).stamped())],
                                         to: stream, expectedVersion: expected)
            let touch = MessageFlagsChanged(mailboxID: mailboxID, modSeq: modSeq,
                                            changes: changed.map { .init(uid: $0.uid, flags: $0.flags) }).stamped()
            try await transaction.append([PendingEvent(touch)], to: ownerStream, expectedVersion: ownerExpected)
            return (uids, modSeq)
        }
    }
}

extension MailStore {
    public enum MetadataRefusal: Error, Equatable {
        case tooMany
    }

    /// RFC 5464 SETMETADATA: `user` sets (or, with nil, removes) entries on `owner`'s folder
    /// (`mailboxID` nil: the server). Entries are `MetadataEntries.normalised` names, checked
    /// by the caller, as are the rights. All or none; refused past `maximumEntries`.
    public func setMetadata(user: String, owner: String, mailboxID: Int64?, _ entries: [(entry: String, value: String?)]) async throws {
        let user = user.lowercased(), owner = owner.lowercased()
        try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let added = entries.filter { $0.value != nil }.count
            if added > 0, try await reader.metadataCount(user, on: transaction.connection) + added > MetadataEntries.maximumEntries {
                throw MetadataRefusal.tooMany
            }
            let events = entries.map { PendingEvent(MetadataChanged(owner: owner, mailboxID: mailboxID, entry: $0.entry, value: $0.value).stamped()) }
            guard !events.isEmpty else { return }
            try await transaction.append(events, to: stream, expectedVersion: expected)
        }
    }
}

extension MailStore {
    /// RFC 4467 RESETKEY: a new URLAUTH access key for `user`'s folder, or (nil) for all of them.
    public func resetURLAuthKey(user: String, mailboxID: Int64?) async throws {
        let user = user.lowercased()
        try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }.hexString
            try await transaction.append([PendingEvent(URLAuthKeyReset(mailboxID: mailboxID, nonce: nonce).stamped())], to: stream,
                                         expectedVersion: expected)
        }
    }
}
