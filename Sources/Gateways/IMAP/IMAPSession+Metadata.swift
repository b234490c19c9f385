import Commands
import Facts
import Foundation
import IMAPWire
import Projections

/// RFC 5464 METADATA: entries on the server (mailbox "") and on folders, `/private/…` the
/// user's own, `/shared/…` everyone's who can see the folder. Each change is a
/// `metadata_changed` fact on the acting user's stream.
extension IMAPSession {
    func metadataCommand(_ command: IMAPCommand, user: UserRecord) async throws {
        let tag = command.tag
        let name: String
        switch command.kind {
        case .getMetadata(let mailbox, _, _, _), .setMetadata(let mailbox, _): name = mailbox
        default: return
        }
        // Whose entries: the server's, or a folder's with the user's rights on it.
        var owner = "", mailboxID: Int64?, rights = MailboxRights.owner, shown = "\"\""
        if !name.isEmpty {
            guard let (location, mailbox, granted) = try await folder(name, user: user) else {
                tagged(tag, .noSuchMailbox)
                return
            }
            owner = location.owner
            mailboxID = mailbox.id
            rights = granted
            shown = String(decoding: wireName(visibleName(owner: location.owner, mailbox.name, user: user)), as: UTF8.self)
        }
        switch command.kind {
        case .getMetadata(_, let asked, let maxSize, let depth):
            let names = asked.map { MetadataEntries.normalised($0, levels: true) }
            guard names.allSatisfy({ $0 != nil }) else {
                tagged(tag, "BAD Entry names start with /private/ or /shared/")
                return
            }
            let stored = try await accounts.mail.reader.metadata(user.id, owner: owner, mailboxID: mailboxID)
            var found: [(String, String)] = []
            var longest = 0
            for entry in stored.keys.sorted() {
                let wanted = names.compactMap { $0 }.contains { name in
                    entry == name || (depth != 0 && entry.hasPrefix(name + "/")
                                      && (depth == -1 || !entry.dropFirst(name.count + 1).contains("/")))
                }
                guard wanted, let value = stored[entry] else { continue }
                if let maxSize, value.utf8.count > maxSize {
                    longest = max(longest, value.utf8.count)
                    continue
                }
                found.append((entry, value))
            }
            if !found.isEmpty {
                untagged("METADATA \(shown) (" + found.map { "\($0.0) " + Self.text($0.1) }.joined(separator: " ") + ")")
            }
            tagged(tag, longest > 0 ? "OK [METADATA LONGENTRIES \(longest)] GETMETADATA completed" : "OK GETMETADATA completed")
        case .setMetadata(_, let entries):
            var changes: [(entry: String, value: String?)] = []
            for entry in entries {
                guard let normalised = MetadataEntries.normalised(entry.entry) else {
                    tagged(tag, "BAD Entry names start with /private/ or /shared/")
                    return
                }
                if let value = entry.value, value.utf8.count > MetadataEntries.maximumValue {
                    tagged(tag, "NO [METADATA MAXSIZE \(MetadataEntries.maximumValue)] Value too long")
                    return
                }
                // The server's shared entries are the administrators'; a folder's, those of
                // whoever may write its flags (RFC 5464 §3.2 with RFC 4314 `w`).
                if normalised.hasPrefix("/shared/"), mailboxID == nil ? !user.admin : !rights.contains("w") {
                    tagged(tag, "NO [NOPERM] You may not change shared entries here")
                    return
                }
                changes.append((normalised, entry.value))
            }
            do {
                try await accounts.mail.setMetadata(user: user.id, owner: owner, mailboxID: mailboxID, changes)
            } catch MailStore.MetadataRefusal.tooMany {
                tagged(tag, "NO [METADATA TOOMANY] Too many entries")
                return
            }
            tagged(tag, .completed("SETMETADATA"))
        default:
            break
        }
    }
}
