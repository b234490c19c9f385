import Crypto
import Foundation
import IMAPWire
import MailCore
import Projections

/// One message as a search sees it (RFC 9051 §6.4.4 SEARCH keys): IMAP's SEARCH, SORT and
/// THREAD use it, and so can any other front end that searches a mailbox.
public struct MessageSearch {
    public let number: UInt32
    public let count: UInt32
    public let largestUID: UInt32
    public let message: MessageInfo
    public let recent: Bool
    public let summary: MessageSummary?
    public let body: [UInt8]?
    /// WITHIN's OLDER and YOUNGER count back from here.
    public var now = Date()

    /// The message numbered `number` of `count`, the mailbox's largest UID being `largestUID`;
    /// `body` is needed only for keys `needs(_:text: true)` says need it.
    public init(number: UInt32, count: UInt32, largestUID: UInt32, message: MessageInfo, recent: Bool,
                summary: MessageSummary?, body: [UInt8]?) {
        self.number = number
        self.count = count
        self.largestUID = largestUID
        self.message = message
        self.recent = recent
        self.summary = summary
        self.body = body
    }

    /// Whether `key` needs the message bytes (`text`) or only the parsed summary.
    public static func needs(_ key: IMAPSearchKey, text: Bool) -> Bool {
        switch key {
        case .body, .text, .header: return true
        case .sentBefore, .sentOn, .sentSince, .threadID: return !text
        case .not(let inner): return needs(inner, text: text)
        case .or(let a, let b): return needs(a, text: text) || needs(b, text: text)
        case .and(let keys): return keys.contains { needs($0, text: text) }
        default: return false
        }
    }

    public static func usesModSeq(_ key: IMAPSearchKey) -> Bool {
        switch key {
        case .modSeq: true
        case .not(let inner): usesModSeq(inner)
        case .or(let a, let b): usesModSeq(a) || usesModSeq(b)
        case .and(let keys): keys.contains(where: usesModSeq)
        default: false
        }
    }

    public func matches(_ key: IMAPSearchKey) -> Bool {
        switch key {
        case .all: return true
        case .sequence(let set): return set.contains(number, largest: count)
        case .uid(let set): return set.contains(message.uid, largest: largestUID)
        case .flag(let flag, let set):
            let has = message.flags.contains { $0.caseInsensitiveCompare(flag) == .orderedSame }
            return has == set
        case .recent: return recent
        case .new: return recent && !message.flags.contains("\\Seen")
        case .old: return !recent
        case .header(let field, let value): return headerContains(field, value)
        case .body(let text): return contains(bodyBytes, text)
        case .text(let text): return contains(body ?? [], text)
        case .before(let date): return day(message.internalDate) < day(date)
        case .on(let date): return day(message.internalDate) == day(date)
        case .since(let date): return day(message.internalDate) >= day(date)
        case .sentBefore(let date): return sentDay.map { $0 < day(date) } ?? false
        case .sentOn(let date): return sentDay.map { $0 == day(date) } ?? false
        case .sentSince(let date): return sentDay.map { $0 >= day(date) } ?? false
        case .larger(let size): return message.size > size
        case .smaller(let size): return message.size < size
        case .not(let inner): return !matches(inner)
        case .or(let a, let b): return matches(a) || matches(b)
        case .and(let keys): return keys.allSatisfy(matches)
        case .modSeq(let value): return message.modSeq >= value
        case .emailID(let id): return id == Self.emailID(message)
        case .threadID(let id): return id == Self.threadID(message, summary: summary)
        // RFC 8514 §4: a message without a save date matches as if saved at its internal date.
        case .savedBefore(let date): return day(message.savedAt ?? message.internalDate) < day(date)
        case .savedOn(let date): return day(message.savedAt ?? message.internalDate) == day(date)
        case .savedSince(let date): return day(message.savedAt ?? message.internalDate) >= day(date)
        case .saveDateSupported: return true
        case .older(let seconds): return message.internalDate <= now.addingTimeInterval(-TimeInterval(seconds))
        case .younger(let seconds): return message.internalDate > now.addingTimeInterval(-TimeInterval(seconds))
        }
    }

    /// RFC 9051 §6.4.4: the Date header's own calendar day, "disregarding time and timezone".
    var sentDay: Int64? {
        if let text = summary?.envelope.date, let local = Self.calendarDay(text) { return local }
        return summary?.sentDate.map { day(Date(timeIntervalSince1970: TimeInterval($0))) }
    }

    /// Days since 1970 of the `d Mon yyyy` in a Date header, ignoring the time and zone.
    static func calendarDay(_ text: String) -> Int64? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
        for (index, word) in words.enumerated() where index + 2 < words.count {
            guard let day = Int(word), (1...31).contains(day),
                  let month = IMAPDate.months.firstIndex(of: words[index + 1].lowercased().prefix(3).description),
                  var year = Int(words[index + 2]) else { continue }
            if year < 50 { year += 2_000 } else if year < 1_000 { year += 1_900 }
            guard let date = IMAPDate.utc(year: year, month: month + 1, day: day, seconds: 0) else { return nil }
            return Int64((date.timeIntervalSince1970 / 86_400).rounded(.down))
        }
        return nil
    }

    /// RFC 8474 EMAILID: the content's SHA-256 (the blob id), so copies and moves keep it and
    /// only identical messages share it; the same after `pillarbox rebuild`.
    public static func emailID(_ message: MessageInfo) -> String {
        "M" + message.blob.bytes.prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// RFC 8474 THREADID: drawn from the message id at the root of the conversation
    /// (`MessageSummary.conversationRoot`), so a reply shares its thread's id in every folder
    /// and after `pillarbox rebuild`; a message with no ids at all is a thread of its own.
    public static func threadID(_ message: MessageInfo, summary: MessageSummary?) -> String {
        guard let root = summary?.conversationRoot else { return "T" + emailID(message).dropFirst() }
        return "T" + SHA256.hash(data: Array(root.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    func day(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / 86_400).rounded(.down)) }

    var bodyBytes: [UInt8] {
        guard let body, let summary else { return body ?? [] }
        return Array(body.dropFirst(summary.headerSize))
    }

    func headerContains(_ field: String, _ value: String) -> Bool {
        guard let summary, let body else { return false }
        let header = MessageHeader.fields(Array(body.prefix(summary.headerSize)), names: [field], not: false)
        if value.isEmpty { return header.count > 2 }
        // Match the field values (decoded encoded words), not the names; a folded line goes on
        // with the value it continues.
        let text = String(decoding: header, as: UTF8.self)
        var fields: [String] = []
        for line in text.split(separator: "\r\n") {
            if line.first == " " || line.first == "\t", !fields.isEmpty {
                fields[fields.count - 1] += " " + line
            } else if let colon = line.firstIndex(of: ":") {
                fields.append(String(line[line.index(after: colon)...]))
            }
        }
        var values = EncodedWord.decode(fields.joined(separator: " "))
        // Address fields also match their addresses as read, without comments or folding:
        // `<user (comment)@ example.org>` is found by `user@example.org`.
        if Self.addressFields.contains(field.lowercased()) {
            for field in fields {
                for address in MessageAddress.parseList(EncodedWord.decode(field)) {
                    if let name = address.name { values += " " + name }
                    if let mailbox = address.mailbox { values += " " + mailbox + (address.host.map { "@" + $0 } ?? "") }
                }
            }
        }
        return values.range(of: value, options: [.caseInsensitive, .diacriticInsensitive]) != nil
    }

    static let addressFields: Set<String> = ["from", "to", "cc", "bcc", "sender", "reply-to"]

    func contains(_ bytes: [UInt8], _ text: String) -> Bool {
        guard !text.isEmpty else { return true }
        return String(decoding: bytes, as: UTF8.self).range(of: text, options: .caseInsensitive) != nil
    }
}
