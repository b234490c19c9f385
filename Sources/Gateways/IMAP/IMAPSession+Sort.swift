import EventLog
import Facts
import Foundation
import IMAPWire
import MailCore
import Projections
import WireCore

/// SORT and THREAD (RFC 5256), and QUOTA (RFC 9208) from the accounts' usage.
extension IMAPSession {
    struct Sortable {
        let number: Int
        let message: MessageInfo
        let summary: MessageSummary?
        /// RFC 5256 base subject in title case (i;unicode-casemap), worked out once per message.
        let subjectKey: String

        init(number: Int, message: MessageInfo, summary: MessageSummary?) {
            self.number = number
            self.message = message
            self.summary = summary
            subjectKey = BaseSubject(summary?.subjectText ?? "").text.uppercased()
        }
    }

    /// The selected messages matching `key`, with their summaries.
    func matching(_ key: IMAPSearchKey, user: UserRecord) async throws -> [Sortable] {
        guard let current = selected else { return [] }
        let messages = try await accounts.mail.messages(user.id, mailboxID: current.mailbox.id)
        let summaries = try await accounts.mail.summaries(Array(Set(messages.map(\.blob))))
        let needsText = Self.needs(key, text: true)
        let bodies = needsText ? try await accounts.bodies(Array(Set(messages.map(\.blob)))) : [:]
        let count = UInt32(current.uids.count), largest = current.uids.last ?? 0
        return messages.compactMap { message in
            guard let number = current.sequenceNumber(of: message.uid) else { return nil }
            let context = SearchContext(number: UInt32(number), count: count, largestUID: largest, message: message,
                                        recent: current.recent.contains(message.uid), summary: summaries[message.blob], body: bodies[message.blob])
            return context.matches(key) ? Sortable(number: number, message: message, summary: summaries[message.blob]) : nil
        }
    }

    func sort(tag: String, uid: Bool, criteria: [String], key: IMAPSearchKey, user: UserRecord) async throws {
        var keys: [(String, Bool)] = []
        var reverse = false
        for criterion in criteria {
            if criterion == "REVERSE" { reverse = true; continue }
            guard ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO"].contains(criterion) else {
                tagged(tag, "BAD Unknown sort criterion \(criterion)")
                return
            }
            keys.append((criterion, reverse))
            reverse = false
        }
        guard !keys.isEmpty else {
            tagged(tag, "BAD SORT needs criteria")
            return
        }
        let items = try await matching(key, user: user)
        let sorted = items.sorted { a, b in
            for (criterion, reversed) in keys {
                let order = Self.compare(a, b, criterion)
                if order != .orderedSame { return reversed ? order == .orderedDescending : order == .orderedAscending }
            }
            return a.number < b.number // RFC 5256 §3: ties by sequence number
        }
        untagged("SORT" + sorted.map { " \(uid ? Int($0.message.uid) : $0.number)" }.joined())
        tagged(tag, "OK SORT completed")
    }

    static func compare(_ a: Sortable, _ b: Sortable, _ criterion: String) -> ComparisonResult {
        func order<T: Comparable>(_ x: T, _ y: T) -> ComparisonResult { x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame }
        switch criterion {
        case "ARRIVAL": return order(a.message.internalDate, b.message.internalDate)
        case "DATE": return order(sentDate(a), sentDate(b))
        case "SIZE": return order(a.message.size, b.message.size)
        // i;unicode-casemap compares title case: "[" and "_" sort after the letters.
        case "SUBJECT": return order(a.subjectKey, b.subjectKey)
        case "FROM": return order(firstMailbox(a.summary?.envelope.from), firstMailbox(b.summary?.envelope.from))
        case "TO": return order(firstMailbox(a.summary?.envelope.to), firstMailbox(b.summary?.envelope.to))
        case "CC": return order(firstMailbox(a.summary?.envelope.cc), firstMailbox(b.summary?.envelope.cc))
        default: return .orderedSame
        }
    }

    /// RFC 5256 §2.2: the Date header, or the internal date when there is none.
    static func sentDate(_ item: Sortable) -> Date {
        item.summary?.sentDate.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? item.message.internalDate
    }

    static func firstMailbox(_ addresses: [MessageAddress]?) -> String {
        (addresses?.first?.mailbox ?? "").uppercased()
    }

    func thread(tag: String, uid: Bool, algorithm: String, key: IMAPSearchKey, user: UserRecord) async throws {
        guard algorithm == "ORDEREDSUBJECT" || algorithm == "REFERENCES" else {
            tagged(tag, "BAD Unknown threading algorithm")
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
            return Threading.Message(id: uid ? Int(item.message.uid) : item.number, order: item.number, date: Self.sentDate(item),
                                     subject: item.summary?.subjectText ?? "",
                                     messageID: Threading.messageIDs(item.summary?.envelope.messageID).first,
                                     references: references, inReplyTo: Threading.messageIDs(item.summary?.envelope.inReplyTo))
        }
        let threads = algorithm == "ORDEREDSUBJECT" ? Threading.orderedSubject(messages) : Threading.references(messages)
        untagged("THREAD " + threads.map(\.rendered).joined())
        tagged(tag, "OK THREAD completed")
    }

    /// RFC 9208: one quota root ("") per user, STORAGE in KiB.
    func quota(tag: String, root: String?, mailbox: String?, user: UserRecord) async throws {
        if let mailbox {
            guard let stored = storedName(mailbox), try await accounts.mail.mailbox(user.id, named: stored) != nil else {
                tagged(tag, "NO [NONEXISTENT] No such mailbox")
                return
            }
            untagged("QUOTAROOT " + String(decoding: wireName(stored), as: UTF8.self) + " \"\"")
        } else if root != "" {
            tagged(tag, "NO [NONEXISTENT] No such quota root")
            return
        }
        let used = ((try await accounts.mail.account(user.id)?.bytes ?? 0) + 1_023) / 1_024
        let limit = accounts.settings.value(SettingKey<Int>.mailQuotaKiB)
        untagged(limit > 0 ? "QUOTA \"\" (STORAGE \(used) \(limit))" : "QUOTA \"\" ()")
        tagged(tag, mailbox == nil ? "OK GETQUOTA completed" : "OK GETQUOTAROOT completed")
    }
}
