import Commands
import EventLog
import Facts
import Foundation
import IMAPWire
import MailCore
import MailQuery
import Projections
import WireCore

/// SORT and THREAD (RFC 5256), and QUOTA (RFC 9208) from the accounts' usage.
extension IMAPSession {
    /// The selected messages matching `key`, with their summaries.
    func matching(_ key: IMAPSearchKey, user: UserRecord) async throws -> [SortableMessage] {
        guard let current = selected else { return [] }
        let key = substitutingSaved(key)
        let messages = Self.viewed(try await accounts.mail.reader.messages(current.owner, mailboxID: current.mailbox.id), in: current)
        let summaries = try await accounts.mail.reader.summaries(Array(Set(messages.map(\.blob))))
        let needsText = MessageSearch.needs(key, text: true)
        let bodies = needsText ? try await accounts.bodies(Array(Set(messages.map(\.blob)))) : [:]
        let count = UInt32(current.uids.count), largest = current.uids.last ?? 0
        return messages.compactMap { message in
            guard let number = current.sequenceNumber(of: message.uid) else { return nil }
            let context = MessageSearch(number: UInt32(number), count: count, largestUID: largest, message: message,
                                        recent: current.recent.contains(message.uid), summary: summaries[message.blob], body: bodies[message.blob])
            return context.matches(key) ? SortableMessage(number: number, message: message, summary: summaries[message.blob]) : nil
        }
    }

    /// SORT (RFC 5256), SORT=DISPLAY's criteria (RFC 5957), and with RETURN, ESORT and
    /// CONTEXT=SORT (RFC 5267): the result in an ESEARCH response, in sort order, with PARTIAL
    /// and UPDATE.
    func sort(tag: String, uid: Bool, returns: [String]?, criteria: [String], key: IMAPSearchKey, user: UserRecord) async throws {
        var options: SearchReturn?
        if let returns {
            guard let parsed = SearchReturn(returns) else {
                tagged(tag, "BAD Unknown or malformed RETURN options")
                return
            }
            options = parsed
        }
        var keys: [SortKey] = []
        var reverse = false
        for criterion in criteria {
            if criterion == "REVERSE" { reverse = true; continue }
            guard ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"].contains(criterion) else {
                tagged(tag, "BAD Unknown sort criterion \(criterion)")
                return
            }
            keys.append(SortKey(criterion: criterion, reversed: reverse))
            reverse = false
        }
        guard !keys.isEmpty else {
            tagged(tag, .sortNeedsCriteria)
            return
        }
        let sorted = Self.sorted(try await matching(key, user: user), by: keys)
        let values = sorted.map { uid ? $0.message.uid : UInt32($0.number) }
        if let options {
            if options.save { savedResult = Set(options.saved(sorted.map(\.message.uid))) }
            if options.answers {
                untagged((["ESEARCH (TAG \"\(tag)\")"] + (uid ? ["UID"] : []) + options.data(values, sorted: true)).joined(separator: " "))
            }
            if options.update {
                searchContexts.removeAll { $0.tag == tag }
                searchContexts.append(SearchContext(tag: tag, uid: uid, key: substitutingSaved(key), sort: keys,
                                                    order: sorted.map(\.message.uid)))
            }
        } else {
            untagged("SORT" + values.map { " \($0)" }.joined())
        }
        tagged(tag, .completed("SORT"))
    }

    /// `items` in the order of `keys`; ties by message number (RFC 5256 §3), which is UID
    /// order, so the order of what stays never changes.
    static func sorted(_ items: [SortableMessage], by keys: [SortKey]) -> [SortableMessage] {
        items.sorted { a, b in
            for key in keys {
                let order = SortableMessage.compare(a, b, key.criterion)
                if order != .orderedSame { return key.reversed ? order == .orderedDescending : order == .orderedAscending }
            }
            return a.number < b.number
        }
    }

    func thread(tag: String, uid: Bool, algorithm: String, key: IMAPSearchKey, user: UserRecord) async throws {
        guard algorithm == "ORDEREDSUBJECT" || algorithm == "REFERENCES" else {
            tagged(tag, .unknownThreading)
            return
        }
        let items = try await matching(key, user: user)
        // REFERENCES needs the References field, which the summary does not keep.
        let bodies = algorithm == "REFERENCES" ? try await accounts.bodies(Array(Set(items.map(\.message.blob)))) : [:]
        let messages = items.map { item -> Threading.Message in
            var references: [String] = []
            if let body = bodies[item.message.blob] {
                let header = MessageHeader.parse(body, to: item.summary?.headerSize ?? body.count)
                references = Threading.messageIDs(header.all("References").joined(separator: " "))
            }
            return Threading.Message(id: uid ? Int(item.message.uid) : item.number, order: item.number, date: item.sentDate,
                                     subject: item.summary?.subjectText ?? "",
                                     messageID: Threading.messageIDs(item.summary?.envelope.messageID).first,
                                     references: references, inReplyTo: Threading.messageIDs(item.summary?.envelope.inReplyTo))
        }
        let threads = algorithm == "ORDEREDSUBJECT" ? Threading.orderedSubject(messages) : Threading.references(messages)
        untagged("THREAD " + threads.map(\.rendered).joined())
        tagged(tag, .completed("THREAD"))
    }

    /// RFC 9208: one quota root ("") per user, STORAGE in KiB.
    func quota(tag: String, root: String?, mailbox: String?, user: UserRecord) async throws {
        if let mailbox {
            guard let stored = storedName(mailbox), try await accounts.mail.reader.mailbox(user.id, named: stored) != nil else {
                tagged(tag, .noSuchMailbox)
                return
            }
            untagged("QUOTAROOT " + String(decoding: wireName(stored), as: UTF8.self) + " \"\"")
        } else if root != "" {
            tagged(tag, .noSuchQuotaRoot)
            return
        }
        let used = ((try await accounts.mail.reader.account(user.id)?.bytes ?? 0) + 1_023) / 1_024
        let limit = accounts.settings.value(SettingKey<Int>.mailQuotaKiB)
        untagged(limit > 0 ? "QUOTA \"\" (STORAGE \(used) \(limit))" : "QUOTA \"\" ()")
        tagged(tag, mailbox == nil ? "OK GETQUOTA completed" : "OK GETQUOTAROOT completed")
    }
}
