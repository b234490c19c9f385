import EventLog
import Foundation
import MailCore
import Projections

/// SORT and THREAD (RFC 5256), and QUOTA (RFC 9208) from the accounts' usage.
extension IMAPSession {
    struct Sortable {
        let number: Int
        let message: MessageInfo
        let summary: MessageSummary?
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
        case "SUBJECT": return order(baseSubject(a.summary?.subjectText ?? ""), baseSubject(b.summary?.subjectText ?? ""))
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
        (addresses?.first?.mailbox ?? "").lowercased()
    }

    /// RFC 5256 §2.1, simplified: leading "re:", "fw:", "fwd:" and "[...]" tags and a trailing
    /// "(fwd)" removed, whitespace collapsed, case folded.
    static func baseSubject(_ subject: String) -> String {
        var text = subject.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased()
        var changed = true
        while changed {
            changed = false
            while text.hasSuffix("(fwd)") {
                text = String(text.dropLast(5)).trimmingCharacters(in: .whitespaces)
                changed = true
            }
            for prefix in ["re:", "fw:", "fwd:"] where text.hasPrefix(prefix) {
                text = String(text.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
                changed = true
            }
            if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text.index(after: close) < text.endIndex {
                text = String(text[text.index(after: close)...]).trimmingCharacters(in: .whitespaces)
                changed = true
            }
        }
        return text
    }

    func thread(tag: String, uid: Bool, algorithm: String, key: IMAPSearchKey, user: UserRecord) async throws {
        guard algorithm == "ORDEREDSUBJECT" || algorithm == "REFERENCES" else {
            tagged(tag, "BAD Unknown threading algorithm")
            return
        }
        let items = try await matching(key, user: user)
        func id(_ item: Sortable) -> String { String(uid ? Int(item.message.uid) : item.number) }
        func byDate(_ a: Sortable, _ b: Sortable) -> Bool {
            let x = Self.sentDate(a), y = Self.sentDate(b)
            return x == y ? a.number < b.number : x < y
        }
        var threads: [String] = []
        if algorithm == "ORDEREDSUBJECT" {
            var groups: [String: [Sortable]] = [:]
            for item in items { groups[Self.baseSubject(item.summary?.subjectText ?? ""), default: []].append(item) }
            let ordered = groups.values.map { $0.sorted(by: byDate) }.sorted { byDate($0[0], $1[0]) }
            for group in ordered {
                if group.count <= 2 {
                    threads.append("(" + group.map(id).joined(separator: " ") + ")")
                } else {
                    threads.append("(" + id(group[0]) + " " + group.dropFirst().map { "(\(id($0)))" }.joined() + ")")
                }
            }
        } else {
            // Parents by In-Reply-To among the messages found; the rest are roots.
            var byMessageID: [String: Sortable] = [:]
            for item in items { if let messageID = item.summary?.envelope.messageID { byMessageID[messageID] = item } }
            var children: [Int: [Sortable]] = [:]
            var roots: [Sortable] = []
            for item in items {
                if let parentID = item.summary?.envelope.inReplyTo, let parent = byMessageID[parentID], parent.number != item.number {
                    children[parent.number, default: []].append(item)
                } else {
                    roots.append(item)
                }
            }
            func render(_ item: Sortable, depth: Int) -> String {
                let kids = (children[item.number] ?? []).sorted(by: byDate)
                guard depth < 100, !kids.isEmpty else { return id(item) }
                if kids.count == 1 { return id(item) + " " + render(kids[0], depth: depth + 1) }
                return id(item) + " " + kids.map { "(" + render($0, depth: depth + 1) + ")" }.joined()
            }
            threads = roots.sorted(by: byDate).map { "(" + render($0, depth: 0) + ")" }
        }
        untagged("THREAD " + threads.joined())
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
