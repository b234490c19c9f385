import Commands
import EventLog
import Facts
import Foundation
import IMAPWire
import Projections
import WireCore

/// Folder commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, LIST (RFC 5258 with
/// RFC 5819 STATUS and RFC 6154 special use), LSUB, STATUS, APPEND.
extension IMAPSession {
    static let systemFlags = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]

    func select(_ tag: String, _ name: String, readOnly: Bool, condStore: Bool, qresync: IMAPQResync?,
                user: UserRecord) async throws {
        searchContexts = []
        savedResult = []
        if selected != nil {
            state = .authenticated(user)
            if enabled.contains("QRESYNC") || enabled.contains("IMAP4REV2") { untagged(.previousMailboxClosed) }
        }
        if condStore { enabled.insert("CONDSTORE") }
        guard let (location, mailbox, rights) = try await folder(name, user: user) else {
            tagged(tag, .noSuchMailbox)
            return
        }
        guard mailbox.selectable else {
            tagged(tag, .cannotSelect)
            return
        }
        guard rights.contains("r") else {
            tagged(tag, "NO [NOPERM] You may not read this mailbox")
            return
        }
        // RFC 4314 §4: read-write only with a right that changes something.
        let readOnly = readOnly || !rights.contains(where: { "swte".contains($0) })
        let owner = location.owner
        var current = Selected(mailbox: mailbox, owner: owner, rights: rights, readOnly: readOnly, uids: [],
                               flags: [:], modSeqs: [:], known: mailbox.highestModSeq)
        // In another user's folder, \Seen is the reader's own.
        if owner != user.id { current.seenByMe = try await accounts.mail.reader.seenBy(user.id, owner: owner, mailboxID: mailbox.id) }
        let messages = Self.viewed(try await accounts.mail.reader.messages(owner, mailboxID: mailbox.id), in: current)
        current.uids = messages.map(\.uid)
        for message in messages {
            current.flags[message.uid] = message.flags
            current.modSeqs[message.uid] = message.modSeq
        }
        current.keywords = Set(messages.flatMap(\.flags).filter { !$0.hasPrefix("\\") })
        current.recent = readOnly ? try await accounts.recent.unclaimed(current.uids, in: mailbox, of: owner)
                                  : try await accounts.recent.claim(current.uids, in: mailbox, of: owner)
        announceFlags(current.keywords, readOnly: readOnly)
        untagged("\(messages.count) EXISTS")
        if showsRecent { untagged("\(current.recent.count) RECENT") }
        untagged("OK [UIDVALIDITY \(mailbox.uidValidity)] UIDs valid")
        untagged("OK [UIDNEXT \(mailbox.uidNext)] Predicted next UID")
        untagged("OK [HIGHESTMODSEQ \(mailbox.highestModSeq)] Highest")
        untagged("OK [MAILBOXID (\(Self.mailboxObjectID(user: owner, mailbox)))] Ok")
        if let firstUnseen = messages.firstIndex(where: { !$0.flags.contains("\\Seen") }) {
            untagged("OK [UNSEEN \(firstUnseen + 1)] First unseen")
        }
        untagged("LIST () \"/\" " + String(decoding: wireName(visibleName(owner: owner, mailbox.name, user: user)), as: UTF8.self))
        // RFC 7162 §3.2.5: what changed since the client's last visit.
        if let qresync, enabled.contains("QRESYNC"), qresync.uidValidity == mailbox.uidValidity {
            let changes = try await accounts.mail.reader.changes(owner, mailboxID: mailbox.id, since: qresync.modSeq)
            let vanished = changes.expunged.map(\.uid).filter { uid in
                qresync.knownUIDs?.contains(uid, largest: mailbox.uidNext) ?? true
            }
            if !vanished.isEmpty { untagged("VANISHED (EARLIER) \(Self.compress(vanished))") }
            for message in Self.viewed(changes.messages, in: current) {
                guard let number = current.sequenceNumber(of: message.uid) else { continue }
                untagged(fetchLine(number, message.uid, ["UID \(message.uid)", "FLAGS (\(shownFlags(message.uid, message.flags, in: current)))",
                                                         "MODSEQ (\(message.modSeq))"]))
            }
        }
        state = .selected(user, current)
        refreshedAt = nil
        tagged(tag, readOnly ? "OK [READ-ONLY] EXAMINE completed" : "OK [READ-WRITE] SELECT completed")
    }

    /// FLAGS and PERMANENTFLAGS for the system flags and `keywords`.
    func announceFlags(_ keywords: Set<String>, readOnly: Bool) {
        let flagList = (Self.systemFlags + keywords.sorted()).joined(separator: " ")
        untagged("FLAGS (\(flagList))")
        untagged(readOnly ? "OK [PERMANENTFLAGS ()] Read-only" : "OK [PERMANENTFLAGS (\(flagList) \\*)] Flags permitted")
    }

    /// RFC 9051 §7.3.5: a keyword must be in the last FLAGS response before a FETCH uses it.
    func announceKeywords(in flags: [String]) {
        guard case .selected(let user, var current) = state else { return }
        let new = Set(flags.filter { !$0.hasPrefix("\\") }).subtracting(current.keywords)
        guard !new.isEmpty else { return }
        current.keywords.formUnion(new)
        state = .selected(user, current)
        announceFlags(current.keywords, readOnly: current.readOnly)
    }

    /// A UID list as a compact sequence set: `1:3,7`.
    static func compress(_ values: [UInt32]) -> String {
        SearchReturn.inOrder(values.sorted())
    }

    func mailboxCommand(_ command: IMAPCommand, user: UserRecord) async throws {
        let tag = command.tag
        let mail = accounts.mail
        func name(_ text: String) throws -> String {
            guard let stored = storedName(text), !stored.isEmpty else { throw MailStoreError.invalidName(text) }
            return stored
        }
        switch command.kind {
        case .create(let text):
            guard let location = locate(try name(text), user: user) else { throw MailStoreError.invalidName(text) }
            // In another user's folders: `k` on the parent (RFC 4314 §4).
            guard try await mayChange(location, right: "k", onParent: true, user: user) else {
                tagged(tag, "NO [NOPERM] You may not create folders there")
                return
            }
            let created = try await mail.createMailbox(user: location.owner, name: location.name)
            tagged(tag, "OK [MAILBOXID (\(Self.mailboxObjectID(user: location.owner, created)))] CREATE completed")
        case .delete(let text):
            guard let location = locate(try name(text), user: user) else { throw MailStoreError.invalidName(text) }
            guard try await mayChange(location, right: "x", onParent: false, user: user) else {
                tagged(tag, "NO [NOPERM] You may not delete this mailbox")
                return
            }
            if let current = selected, current.owner == location.owner,
               MailboxNames.canonical(current.mailbox.name) == MailboxNames.canonical(location.name) {
                state = .authenticated(user)
                searchContexts = []
            }
            try await mail.deleteMailbox(user: location.owner, name: location.name)
            tagged(tag, .completed("DELETE"))
        case .rename(let from, let to):
            guard let source = locate(try name(from), user: user), let target = locate(try name(to), user: user) else {
                throw MailStoreError.invalidName(from)
            }
            guard source.owner == target.owner else {
                tagged(tag, "NO [CANNOT] A folder cannot move to another user")
                return
            }
            guard try await mayChange(source, right: "x", onParent: false, user: user),
                  try await mayChange(target, right: "k", onParent: true, user: user) else {
                tagged(tag, "NO [NOPERM] You may not rename this mailbox")
                return
            }
            try await mail.renameMailbox(user: source.owner, from: source.name, to: target.name)
            tagged(tag, .completed("RENAME"))
        case .subscribe(let text):
            try await mail.setSubscribed(user: user.id, name: try name(text), true)
            tagged(tag, .completed("SUBSCRIBE"))
        case .unsubscribe(let text):
            try await mail.setSubscribed(user: user.id, name: try name(text), false)
            tagged(tag, .completed("UNSUBSCRIBE"))
        case .list(let reference, let patterns, let selection, let returns):
            // RFC 5258 §3: unknown options, or RECURSIVEMATCH with nothing (but REMOTE) to
            // recurse on, are errors.
            let known: Set<String> = ["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"]
            let recursesOn = Set(selection).subtracting(["RECURSIVEMATCH", "REMOTE"])
            guard selection.allSatisfy(known.contains), !selection.contains("RECURSIVEMATCH") || !recursesOn.isEmpty else {
                tagged(tag, .unknownListSelection)
                return
            }
            guard Self.validReturnOptions(returns) else {
                tagged(tag, .unknownListReturn)
                return
            }
            try await list(reference: reference, patterns: patterns, selection: selection, returns: returns, user: user, lsub: false)
            tagged(tag, .completed("LIST"))
        case .lsub(let reference, let pattern):
            try await list(reference: reference, patterns: [pattern], selection: ["SUBSCRIBED"], returns: [], user: user, lsub: true)
            tagged(tag, .completed("LSUB"))
        case .status(let text, let items):
            guard let (location, mailbox, rights) = try await folder(text, user: user), mailbox.selectable else {
                tagged(tag, .noSuchMailbox)
                return
            }
            guard rights.contains("r") else {
                tagged(tag, "NO [NOPERM] You may not read this mailbox")
                return
            }
            let shown = String(decoding: wireName(visibleName(owner: location.owner, mailbox.name, user: user)), as: UTF8.self)
            untagged("STATUS \(shown) (\(try await status(mailbox, owner: location.owner, items: items, user: user)))")
            tagged(tag, .completed("STATUS"))
        case .append(let text, let messages):
            guard let (location, mailbox, rights) = try await folder(text, user: user), mailbox.selectable else {
                tagged(tag, .tryCreate)
                return
            }
            guard rights.contains("i") else {
                tagged(tag, "NO [NOPERM] You may not add messages to this mailbox")
                return
            }
            let owner = location.owner
            // Each message as stored: a spooled one from its file (already CRLF unless a
            // literal8), one holding NUL octets as `BinaryContent` makes it storable.
            var items: [MailStore.AppendItem] = []
            var bytes: Int64 = 0
            var spoolFiles: [String] = []
            defer { for path in spoolFiles { try? FileManager.default.removeItem(atPath: path) } }
            for message in messages {
                let flags = message.flags.filter { $0 != "\\Recent" }
                if let parts = message.catenate {
                    // RFC 4469: the parts joined, each URL read with this user's rights.
                    let joined: [UInt8]
                    switch try await catenated(parts, user: user) {
                    case .success(let bytes): joined = bytes
                    case .failure(.badURL(let url)):
                        tagged(tag, "NO [BADURL \(url)] CATENATE could not read that URL")
                        return
                    case .failure(.tooBig):
                        tagged(tag, "NO [TOOBIG] The message would be too large")
                        return
                    }
                    let content = BinaryContent.storable(joined)
                    bytes += Int64(content.count)
                    items.append(.init(.bytes(content), flags: flags, internalDate: message.date))
                } else if message.streamed {
                    guard !appendSpools.isEmpty else { throw MailStoreError.invalidName("a streamed literal that was not spooled") }
                    let spooled = try appendSpools.removeFirst().finish()
                    spoolFiles.append(spooled.path)
                    if spooled.containsNUL {
                        let content = BinaryContent.storable(Array(try Data(contentsOf: URL(fileURLWithPath: spooled.path))))
                        bytes += Int64(content.count)
                        items.append(.init(.bytes(content), flags: flags, internalDate: message.date))
                    } else {
                        bytes += spooled.size
                        items.append(.init(.spooled(path: spooled.path, blob: spooled.blob, size: spooled.size), flags: flags,
                                           internalDate: message.date))
                    }
                } else {
                    let content = BinaryContent.storable(message.binary ? message.message : Self.normalisedLineEndings(message.message))
                    bytes += Int64(content.count)
                    items.append(.init(.bytes(content), flags: flags, internalDate: message.date))
                }
            }
            // The owner's quota: what goes into a shared folder is theirs.
            if try await accounts.overQuota(owner, adding: bytes) {
                tagged(tag, .messageOverQuota)
                return
            }
            // RFC 3502: all of them in one transaction, or none.
            let stored = try await mail.append(items, user: owner, mailbox: mailbox.name)
            refreshedAt = nil // this session's own change: read it even before the log's wake-up arrives
            await refresh(allowExpunge: true) // EXISTS for the selected mailbox before the tagged OK
            let uids = Self.compress(stored.map(\.uid))
            tagged(tag, "OK [APPENDUID \(stored.first?.uidValidity ?? mailbox.uidValidity) \(uids)] APPEND completed")
        default:
            break
        }
    }

    /// Bare CR and bare LF become CRLF: what is stored always has CRLF line ends.
    static func normalisedLineEndings(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 16)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0D {
                output += [0x0D, 0x0A]
                index += index + 1 < bytes.count && bytes[index + 1] == 0x0A ? 2 : 1
                continue
            }
            if byte == 0x0A {
                output += [0x0D, 0x0A]
            } else {
                output.append(byte)
            }
            index += 1
        }
        return output
    }

    func status(_ mailbox: MailboxInfo, owner: String, items: [String], user: UserRecord) async throws -> String {
        var needsMessages = false
        for item in items where item == "UNSEEN" || item == "DELETED" || item == "RECENT" { needsMessages = true }
        var messages = needsMessages ? try await accounts.mail.reader.messages(owner, mailboxID: mailbox.id) : []
        if needsMessages, owner != user.id {
            // \Seen in another user's folder is the reader's own.
            let seen = try await accounts.mail.reader.seenBy(user.id, owner: owner, mailboxID: mailbox.id)
            messages = messages.map { message in
                message.with(flags: message.flags.filter { $0 != "\\Seen" } + (seen.contains(message.uid) ? ["\\Seen"] : []))
            }
        }
        var parts: [String] = []
        for item in items {
            switch item {
            case "MESSAGES": parts.append("MESSAGES \(mailbox.messages)")
            case "UIDNEXT": parts.append("UIDNEXT \(mailbox.uidNext)")
            case "UIDVALIDITY": parts.append("UIDVALIDITY \(mailbox.uidValidity)")
            case "UNSEEN": parts.append("UNSEEN \(messages.filter { !$0.flags.contains("\\Seen") }.count)")
            case "DELETED": parts.append("DELETED \(messages.filter { $0.flags.contains("\\Deleted") }.count)")
            case "SIZE": parts.append("SIZE \(mailbox.bytes)")
            case "HIGHESTMODSEQ": parts.append("HIGHESTMODSEQ \(mailbox.highestModSeq)")
            case "MAILBOXID": parts.append("MAILBOXID (\(Self.mailboxObjectID(user: owner, mailbox)))")
            case "RECENT": parts.append("RECENT \(try await accounts.recent.unclaimed(messages.map(\.uid), in: mailbox, of: owner).count)")
            default: throw MailStoreError.invalidName("STATUS item \(item)")
            }
        }
        return parts.joined(separator: " ")
    }

    func list(reference: String, patterns: [String], selection: [String], returns: [String], user: UserRecord,
              lsub: Bool) async throws {
        let mail = accounts.mail
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
        if patterns == [""] {
            untagged("\(lsub ? "LSUB" : "LIST") (\\Noselect) \"/\" \"\"")
            return
        }
        // The user's folders, then those others share with them under `Other Users/<owner>/`,
        // with the levels above them as \Noselect names.
        var listed: [String: (mailbox: MailboxInfo, owner: String, rights: String)] = [:]
        for mailbox in try await mail.reader.mailboxes(user.id) { listed[mailbox.name] = (mailbox, user.id, MailboxRights.owner) }
        var levels = Set<String>()
        for shared in try await mail.reader.sharedWith(user.id) {
            let name = visibleName(owner: shared.owner, shared.mailbox.name, user: user)
            listed[name] = (shared.mailbox, shared.owner, shared.rights)
            var parent = name
            while let slash = parent.lastIndex(of: "/") {
                parent = String(parent[..<slash])
                if listed[parent] == nil { levels.insert(parent) }
            }
        }
        if user.admin {
            // Administrators see every public folder, with every right.
            for mailbox in try await mail.reader.mailboxes(MailboxNames.publicOwner) {
                let name = visibleName(owner: MailboxNames.publicOwner, mailbox.name, user: user)
                listed[name] = (mailbox, MailboxNames.publicOwner, MailboxRights.owner)
                levels.insert(Self.publicNamespace)
            }
        }
        levels.subtract(listed.keys)
        let subscribed = Set(try await mail.reader.subscriptions(user.id))
        let wantSubscribed = selection.contains("SUBSCRIBED")
        let wantSpecial = selection.contains("SPECIAL-USE")
        let returnStatus = returns.contains("STATUS") ? Self.statusItems(returns) : nil
        let names = Set(listed.keys).union(levels)
        var candidates = names
        // Subscribed names may outlive their folders (RFC 9051 §6.3.9: \NonExistent), and
        // their parents may be listed for them (RECURSIVEMATCH, LSUB with %).
        if wantSubscribed || lsub {
            for name in subscribed {
                candidates.insert(name)
                var parent = name
                while let slash = parent.lastIndex(of: "/") {
                    parent = String(parent[..<slash])
                    candidates.insert(parent)
                }
            }
        }
        let decodedPatterns = patterns.compactMap { pattern in storedPattern(reference + pattern) }
        func matched(_ name: String) -> Bool { decodedPatterns.contains { Self.matches(name, pattern: $0) } }
        let recursive = selection.contains("RECURSIVEMATCH")
        for name in candidates.sorted() {
            guard matched(name) else { continue }
            var childInfo = false
            if (wantSubscribed || lsub) && !subscribed.contains(name) {
                // RFC 5258 §3.5: a name that matches for a subscribed descendant the patterns do
                // not match. RFC 3501 §6.3.9: LSUB's % lists such a parent as \Noselect.
                let descendant = subscribed.contains { $0.hasPrefix(name + "/") && !matched($0) }
                guard descendant, recursive || lsub else { continue }
                childInfo = true
            }
            let entry = listed[name]
            let mailbox = entry?.mailbox
            let level = levels.contains(name)
            if wantSpecial && mailbox?.specialUse == nil { continue }
            var attributes: [String] = []
            if lsub {
                if childInfo || level || mailbox?.selectable == false { attributes.append("\\Noselect") }
            } else {
                if mailbox == nil && !childInfo && !level { attributes.append("\\NonExistent") }
                if mailbox?.selectable == false || level { attributes.append("\\Noselect") }
                let hasChildren = names.contains { $0.hasPrefix(name + "/") }
                if mailbox != nil || level || returns.contains("CHILDREN") {
                    attributes.append(hasChildren ? "\\HasChildren" : "\\HasNoChildren")
                }
                if let special = mailbox?.specialUse { attributes.append("\\" + special) }
                if (wantSubscribed || returns.contains("SUBSCRIBED")) && subscribed.contains(name) { attributes.append("\\Subscribed") }
            }
            untagged("\(lsub ? "LSUB" : "LIST") (\(attributes.joined(separator: " "))) \"/\" "
                     + String(decoding: wireName(name), as: UTF8.self) + (childInfo && !lsub ? " (\"CHILDINFO\" (\"SUBSCRIBED\"))" : ""))
            if let returnStatus, let entry, entry.mailbox.selectable, entry.rights.contains("r") {
                let items = try await status(entry.mailbox, owner: entry.owner, items: returnStatus, user: user)
                untagged("STATUS \(String(decoding: wireName(name), as: UTF8.self)) (\(items))")
            }
            // RFC 8440 LIST-MYRIGHTS.
            if !lsub, returns.contains("MYRIGHTS"), let entry {
                untagged("MYRIGHTS \(String(decoding: wireName(name), as: UTF8.self)) \(entry.rights)")
            }
        }
    }

    func storedPattern(_ pattern: String) -> String? {
        let decoded = utf8Names ? pattern : ModifiedUTF7.decode(pattern)
        guard let decoded else { return nil }
        if decoded.lowercased() == "inbox" { return "INBOX" }
        if decoded.lowercased().hasPrefix("inbox/") { return "INBOX" + decoded.dropFirst(5) }
        return decoded
    }

    /// RFC 5258 §3: LIST's RETURN options, STATUS followed by its items (flattened by the parser).
    static func validReturnOptions(_ returns: [String]) -> Bool {
        let options: Set<String> = ["SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS", "MYRIGHTS"]
        let statusItems: Set<String> = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT",
                                        "MAILBOXID"]
        var inStatus = false
        for word in returns {
            if word == "STATUS" { inStatus = true; continue }
            if inStatus && statusItems.contains(word) { continue }
            guard options.contains(word) else { return false }
            inStatus = false
        }
        return true
    }

    static func statusItems(_ returns: [String]) -> [String] {
        // The parser flattens `STATUS (MESSAGES UNSEEN)` to its words; the items follow STATUS.
        guard let index = returns.firstIndex(of: "STATUS") else { return [] }
        return returns[(index + 1)...].filter { ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT", "MAILBOXID"]
            .contains($0) }
    }

    /// LIST wildcards: `*` matches anything, `%` anything but the delimiter. Dynamic
    /// programming over (name, pattern) positions, so no pattern can make it run away.
    static func matches(_ name: String, pattern: String) -> Bool {
        let n = Array(name), p = Array(pattern)
        guard p.count <= 1_000 else { return false }
        // matched[j]: name[..<i] matches pattern[..<j], for the current i.
        var matched = [Bool](repeating: false, count: p.count + 1)
        matched[0] = true
        for j in 0..<p.count where p[j] == "*" || p[j] == "%" { matched[j + 1] = matched[j] }
        for i in 0..<n.count {
            var next = [Bool](repeating: false, count: p.count + 1)
            for j in 0..<p.count {
                switch p[j] {
                case "*": next[j + 1] = next[j] || matched[j + 1]
                case "%": next[j + 1] = next[j] || (matched[j + 1] && n[i] != "/")
                default: next[j + 1] = matched[j] && n[i] == p[j]
                }
            }
            matched = next
        }
        return matched[p.count]
    }
}
