import Commands
import EventLog
import Facts
import Foundation
import IMAPWire
import Logging
import MailCore
import MailQuery
import Projections
import WireCore

/// Commands on the selected mailbox: FETCH, STORE, SEARCH (with ESEARCH), COPY, MOVE, EXPUNGE,
/// CLOSE, UNSELECT, and the untagged updates that keep a session in step with the others.
extension IMAPSession {
    func messageCommand(_ command: IMAPCommand, user: UserRecord) async throws {
        let tag = command.tag
        guard let current = selected else { return }
        switch command.kind {
        case .close, .unselect:
            // RFC 4314 §4: CLOSE expunges only with `e`.
            if case .close = command.kind, !current.readOnly, current.rights.contains("e") {
                _ = try await accounts.mail.expunge(user: current.owner, mailboxID: current.mailbox.id)
            }
            state = .authenticated(user)
            searchContexts = []
            savedResult = []
            tagged(tag, "OK \(command.kind == .close ? "CLOSE" : "UNSELECT") completed")
        case .expunge, .uidExpunge:
            guard !current.readOnly else {
                tagged(tag, .readOnly)
                return
            }
            guard current.rights.contains("e") else {
                tagged(tag, "NO [NOPERM] You may not expunge this mailbox")
                return
            }
            var uids: [UInt32]?
            if case .uidExpunge(let set) = command.kind { uids = resolve(set, uid: true, in: current).map(\.uid) }
            let removed = try await accounts.mail.expunge(user: current.owner, mailboxID: current.mailbox.id, uids: uids)
            reportExpunged(removed)
            await refresh(allowExpunge: true)
            tagged(tag, .completed("EXPUNGE"))
        case .fetch(let uid, let set, let items, let changedSince, let vanished):
            try await fetch(set, uid: uid, items: items, changedSince: changedSince, vanished: vanished, user: user)
            await refresh(allowExpunge: uid)
            tagged(tag, .completed("FETCH"))
        case .store(let uid, let set, let mode, let silent, let flags, let unchangedSince):
            guard !current.readOnly else {
                tagged(tag, .readOnly)
                return
            }
            // RFC 4314 §4: \Seen needs `s`, \Deleted `t`, other flags `w`; replacing them all, each.
            let needed = mode == .replace ? "stw" : String(Set(flags.map { flag -> Character in
                switch flag.lowercased() {
                case "\\seen": "s"
                case "\\deleted": "t"
                default: "w"
                }
            }))
            guard needed.allSatisfy(current.rights.contains) else {
                tagged(tag, "NO [NOPERM] You may not change these flags")
                return
            }
            var modified = try await store(set, uid: uid, mode: mode, silent: silent, flags: flags,
                                           unchangedSince: unchangedSince, user: user)
            // RFC 7162 §3.1.3: MODIFIED lists UIDs for UID STORE, message numbers for STORE.
            if !uid, let now = selected { modified = modified.compactMap { now.sequenceNumber(of: $0).map(UInt32.init) } }
            await refresh(allowExpunge: uid)
            tagged(tag, modified.isEmpty ? "OK STORE completed" : "OK [MODIFIED \(Self.compress(modified))] Conditional STORE failed")
        case .search(let uid, let returns, let key):
            var options: SearchReturn?
            if let returns {
                guard let parsed = SearchReturn(returns) else {
                    if returns.contains("SAVE") { savedResult = [] } // RFC 5182 §2.1: a failed SAVE empties `$`
                    tagged(tag, "BAD Unknown or malformed RETURN options")
                    return
                }
                options = parsed
            }
            try await search(tag: tag, uid: uid, options: options, key: key, user: user)
            await refresh(allowExpunge: uid)
            tagged(tag, .completed("SEARCH"))
        case .copy(let uid, let set, let name), .move(let uid, let set, let name):
            let isMove: Bool
            if case .move = command.kind { isMove = true } else { isMove = false }
            if isMove && current.readOnly {
                tagged(tag, .readOnly)
                return
            }
            guard let (location, target, targetRights) = try await folder(name, user: user), target.selectable else {
                tagged(tag, .tryCreate)
                return
            }
            // RFC 4314 §4: `i` on the target; a move also takes `t` and `e` on the source.
            guard targetRights.contains("i"), !isMove || (current.rights.contains("t") && current.rights.contains("e")) else {
                tagged(tag, "NO [NOPERM] You may not \(isMove ? "move" : "copy") messages there")
                return
            }
            let sameFolder = location.owner == current.owner && target.id == current.mailbox.id
            let uids = resolve(set, uid: uid, in: current).map(\.uid)
            guard !uids.isEmpty else {
                tagged(tag, "OK Nothing to \(isMove ? "move" : "copy")")
                return
            }
            if !isMove || location.owner != current.owner {
                let wanted = Set(uids)
                let bytes = try await accounts.mail.reader.messages(current.owner, mailboxID: current.mailbox.id)
                    .filter { wanted.contains($0.uid) }.reduce(Int64(0)) { $0 + $1.size }
                if try await accounts.overQuota(location.owner, adding: bytes) {
                    tagged(tag, .copiesOverQuota)
                    return
                }
            }
            let result: MailStore.CopyResult
            if location.owner != current.owner {
                // Between two users' folders (one of them shared): appended to the target's owner.
                result = try await accounts.mail.transfer(from: current.owner, mailbox: current.mailbox.id, uids: uids,
                                                          to: location.owner, mailbox: target.id, move: isMove, viewer: user.id)
            } else if isMove && sameFolder {
                // A move within one mailbox: new UIDs for the same messages (copy, then remove the old).
                result = try await accounts.mail.copy(user: current.owner, from: current.mailbox.id, uids: uids, to: target.id)
                _ = try await accounts.mail.expunge(user: current.owner, mailboxID: current.mailbox.id, uids: uids, onlyDeleted: false)
            } else if isMove {
                result = try await accounts.mail.move(user: current.owner, from: current.mailbox.id, uids: uids, to: target.id)
            } else {
                result = try await accounts.mail.copy(user: current.owner, from: current.mailbox.id, uids: uids, to: target.id)
            }
            if sameFolder { refreshedAt = nil } // our own new messages: EXISTS now
            let code = "COPYUID \(result.uidValidity) \(Self.compress(result.uids.map(\.0))) \(Self.compress(result.uids.map(\.1)))"
            if isMove {
                untagged("OK [\(code)] Moved")
                reportExpunged(result.uids.map(\.0))
                await refresh(allowExpunge: true)
                tagged(tag, .completed("MOVE"))
            } else {
                await refresh(allowExpunge: uid)
                tagged(tag, "OK [\(code)] COPY completed")
            }
        default:
            break
        }
    }

    /// The messages of `set` that exist, as (message number, UID).
    func resolve(_ set: IMAPSequenceSet, uid: Bool, in current: Selected) -> [(number: Int, uid: UInt32)] {
        var result: [(Int, UInt32)] = []
        if set.saved {
            // RFC 5182 `$`: the saved messages still here, whether the command is UID or not.
            for (index, value) in current.uids.enumerated() where savedResult.contains(value) { result.append((index + 1, value)) }
        } else if uid {
            let largest = current.uids.last ?? 0
            for (index, value) in current.uids.enumerated() where set.contains(value, largest: largest) {
                result.append((index + 1, value))
            }
        } else {
            let count = UInt32(current.uids.count)
            for (index, value) in current.uids.enumerated() where set.contains(UInt32(index + 1), largest: count) {
                result.append((index + 1, value))
            }
        }
        return result
    }

    /// RFC 9586 §3: with UIDONLY, a command naming messages by number (or searching by number).
    static func usesMessageNumbers(_ kind: IMAPCommandKind) -> Bool {
        func numbered(_ key: IMAPSearchKey) -> Bool {
            switch key {
            case .sequence(let set): !set.saved
            case .not(let inner): numbered(inner)
            case .or(let a, let b): numbered(a) || numbered(b)
            case .and(let keys): keys.contains(where: numbered)
            default: false
            }
        }
        switch kind {
        case .fetch(let uid, _, _, _, _), .store(let uid, _, _, _, _, _), .copy(let uid, _, _), .move(let uid, _, _):
            return !uid
        case .search(let uid, _, let key), .sort(let uid, _, _, let key), .thread(let uid, _, let key):
            return !uid || numbered(key)
        default:
            return false
        }
    }

    /// RFC 9586 UIDONLY: message numbers are not used; FETCH responses are UIDFETCH.
    var uidOnly: Bool { enabled.contains("UIDONLY") }

    /// An untagged FETCH; with UIDONLY a UIDFETCH named by the UID, without a UID item.
    func fetchLine(_ number: Int, _ uid: UInt32, _ items: [String]) -> String {
        guard uidOnly else { return "\(number) FETCH (\(items.joined(separator: " ")))" }
        return "\(uid) UIDFETCH (\(items.filter { !$0.hasPrefix("UID ") }.joined(separator: " ")))"
    }

    /// Own expunges: EXPUNGE per message (or VANISHED with QRESYNC), renumbering as it goes.
    func reportExpunged(_ uids: [UInt32]) {
        guard case .selected(let user, var current) = state else { return }
        let gone = uids.filter { current.sequenceNumber(of: $0) != nil }
        dropFromSearchContexts(gone, in: current)
        if enabled.contains("QRESYNC") || uidOnly {
            if !gone.isEmpty { untagged("VANISHED \(Self.compress(gone))") }
            for uid in gone { remove(uid, from: &current) }
        } else {
            for uid in gone.sorted() {
                guard let number = current.sequenceNumber(of: uid) else { continue }
                untagged("\(number) EXPUNGE")
                remove(uid, from: &current)
            }
        }
        state = .selected(user, current)
    }

    func remove(_ uid: UInt32, from current: inout Selected) {
        if let number = current.sequenceNumber(of: uid) { current.uids.remove(at: number - 1) }
        current.flags[uid] = nil
        current.modSeqs[uid] = nil
        current.pendingExpunges.remove(uid)
        current.recent.remove(uid)
    }

    /// Reports what other sessions and deliveries changed: new messages (EXISTS), flag changes
    /// (FETCH), and — when allowed — expunges.
    func refresh(allowExpunge: Bool) async {
        guard case .selected(let user, var current) = state else { return }
        let generation = accounts.changeMark
        if generation == refreshedAt {
            if allowExpunge && !current.pendingExpunges.isEmpty { reportExpunged(Array(current.pendingExpunges)) }
            // This command's own changes may be noted only once it is done.
            await updateSearchContexts()
            return
        }
        refreshedAt = generation
        let changes: MailReader.Changes
        do {
            changes = try await accounts.mail.reader.changes(current.owner, mailboxID: current.mailbox.id, since: current.known)
        } catch {
            logger.warning("reading mailbox changes failed", metadata: ["error": "\(error)"])
            return
        }
        // In another user's folder: this user's own \\Seen as it is now (their other sessions may
        // have changed it).
        if current.seenByMe != nil, !changes.messages.isEmpty,
           let seen = try? await accounts.mail.reader.seenBy(user.id, owner: current.owner, mailboxID: current.mailbox.id) {
            current.seenByMe = seen
        }
        var added: [UInt32] = []
        var lines: [String] = []
        var seenFlags: [String] = []
        for (uid, modSeq) in changes.expunged {
            current.known = max(current.known, modSeq)
            if current.sequenceNumber(of: uid) != nil { current.pendingExpunges.insert(uid) }
        }
        for message in Self.viewed(changes.messages, in: current) {
            current.known = max(current.known, message.modSeq)
            if current.flags[message.uid] == nil {
                guard message.uid > (current.uids.last ?? 0) else { continue }
                current.uids.append(message.uid)
                current.flags[message.uid] = message.flags
                current.modSeqs[message.uid] = message.modSeq
                added.append(message.uid)
            } else if current.flags[message.uid] != message.flags || current.modSeqs[message.uid] != message.modSeq {
                let changedFlags = current.flags[message.uid] != message.flags
                current.flags[message.uid] = message.flags
                current.modSeqs[message.uid] = message.modSeq
                if changedFlags || enabled.contains("CONDSTORE"), let number = current.sequenceNumber(of: message.uid) {
                    var items = ["FLAGS (\(shownFlags(message.uid, message.flags, in: current)))"]
                    if enabled.contains("CONDSTORE") { items = ["UID \(message.uid)"] + items + ["MODSEQ (\(message.modSeq))"] }
                    lines.append(fetchLine(number, message.uid, items))
                    seenFlags += message.flags
                }
            }
        }
        for message in changes.messages where current.sequenceNumber(of: message.uid) != nil { seenFlags += message.flags }
        // New messages are recent in the first session that learns of them (RFC 3501 §2.3.2).
        if !added.isEmpty {
            do {
                current.recent.formUnion(current.readOnly ? try await accounts.recent.unclaimed(added, in: current.mailbox, of: current.owner)
                                                          : try await accounts.recent.claim(added, in: current.mailbox, of: current.owner))
            } catch {
                logger.warning("claiming \\Recent failed", metadata: ["error": "\(error)"])
            }
        }
        state = .selected(user, current)
        announceKeywords(in: seenFlags)
        for line in lines { untagged(line) }
        if allowExpunge && !current.pendingExpunges.isEmpty { reportExpunged(Array(current.pendingExpunges)) }
        if !added.isEmpty, let now = selected {
            untagged("\(now.uids.count) EXISTS")
            if showsRecent { untagged("\(now.recent.count) RECENT") }
        }
        await updateSearchContexts()
    }

    // MARK: FETCH

    func fetch(_ set: IMAPSequenceSet, uid: Bool, items: [IMAPFetchItem], changedSince: Int64?, vanished: Bool,
               user: UserRecord) async throws {
        guard let current = selected else { return }
        var targets = resolve(set, uid: uid, in: current)
        if let changedSince { targets = targets.filter { (current.modSeqs[$0.uid] ?? 0) > changedSince } }
        if vanished, uid, let changedSince, enabled.contains("QRESYNC") {
            let changes = try await accounts.mail.reader.changes(current.owner, mailboxID: current.mailbox.id, since: changedSince)
            let largest = current.mailbox.uidNext
            let gone = changes.expunged.map(\.uid).filter { set.contains($0, largest: largest) }
            if !gone.isEmpty { untagged("VANISHED (EARLIER) \(Self.compress(gone))") }
        }
        guard !targets.isEmpty else { return }
        var items = items
        if uid && !items.contains(.uid) { items.insert(.uid, at: 0) }
        if changedSince != nil && !items.contains(.modSeq) { items.append(.modSeq) } // RFC 7162 §3.1.4.1
        let needsSummary = items.contains { item in
            switch item {
            case .envelope, .bodyStructure, .body, .section, .binarySize, .rfc822Header, .rfc822Text, .preview, .threadID: true
            default: false
            }
        }
        let previewNow = items.contains(.preview(lazy: false))
        let needsBody = items.contains { item in
            switch item {
            case .rfc822, .rfc822Header, .rfc822Text, .section, .binarySize: true
            default: false
            }
        }
        let setsSeen = !current.readOnly && current.rights.contains("s") && items.contains { item in
            switch item {
            case .section(_, _, let peek, _): !peek
            case .rfc822, .rfc822Text: true
            default: false
            }
        }
        // Read in batches so a FETCH 1:* of a big mailbox does not hold every body at once.
        for batch in stride(from: 0, to: targets.count, by: 200).map({ Array(targets[$0..<min($0 + 200, targets.count)]) }) {
            let infos = Dictionary(uniqueKeysWithValues: Self.viewed(try await accounts.mail.reader.messages(
                current.owner, mailboxID: current.mailbox.id, uids: batch.map(\.uid)), in: selected ?? current).map { ($0.uid, $0) })
            let blobs = Array(Set(infos.values.map(\.blob)))
            let summaries = needsSummary ? try await accounts.mail.reader.summaries(blobs) : [:]
            // A preview not kept with its summary is worked out from the body (PREVIEW without LAZY).
            let previewless = previewNow ? blobs.filter { summaries[$0]?.preview == nil } : []
            let bodies = needsBody ? try await accounts.bodies(blobs) : previewless.isEmpty ? [:] : try await accounts.bodies(previewless)
            var seenFlags: [UInt32: [String]] = [:]
            if setsSeen {
                let unseen = infos.values.filter { !$0.flags.contains("\\Seen") }.map(\.uid)
                if !unseen.isEmpty, current.seenByMe != nil {
                    // In another user's folder the reader's own \Seen.
                    let (flipped, modSeq) = try await accounts.mail.setSeen(reader: user.id, owner: current.owner,
                                                                            mailboxID: current.mailbox.id, uids: unseen, seen: true)
                    if !flipped.isEmpty { accounts.noteChange() }
                    setSelected { selected in
                        selected.seenByMe?.formUnion(flipped)
                        for uid in flipped {
                            let flags = (selected.flags[uid] ?? infos[uid]?.flags ?? []) + ["\\Seen"]
                            selected.flags[uid] = flags
                            seenFlags[uid] = flags
                            if let modSeq { selected.modSeqs[uid] = modSeq }
                        }
                    }
                } else if !unseen.isEmpty {
                    let result = try await accounts.mail.setFlags(user: current.owner, mailboxID: current.mailbox.id, uids: unseen, .add,
                                                                  ["\\Seen"])
                    seenFlags = result.flags
                    accounts.noteChange()
                    setSelected { selected in
                        for (uid, flags) in result.flags { selected.flags[uid] = flags }
                        if let modSeq = result.modSeq {
                            for uid in result.changed { selected.modSeqs[uid] = modSeq }
                        }
                    }
                }
            }
            announceKeywords(in: infos.values.flatMap(\.flags) + seenFlags.values.flatMap { $0 })
            for (number, uid) in batch {
                guard let info = infos[uid] else { continue } // expunged meanwhile
                let flags = seenFlags[uid] ?? selected?.flags[uid] ?? info.flags
                let modSeq = selected?.modSeqs[uid] ?? info.modSeq
                var parts: [[UInt8]] = []
                for item in items where !(uidOnly && item == .uid) {
                    parts.append(render(item, info: info, flags: flags, modSeq: modSeq, summary: summaries[info.blob],
                                        body: bodies[info.blob]))
                }
                if !seenFlags.isEmpty, seenFlags[uid] != nil, !items.contains(.flags) {
                    parts.append(Array("FLAGS (\(shownFlags(uid, flags)))".utf8))
                }
                let name = uidOnly ? "* \(uid) UIDFETCH (" : "* \(number) FETCH ("
                output += Array(name.utf8) + Array(parts.joined(separator: [0x20])) + Array(")\r\n".utf8)
            }
            await flush()
        }
    }

    func render(_ item: IMAPFetchItem, info: MessageInfo, flags: [String], modSeq: Int64, summary: MessageSummary?,
                body: [UInt8]?) -> [UInt8] {
        let message = body ?? []
        switch item {
        case .uid: return Array("UID \(info.uid)".utf8)
        case .flags: return Array("FLAGS (\(shownFlags(info.uid, flags)))".utf8)
        case .internalDate: return Array("INTERNALDATE \"\(IMAPDate.format(info.internalDate))\"".utf8)
        case .rfc822Size: return Array("RFC822.SIZE \(info.size)".utf8)
        case .modSeq: return Array("MODSEQ (\(modSeq))".utf8)
        case .envelope:
            return Array("ENVELOPE ".utf8) + (summary.map { IMAPRender.envelope($0.envelope) } ?? Array("NIL".utf8))
        case .bodyStructure:
            return Array("BODYSTRUCTURE ".utf8) + (summary.map { IMAPRender.bodyStructure($0.body, extended: true) } ?? Array("NIL".utf8))
        case .body:
            return Array("BODY ".utf8) + (summary.map { IMAPRender.bodyStructure($0.body, extended: false) } ?? Array("NIL".utf8))
        case .rfc822:
            return Array("RFC822 ".utf8) + IMAPText.literal(message)
        case .rfc822Header:
            let size = summary?.headerSize ?? message.count
            return Array("RFC822.HEADER ".utf8) + IMAPText.literal(Array(message.prefix(size)))
        case .rfc822Text:
            let size = summary?.headerSize ?? 0
            return Array("RFC822.TEXT ".utf8) + IMAPText.literal(Array(message.dropFirst(size)))
        case .section(let section, let partial, _, let binary):
            let name = (binary ? "BINARY[" : "BODY[") + section.description + "]"
            guard let summary, var bytes = IMAPRender.section(section, of: message, summary: summary) else {
                return Array("\(name) NIL".utf8)
            }
            if binary {
                let part = IMAPRender.part(section.part, in: summary.body) ?? summary.body
                guard let decoded = IMAPRender.decoded(bytes, encoding: part.encoding) else {
                    return Array("\(name) NIL".utf8) // RFC 3516: UNKNOWN-CTE would be a NO; NIL keeps the rest
                }
                bytes = decoded
            }
            var label = name
            if let partial {
                label += "<\(partial.lowerBound)>"
                let start = min(partial.lowerBound, bytes.count), end = min(partial.upperBound + 1, bytes.count)
                bytes = Array(bytes[start..<end])
            }
            let value = binary && bytes.contains(0) ? Array("~{\(bytes.count)}\r\n".utf8) + bytes : IMAPText.literal(bytes)
            return Array("\(label) ".utf8) + value
        case .emailID:
            return Array("EMAILID (\(MessageSearch.emailID(info)))".utf8)
        case .threadID:
            return Array("THREADID (\(MessageSearch.threadID(info, summary: summary)))".utf8)
        case .saveDate:
            return Array("SAVEDATE ".utf8) + (info.savedAt.map { Array("\"\(IMAPDate.format($0))\"".utf8) } ?? Array("NIL".utf8))
        case .preview(let lazy):
            if let preview = summary?.preview { return Array("PREVIEW ".utf8) + IMAPText.string(preview) }
            guard !lazy, let summary, !message.isEmpty else { return Array("PREVIEW NIL".utf8) }
            // Stored before previews were kept: worked out now.
            let text = MessageText.preview(summary) { range in
                Array(message[min(range.lowerBound, message.count)..<min(range.upperBound, message.count)])
            }
            return Array("PREVIEW ".utf8) + IMAPText.string(text)
        case .binarySize(let path):
            guard let summary, let bytes = IMAPRender.section(IMAPSection(part: path, text: .all), of: message, summary: summary)
            else { return Array("BINARY.SIZE[\(path.map(String.init).joined(separator: "."))] NIL".utf8) }
            let part = IMAPRender.part(path, in: summary.body) ?? summary.body
            let size = IMAPRender.decoded(bytes, encoding: part.encoding)?.count ?? bytes.count
            return Array("BINARY.SIZE[\(path.map(String.init).joined(separator: "."))] \(size)".utf8)
        }
    }

    // MARK: STORE

    /// Returns the UIDs an UNCHANGEDSINCE condition left alone.
    func store(_ set: IMAPSequenceSet, uid: Bool, mode: IMAPStoreMode, silent: Bool, flags: [String], unchangedSince: Int64?,
               user: UserRecord) async throws -> [UInt32] {
        guard let current = selected else { return [] }
        let targets = resolve(set, uid: uid, in: current)
        guard !targets.isEmpty else { return [] }
        let operation: MailStore.FlagOperation = switch mode {
        case .add: .add
        case .remove: .remove
        case .replace: .replace
        }
        let result: (flags: [UInt32: [String]], changed: Set<UInt32>, modified: [UInt32], modSeq: Int64?)
        if current.seenByMe != nil {
            result = try await sharedStore(targets.map(\.uid), mode: mode, flags: flags, unchangedSince: unchangedSince, user: user)
        } else {
            let stored = try await accounts.mail.setFlags(user: current.owner, mailboxID: current.mailbox.id, uids: targets.map(\.uid),
                                                          operation, flags.filter { $0 != "\\Recent" }, unchangedSince: unchangedSince)
            result = (stored.flags, Set(stored.changed), stored.modified, stored.modSeq)
        }
        setSelected { selected in
            for (uid, flags) in result.flags { selected.flags[uid] = flags }
            if let modSeq = result.modSeq {
                for uid in result.changed where selected.modSeqs[uid] != nil { selected.modSeqs[uid] = max(selected.modSeqs[uid] ?? 0, modSeq) }
            }
        }
        let condStore = enabled.contains("CONDSTORE") || unchangedSince != nil
        announceKeywords(in: result.flags.values.flatMap { $0 })
        for (number, messageUID) in targets {
            guard let flags = result.flags[messageUID], !result.modified.contains(messageUID) else { continue }
            // RFC 7162 §3.1.3: with CONDSTORE, changed messages are reported even for .SILENT.
            let changed = result.changed.contains(messageUID)
            guard !silent || (condStore && changed) else { continue }
            var items: [String] = []
            if uid || condStore { items.append("UID \(messageUID)") }
            if !silent { items.append("FLAGS (\(shownFlags(messageUID, flags)))") }
            if condStore { items.append("MODSEQ (\(selected?.modSeqs[messageUID] ?? 0))") }
            untagged(fetchLine(number, messageUID, items))
        }
        return result.modified
    }

    // MARK: SEARCH

    func search(tag: String, uid: Bool, options: SearchReturn?, key: IMAPSearchKey, user: UserRecord) async throws {
        guard let current = selected else { return }
        let key = substitutingSaved(key)
        let messages = Self.viewed(try await accounts.mail.reader.messages(current.owner, mailboxID: current.mailbox.id), in: current)
        let needsText = MessageSearch.needs(key, text: true)
        let needsSummary = needsText || MessageSearch.needs(key, text: false)
        var matches: [(number: Int, uid: UInt32, modSeq: Int64)] = []
        let largestUID = current.uids.last ?? 0
        let count = UInt32(current.uids.count)
        for batch in stride(from: 0, to: messages.count, by: 200).map({ Array(messages[$0..<min($0 + 200, messages.count)]) }) {
            let blobs = Array(Set(batch.map(\.blob)))
            let summaries = needsSummary ? try await accounts.mail.reader.summaries(blobs) : [:]
            let bodies = needsText ? try await accounts.bodies(blobs) : [:]
            for message in batch {
                guard let number = current.sequenceNumber(of: message.uid) else { continue }
                let context = MessageSearch(number: UInt32(number), count: count, largestUID: largestUID, message: message,
                                            recent: current.recent.contains(message.uid),
                                            summary: summaries[message.blob], body: bodies[message.blob])
                if context.matches(key) { matches.append((number, message.uid, message.modSeq)) }
            }
        }
        let values = matches.map { uid ? $0.uid : UInt32($0.number) }
        var modSeq = MessageSearch.usesModSeq(key) ? matches.map(\.modSeq).max() : nil
        if let options, options.save { savedResult = Set(options.saved(matches.map(\.uid))) }
        if let options, !options.answers {
            // SAVE alone: nothing to say.
        } else if let options {
            // RFC 4731 ESEARCH, RFC 5267 PARTIAL and UPDATE.
            // RFC 7162 §3.1.5: with only MIN and/or MAX, the MODSEQ of the messages reported.
            if modSeq != nil, !options.all, !options.count, let first = matches.first, let last = matches.last {
                var reported: [Int64] = []
                if options.min { reported.append(first.modSeq) }
                if options.max { reported.append(last.modSeq) }
                if let highest = reported.max() { modSeq = highest }
            }
            var parts = ["(TAG \"\(tag)\")"]
            if uid { parts.append("UID") }
            parts += options.data(values, sorted: false)
            if let modSeq { parts.append("MODSEQ \(modSeq)") }
            untagged("ESEARCH " + parts.joined(separator: " "))
            if options.update {
                searchContexts.removeAll { $0.tag == tag }
                searchContexts.append(SearchContext(tag: tag, uid: uid, key: key, order: matches.map(\.uid).sorted()))
            }
        } else {
            var line = "SEARCH" + values.map { " \($0)" }.joined()
            if let modSeq, !values.isEmpty { line += " (MODSEQ \(modSeq))" }
            untagged(line)
        }
    }

}
