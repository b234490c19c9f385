import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Projections

/// The mailbox commands the gateways and delivery agents run: each decides its events from the
/// live `mail.*` tables read in its own transaction, and appends them to the user's stream under
/// optimistic concurrency (retried on conflict), applied to `mail.*` in that same transaction.
/// `MailReader` (Projections) answers the questions that change nothing.
public struct MailStore: Sendable {
    public let engine: ProjectionEngine
    public let reader: MailReader
    let clock: @Sendable () -> Date
    let mimeLimits: MIMELimits

    public init(engine: ProjectionEngine, mimeLimits: MIMELimits = .init(), clock: @escaping @Sendable () -> Date = Date.init) {
        self.engine = engine
        self.reader = MailReader(engine: engine)
        self.clock = clock
        self.mimeLimits = mimeLimits
    }

    // MARK: Accounts

    /// Opens `user`'s account with INBOX and the special-use folders, inside `transaction`.
    public func openAccount(_ user: String, in transaction: ProjectionTransaction) async throws {
        let user = user.lowercased()
        let stream = try MailboxStream.name(for: user)
        let expected = try await transaction.expectedVersion(of: stream)
        let account = try await reader.account(user, on: transaction.connection)
        guard account?.active != true else { throw MailStoreError.accountExists(user) }
        var nextID = account?.nextMailboxID ?? 1
        var uidValidity = nextUIDValidity(after: account?.lastUIDValidity ?? 0)
        var specs: [MailboxSpec] = []
        for (name, specialUse) in MailboxNames.defaults {
            specs.append(MailboxSpec(mailboxID: nextID, name: name, uidValidity: uidValidity, specialUse: specialUse))
            nextID += 1
            uidValidity += 1
        }
        try await transaction.append([PendingEvent(MailAccountOpened(user: user, mailboxes: specs))], to: stream,
                                     expectedVersion: expected)
    }

    /// Closes `user`'s account, removing every folder and message, inside `transaction`.
    public func closeAccount(_ user: String, in transaction: ProjectionTransaction) async throws {
        let user = user.lowercased()
        let stream = try MailboxStream.name(for: user)
        let expected = try await transaction.expectedVersion(of: stream)
        guard try await reader.account(user, on: transaction.connection)?.active == true else { return }
        try await transaction.append([PendingEvent(MailAccountClosed(user: user))], to: stream, expectedVersion: expected)
    }

    /// IMAP INTERNALDATE has whole seconds (RFC 3501 §9 date-time).
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    func nextUIDValidity(after last: UInt32) -> UInt32 {
        let now = UInt32(clamping: Int64(clock().timeIntervalSince1970))
        return max(now, last &+ 1)
    }

    // MARK: Delivery and APPEND

    public struct Stored: Sendable, Equatable {
        public let user: String
        public let mailboxID: Int64
        public let uidValidity: UInt32
        public let uid: UInt32
    }

    /// Delivers one message to several users' folders in one transaction; the body is stored
    /// once. A user without that folder gets it in INBOX.
    @discardableResult
    public func deliver(_ message: [UInt8], to users: [String], mailbox: String = "INBOX", flags: [String] = [],
                        internalDate: Date? = nil) async throws -> [Stored] {
        let blob = BlobData(message, holders: users.map { .user($0) })
        let summary = MIMEParser.summariseForStorage(message, limits: mimeLimits)
        let date = internalDate ?? clock()
        return try await engine.transaction { transaction in
            let (appends, stored) = try await self.deliveries(of: blob, summary: summary, to: users, mailbox: mailbox,
                                                              flags: flags, internalDate: date, in: transaction)
            if !appends.isEmpty { try await transaction.append(appends) }
            return stored
        }
    }

    /// The appends that deliver a stored body to several users, for a caller that appends them
    /// in its own transaction together with its own events. The blob rides on the first.
    public func deliveries(of blob: BlobData, summary: MessageSummary, to users: [String], mailbox: String = "INBOX",
                           flags: [String] = [], internalDate: Date,
                           in transaction: ProjectionTransaction) async throws -> ([PendingAppend], [Stored]) {
        let date = Self.wholeSeconds(internalDate)
        let users = Array(Set(users.map { $0.lowercased() })).sorted()
        var appends: [PendingAppend] = []
        var stored: [Stored] = []
        for (index, user) in users.enumerated() {
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            var found = try await reader.mailbox(user, named: mailbox, on: transaction.connection)
            if found?.selectable != true { found = try await reader.mailbox(user, named: "INBOX", on: transaction.connection) }
            guard let target = found else { throw MailStoreError.noSuchAccount(user) }
            let message = StoredMessage(mailboxID: target.id, uid: target.uidNext, modSeq: target.highestModSeq + 1,
                                        flags: Flags.normalise(flags), internalDate: date, size: Int64(blob.bytes.count),
                                        blob: blob.id)
            appends.append(PendingAppend(stream: stream, expectedVersion: expected, events: [
                PendingEvent(MessageDelivered(message: message, summary: summary).stamped(), blobs: index == 0 ? [blob] : []),
            ], grants: [BlobGrant(blob.id, to: .user(user))]))
            stored.append(Stored(user: user, mailboxID: target.id, uidValidity: target.uidValidity, uid: target.uidNext))
        }
        return (appends, stored)
    }

    /// One stored body for several users, as a delivery agent hands it over.
    public struct Delivery: Sendable {
        public let blob: BlobID
        public let size: Int64
        public let summary: MessageSummary
        public let users: [String]
        public let internalDate: Date
        /// The folder it goes to; INBOX when the user has no such folder.
        public let mailbox: String

        public init(blob: BlobID, size: Int64, summary: MessageSummary, users: [String], internalDate: Date, mailbox: String = "INBOX") {
            self.mailbox = mailbox
            self.blob = blob
            self.size = size
            self.summary = summary
            self.users = users
            self.internalDate = internalDate
        }
    }

    /// The appends that deliver a batch of already stored bodies to their folders (INBOX,
    /// Junk): one append per user, UIDs in batch order. Users without an account are skipped
    /// (and returned).
    public func deliveries(_ batch: [Delivery], in transaction: ProjectionTransaction) async throws
        -> (appends: [PendingAppend], skipped: [String]) {
        // The deliveries seal their summaries with their bodies' keys.
        try await engine.store.loadDataKeys(batch.map(\.blob), on: transaction.connection)
        var perUser: [String: [Delivery]] = [:]
        for delivery in batch {
            for user in Set(delivery.users.map { $0.lowercased() }) { perUser[user, default: []].append(delivery) }
        }
        var appends: [PendingAppend] = []
        var skipped: [String] = []
        for user in perUser.keys.sorted() {
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            guard let inbox = try await reader.mailbox(user, named: "INBOX", on: transaction.connection), inbox.selectable else {
                skipped.append(user)
                continue
            }
            // Each folder by name (one that is missing or not selectable is INBOX), and the next
            // UID and MODSEQ of each folder as this batch moves them.
            var folderIDs = ["INBOX": inbox.id]
            var next = [inbox.id: (uid: inbox.uidNext, modSeq: inbox.highestModSeq + 1)]
            var events: [PendingEvent] = []
            var grants: [BlobGrant] = []
            for delivery in perUser[user] ?? [] {
                if folderIDs[delivery.mailbox] == nil {
                    let found = try await reader.mailbox(user, named: delivery.mailbox, on: transaction.connection)
                    if let found, found.selectable {
                        folderIDs[delivery.mailbox] = found.id
                        next[found.id] = (found.uidNext, found.highestModSeq + 1)
                    } else {
                        folderIDs[delivery.mailbox] = inbox.id
                    }
                }
                let id = folderIDs[delivery.mailbox] ?? inbox.id
                guard let (uid, modSeq) = next[id] else { continue }
                let message = StoredMessage(mailboxID: id, uid: uid, modSeq: modSeq, flags: [],
                                            internalDate: Self.wholeSeconds(delivery.internalDate), size: delivery.size,
                                            blob: delivery.blob)
                events.append(PendingEvent(MessageDelivered(message: message, summary: delivery.summary).stamped()))
                grants.append(BlobGrant(delivery.blob, to: .user(user)))
                next[id] = (uid + 1, modSeq + 1)
            }
            appends.append(PendingAppend(stream: stream, expectedVersion: expected, events: events, grants: grants))
        }
        return (appends, skipped)
    }

    /// IMAP APPEND: stores a message in the named folder; returns its UIDVALIDITY and UID (RFC 4315 APPENDUID).
    public func append(_ message: [UInt8], user: String, mailbox name: String, flags: [String] = [],
                       internalDate: Date? = nil) async throws -> Stored {
        let blob = BlobData(message, holders: [.user(user)])
        return try await append(blob: blob.id, size: Int64(message.count), summary: MIMEParser.summariseForStorage(message, limits: mimeLimits),
                                user: user, mailbox: name, flags: flags, internalDate: internalDate) { _ in [blob] }
    }

    /// Appends a message spooled to `path` (whose SHA-256 is `blob`): its structure is read
    /// through a mapping of the file and its body is stored from the file piece by piece, so
    /// it is never held whole in memory.
    public func append(spooledAt path: String, blob: BlobID, size: Int64, user: String, mailbox name: String,
                       flags: [String] = [], internalDate: Date? = nil) async throws -> Stored {
        let summary = try MappedFile(path: path).withBytes { MIMEParser.summariseForStorage($0, limits: mimeLimits) }
        return try await append(blob: blob, size: size, summary: summary, user: user, mailbox: name, flags: flags,
                                internalDate: internalDate) { transaction in
            try await transaction.storeBlob(blob, size: size, fromFile: path, holders: [.user(user)])
            return []
        }
    }

    /// One message of an APPEND of several (IMAP MULTIAPPEND).
    public struct AppendItem: Sendable {
        public enum Content: Sendable {
            case bytes([UInt8])
            /// Spooled to `path`, whose SHA-256 is `blob`.
            case spooled(path: String, blob: BlobID, size: Int64)
        }

        public var content: Content
        public var flags: [String]
        public var internalDate: Date?

        public init(_ content: Content, flags: [String] = [], internalDate: Date? = nil) {
            self.content = content
            self.flags = flags
            self.internalDate = internalDate
        }
    }

    /// A message ready to append: `store` writes its body in the transaction, or returns it
    /// to go with the event.
    typealias PreparedAppend = (blob: BlobID, size: Int64, summary: MessageSummary, flags: [String], date: Date?,
                                store: @Sendable (ProjectionTransaction) async throws -> [BlobData])

    /// RFC 3502 MULTIAPPEND: stores the messages in the named folder in one transaction, so
    /// all of them are added or none; consecutive UIDs, in order.
    public func append(_ items: [AppendItem], user: String, mailbox name: String) async throws -> [Stored] {
        var prepared: [PreparedAppend] = []
        for item in items {
            switch item.content {
            case .bytes(let message):
                let blob = BlobData(message, holders: [.user(user)])
                prepared.append((blob.id, Int64(message.count), MIMEParser.summariseForStorage(message, limits: mimeLimits),
                                 item.flags, item.internalDate, { _ in [blob] }))
            case .spooled(let path, let blob, let size):
                let summary = try MappedFile(path: path).withBytes { MIMEParser.summariseForStorage($0, limits: mimeLimits) }
                prepared.append((blob, size, summary, item.flags, item.internalDate, { transaction in
                    try await transaction.storeBlob(blob, size: size, fromFile: path, holders: [.user(user)])
                    return []
                }))
            }
        }
        return try await append(prepared, user: user, mailbox: name)
    }

    private func append(_ prepared: [PreparedAppend], user: String, mailbox name: String) async throws -> [Stored] {
        let user = user.lowercased()
        return try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let target = try await reader.selectableMailbox(user, named: name, on: transaction.connection)
            var events: [PendingEvent] = []
            var stored: [Stored] = []
            for (offset, item) in prepared.enumerated() {
                let uid = target.uidNext + UInt32(offset)
                let message = StoredMessage(mailboxID: target.id, uid: uid, modSeq: target.highestModSeq + 1 + Int64(offset),
                                            flags: Flags.normalise(item.flags), internalDate: Self.wholeSeconds(item.date ?? clock()),
                                            size: item.size, blob: item.blob)
                events.append(PendingEvent(MessageAppended(message: message, summary: item.summary).stamped(),
                                           blobs: try await item.store(transaction)))
                stored.append(Stored(user: user, mailboxID: target.id, uidValidity: target.uidValidity, uid: uid))
            }
            try await transaction.append(events, to: stream, expectedVersion: expected)
            return stored
        }
    }

    /// `store` writes the body in the transaction, or returns it to go with the event.
    private func append(blob: BlobID, size: Int64, summary: MessageSummary, user: String, mailbox name: String,
                        flags: [String], internalDate: Date?,
                        store: @escaping @Sendable (ProjectionTransaction) async throws -> [BlobData]) async throws -> Stored {
        try await append([(blob, size, summary, flags, internalDate, store)], user: user, mailbox: name)[0]
    }

    // MARK: Flags

    public enum FlagOperation: Sendable {
        case add, remove, replace
    }

    public struct FlagResult: Sendable {
        /// The MODSEQ given to changed messages; nil when nothing changed.
        public let modSeq: Int64?
        /// Every message asked about that exists, with its flags now.
        public let flags: [UInt32: [String]]
        /// Messages whose flags changed.
        public let changed: [UInt32]
        /// RFC 7162 UNCHANGEDSINCE failures: modified since, left alone.
        public let modified: [UInt32]
    }

    public func setFlags(user: String, mailboxID: Int64, uids: [UInt32], _ operation: FlagOperation, _ flags: [String],
                         unchangedSince: Int64? = nil) async throws -> FlagResult {
        let user = user.lowercased()
        let requested = Flags.normalise(flags)
        return try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let mailbox = try await reader.mailbox(user, id: mailboxID, on: transaction.connection)
            let messages = try await reader.messages(user, mailboxID: mailboxID, uids: uids, on: transaction.connection)
            var result: [UInt32: [String]] = [:]
            var changes: [MessageFlagsChanged.Change] = []
            var modified: [UInt32] = []
            var deletedMarked: [UInt32] = []
            var deletedCleared: [UInt32] = []
            for message in messages {
                let current = Set(message.flags)
                let updated: Set<String>
                switch operation {
                case .add: updated = current.union(requested)
                case .remove: updated = current.subtracting(requested)
                case .replace: updated = Set(requested)
                }
                if let unchangedSince, message.modSeq > unchangedSince {
                    modified.append(message.uid)
                    result[message.uid] = message.flags
                } else if updated != current {
                    changes.append(.init(uid: message.uid, flags: updated.sorted()))
                    let wasDeleted = current.contains(Flags.deleted), isDeleted = updated.contains(Flags.deleted)
                    if isDeleted && !wasDeleted { deletedMarked.append(message.uid) }
                    if wasDeleted && !isDeleted { deletedCleared.append(message.uid) }
                    result[message.uid] = updated.sorted()
                } else {
                    result[message.uid] = message.flags
                }
            }
            guard !changes.isEmpty else {
                return FlagResult(modSeq: nil, flags: result, changed: [], modified: modified)
            }
            let modSeq = mailbox.highestModSeq + 1
            var event = MessageFlagsChanged(mailboxID: mailboxID, modSeq: modSeq, changes: changes).stamped()
            event.deletedMarked = deletedMarked.isEmpty ? nil : deletedMarked
            event.deletedCleared = deletedCleared.isEmpty ? nil : deletedCleared
            try await transaction.append([PendingEvent(event)], to: stream, expectedVersion: expected)
            return FlagResult(modSeq: modSeq, flags: result, changed: changes.map(\.uid), modified: modified)
        }
    }

    // MARK: Expunge, copy, move

    /// Removes messages: those flagged \Deleted (IMAP EXPUNGE, optionally only among `uids`),
    /// or exactly `uids` when `onlyDeleted` is false (POP3 DELE then QUIT). Returns the UIDs removed.
    @discardableResult
    public func expunge(user: String, mailboxID: Int64, uids: [UInt32]? = nil, onlyDeleted: Bool = true,
                        in joined: ProjectionTransaction? = nil) async throws -> [UInt32] {
        let user = user.lowercased()
        if let joined { return try await expunge(user: user, mailboxID: mailboxID, uids: uids, onlyDeleted: onlyDeleted, transaction: joined) }
        return try await engine.transaction { transaction in
            try await expunge(user: user, mailboxID: mailboxID, uids: uids, onlyDeleted: onlyDeleted, transaction: transaction)
        }
    }

    private func expunge(user: String, mailboxID: Int64, uids: [UInt32]?, onlyDeleted: Bool,
                         transaction: ProjectionTransaction) async throws -> [UInt32] {
        let stream = try MailboxStream.name(for: user)
        let expected = try await transaction.expectedVersion(of: stream)
        let mailbox = try await reader.mailbox(user, id: mailboxID, on: transaction.connection)
        let messages = try await reader.messages(user, mailboxID: mailboxID, uids: uids, on: transaction.connection)
            .filter { !onlyDeleted || $0.flags.contains(Flags.deleted) }
        guard !messages.isEmpty else { return [] }
        try await transaction.append([PendingEvent(MessagesExpunged(
            mailboxID: mailboxID, modSeq: mailbox.highestModSeq + 1, uids: messages.map(\.uid),
            bytes: messages.reduce(0) { $0 + $1.size }).stamped())], to: stream, expectedVersion: expected)
        return messages.map(\.uid)
    }

    public struct CopyResult: Sendable, Equatable {
        public let uidValidity: UInt32
        /// Source UID → new UID, in source UID order (RFC 4315 COPYUID).
        public let uids: [(source: UInt32, target: UInt32)]
        public static func == (lhs: CopyResult, rhs: CopyResult) -> Bool {
            lhs.uidValidity == rhs.uidValidity && lhs.uids.elementsEqual(rhs.uids, by: { $0 == $1 })
        }
    }

    public func copy(user: String, from source: Int64, uids: [UInt32], to target: Int64) async throws -> CopyResult {
        try await transfer(user: user, from: source, uids: uids, to: target, move: false)
    }

    public func move(user: String, from source: Int64, uids: [UInt32], to target: Int64) async throws -> CopyResult {
        try await transfer(user: user, from: source, uids: uids, to: target, move: true)
    }

    /// COPY or MOVE between two users' folders (a folder shared with one of them, RFC 4314):
    /// the copies are appended to the target's owner (with their stored summaries, the bodies
    /// shared), and a move expunges the originals from the source's owner in the same
    /// transaction.
    public func transfer(from sourceOwner: String, mailbox source: Int64, uids: [UInt32], to targetOwner: String,
                         mailbox target: Int64, move: Bool, viewer: String? = nil) async throws -> CopyResult {
        let sourceOwner = sourceOwner.lowercased(), targetOwner = targetOwner.lowercased()
        guard sourceOwner != targetOwner else { return try await transfer(user: sourceOwner, from: source, uids: uids, to: target, move: move) }
        var messages = try await reader.messages(sourceOwner, mailboxID: source, uids: uids)
        if let viewer = viewer?.lowercased(), viewer != sourceOwner {
            // Out of another user's folder the copies carry the viewer's own \Seen, not the owner's.
            let seen = try await reader.seenBy(viewer, owner: sourceOwner, mailboxID: source)
            messages = messages.map { message in
                message.with(flags: message.flags.filter { $0 != Flags.seen } + (seen.contains(message.uid) ? [Flags.seen] : []))
            }
        }
        let summaries = try await reader.summaries(Array(Set(messages.map(\.blob))))
        try await engine.store.loadDataKeys(messages.map(\.blob))
        return try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: targetOwner)
            let expected = try await transaction.expectedVersion(of: stream)
            let targetMailbox = try await reader.mailbox(targetOwner, id: target, on: transaction.connection)
            guard targetMailbox.selectable else { throw MailStoreError.notSelectable(targetMailbox.name) }
            // Only what is still there when the transaction runs.
            let present = Set(try await reader.messages(sourceOwner, mailboxID: source, uids: messages.map(\.uid),
                                                        on: transaction.connection).map(\.uid))
            var events: [PendingEvent] = []
            var pairs: [(UInt32, UInt32)] = []
            for message in messages where present.contains(message.uid) {
                guard let summary = summaries[message.blob] else { continue }
                let offset = UInt32(pairs.count)
                let copy = StoredMessage(mailboxID: target, uid: targetMailbox.uidNext + offset,
                                         modSeq: targetMailbox.highestModSeq + 1 + Int64(offset), flags: message.flags,
                                         internalDate: message.internalDate, size: message.size, blob: message.blob)
                events.append(PendingEvent(MessageAppended(message: copy, summary: summary).stamped()))
                pairs.append((message.uid, copy.uid))
            }
            guard !events.isEmpty else { return CopyResult(uidValidity: targetMailbox.uidValidity, uids: []) }
            let grants = Set(messages.map(\.blob)).map { BlobGrant($0, to: .user(targetOwner)) }
            try await transaction.append([PendingAppend(stream: stream, expectedVersion: expected, events: events, grants: grants)])
            if move {
                _ = try await expunge(user: sourceOwner, mailboxID: source, uids: pairs.map(\.0), onlyDeleted: false, in: transaction)
            }
            return CopyResult(uidValidity: targetMailbox.uidValidity, uids: pairs)
        }
    }

    private func transfer(user: String, from source: Int64, uids: [UInt32], to target: Int64,
                          move: Bool) async throws -> CopyResult {
        let user = user.lowercased()
        return try await engine.transaction { transaction in
            let stream = try MailboxStream.name(for: user)
            let expected = try await transaction.expectedVersion(of: stream)
            let sourceMailbox = try await reader.mailbox(user, id: source, on: transaction.connection)
            let targetMailbox = try await reader.mailbox(user, id: target, on: transaction.connection)
            guard targetMailbox.selectable else { throw MailStoreError.notSelectable(targetMailbox.name) }
            guard !(move && source == target) else { throw MailStoreError.sameMailbox }
            let messages = try await reader.messages(user, mailboxID: source, uids: uids, on: transaction.connection)
            guard !messages.isEmpty else { return CopyResult(uidValidity: targetMailbox.uidValidity, uids: []) }
            let modSeq = targetMailbox.highestModSeq + 1
            var copies: [MessagesCopied.Copy] = []
            for (offset, message) in messages.enumerated() {
                copies.append(.init(sourceUID: message.uid, message: StoredMessage(
                    mailboxID: target, uid: targetMailbox.uidNext + UInt32(offset), modSeq: modSeq,
                    flags: message.flags, internalDate: message.internalDate, size: message.size, blob: message.blob)))
            }
            let event: any Event = move
                ? MessagesMoved(sourceMailboxID: source, sourceModSeq: sourceMailbox.highestModSeq + 1, copies: copies,
                                bytes: messages.reduce(0) { $0 + $1.size }).stamped()
                : MessagesCopied(sourceMailboxID: source, copies: copies).stamped()
            try await transaction.append([PendingEvent(event)], to: stream, expectedVersion: expected)
            return CopyResult(uidValidity: targetMailbox.uidValidity, uids: copies.map { ($0.sourceUID, $0.message.uid) })
        }
    }
}
