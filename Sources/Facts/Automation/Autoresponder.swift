import EventLog
import Foundation

/// An autoresponder (VPOP3's v5 model, in the setting `mail.autoresponders`): it answers mail
/// that lands in its user's mailbox. A user's autoresponders are tried in order; the first that
/// is enabled, in its dates, not stopped by a header filter and (when it has triggers) started
/// by one, answers — at most once per sender per `period_hours`. What no autoresponder answers,
/// and why, is recorded too (`autoresponder_passed_over`).
public struct Autoresponder: Codable, Sendable, Equatable {
    /// A header field and a case-insensitive wildcard pattern (`*`, `?`) for its value,
    /// written `Field:pattern`.
    public struct HeaderMatch: Codable, Sendable, Equatable, CustomStringConvertible {
        public var field: String
        public var pattern: String

        public init(field: String, pattern: String) {
            self.field = field
            self.pattern = pattern
        }

        public init?(_ text: String) {
            guard let colon = text.firstIndex(of: ":") else { return nil }
            let field = text[..<colon].trimmingCharacters(in: .whitespaces)
            guard !field.isEmpty, field.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
            self.init(field: field, pattern: text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }

        public var description: String { "\(field):\(pattern)" }

        /// Whether any occurrence of the field matches.
        public func matches(_ values: (String) -> [String]) -> Bool {
            values(field).contains { DirectoryRules.matches(pattern: pattern, domain: $0.trimmingCharacters(in: .whitespaces)) }
        }
    }

    /// The user whose mail it answers (lower-case).
    public var user: String
    /// Letters, digits, `-`, `_`, `.` and spaces; unique per user.
    public var name: String
    public var enabled: Bool
    /// The reply's subject, with the replacements below.
    public var subject: String
    /// The reply's text, with `{sender}`, `{subject}`, `{date}`, `{user}` and `{address}`.
    public var text: String
    /// Mail with a field matching one of these gets no answer from it.
    public var filters: [HeaderMatch]
    /// When any: only mail with a field matching one of them is answered.
    public var triggers: [HeaderMatch]
    /// The days (`YYYY-MM-DD`, UTC, inclusive) it answers from and until.
    public var from: String?
    public var until: String?
    /// Once per sender per this many hours (VPOP3's "respond once to each sender" with the log
    /// cleared by period); 0 answers every message.
    public var periodHours: Int
    /// An address the answered message is also sent to (VPOP3's "Copy original message to").
    public var copyTo: String?
    /// The hours of the day it answers in, `HH:MM-HH:MM` in `timeZone` (a window past
    /// midnight, `18:00-08:00`, wraps); nil: all day.
    public var hours: String?
    /// The days of the week it answers on (1 Monday … 7 Sunday, in `timeZone`); nil: every day.
    public var weekdays: [Int]?
    /// The IANA time zone of `hours`, `weekdays` and the dates; nil: UTC.
    public var timeZone: String?
    /// VPOP3's "Keep Original Message": false removes the answered message from the mailbox.
    public var keepOriginal = true

    public init(user: String, name: String, enabled: Bool = true, subject: String = "Auto: {subject}", text: String,
                filters: [HeaderMatch] = [], triggers: [HeaderMatch] = [], from: String? = nil, until: String? = nil,
                periodHours: Int = 24, copyTo: String? = nil) {
        self.user = user.lowercased()
        self.name = name
        self.enabled = enabled
        self.subject = subject
        self.text = text
        self.filters = filters
        self.triggers = triggers
        self.from = from
        self.until = until
        self.periodHours = periodHours
        self.copyTo = copyTo
    }

    enum CodingKeys: String, CodingKey {
        case user, name, enabled, subject, text, filters, triggers, from, until
        case periodHours = "period_hours", copyTo = "copy_to"
        case hours, weekdays, timeZone = "time_zone", keepOriginal = "keep_original"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(user, forKey: .user)
        try container.encode(name, forKey: .name)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(subject, forKey: .subject)
        try container.encode(text, forKey: .text)
        try container.encode(filters, forKey: .filters)
        try container.encode(triggers, forKey: .triggers)
        try container.encodeIfPresent(from, forKey: .from)
        try container.encodeIfPresent(until, forKey: .until)
        try container.encode(periodHours, forKey: .periodHours)
        try container.encodeIfPresent(copyTo, forKey: .copyTo)
        try container.encodeIfPresent(hours, forKey: .hours)
        try container.encodeIfPresent(weekdays, forKey: .weekdays)
        try container.encodeIfPresent(timeZone, forKey: .timeZone)
        // Written only when off, so settings written before it existed read back the same.
        if !keepOriginal { try container.encode(false, forKey: .keepOriginal) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(user: try container.decode(String.self, forKey: .user), name: try container.decode(String.self, forKey: .name),
                  text: try container.decode(String.self, forKey: .text))
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        subject = try container.decodeIfPresent(String.self, forKey: .subject) ?? "Auto: {subject}"
        filters = try container.decodeIfPresent([HeaderMatch].self, forKey: .filters) ?? []
        triggers = try container.decodeIfPresent([HeaderMatch].self, forKey: .triggers) ?? []
        from = try container.decodeIfPresent(String.self, forKey: .from)
        until = try container.decodeIfPresent(String.self, forKey: .until)
        periodHours = try container.decodeIfPresent(Int.self, forKey: .periodHours) ?? 24
        copyTo = try container.decodeIfPresent(String.self, forKey: .copyTo)
        hours = try container.decodeIfPresent(String.self, forKey: .hours)
        weekdays = try container.decodeIfPresent([Int].self, forKey: .weekdays)
        timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone)
        keepOriginal = try container.decodeIfPresent(Bool.self, forKey: .keepOriginal) ?? true
    }

    /// The replacements a subject or text may use.
    public static let replacements = ["sender", "subject", "date", "user", "address"]

    /// `{word}` in `text` that are not replacements.
    public static func unknownReplacements(in text: String, known: [String] = replacements) -> [String] {
        var unknown: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            let word = String(after[..<close])
            if !word.isEmpty, word.count <= 40, !word.contains("{"), !known.contains(word.lowercased()), !unknown.contains(word) {
                unknown.append(word)
            }
            rest = after[close...].dropFirst()
        }
        return unknown
    }

    /// `text` with its replacements made; an unknown one is left as written.
    public static func fill(_ text: String, _ values: [String: String]) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            result += rest[..<open]
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}"), let value = values[after[..<close].lowercased()] else {
                result += "{"
                rest = after
                continue
            }
            result += value
            rest = after[close...].dropFirst()
        }
        return result + rest
    }

    /// Whether `day` (`YYYY-MM-DD`) is within its dates.
    public func isActive(on day: String) -> Bool {
        if let from, day < from { return false }
        if let until, day > until { return false }
        return true
    }

    /// Whether it answers at `date`: within its dates, on one of its weekdays and in its hours,
    /// all in its time zone.
    public func isActive(at date: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: date)
        let day = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
        guard isActive(on: day) else { return false }
        if let weekdays, let weekday = parts.weekday, !weekdays.contains(weekday == 1 ? 7 : weekday - 1) { return false }
        if let hours, let (start, end) = Self.window(hours) {
            let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
            return start <= end ? (start <= minute && minute < end) : (minute >= start || minute < end)
        }
        return true
    }

    /// `HH:MM-HH:MM` as minutes of the day; nil when malformed.
    static func window(_ text: String) -> (Int, Int)? {
        let ends = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard ends.count == 2 else { return nil }
        let minutes = ends.compactMap { end -> Int? in
            let parts = end.split(separator: ":")
            guard parts.count == 2, parts[0].count <= 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
                  (0...24).contains(hour), (0...59).contains(minute), hour * 60 + minute <= 1_440 else { return nil }
            return hour * 60 + minute
        }
        guard minutes.count == 2, minutes[0] != minutes[1] else { return nil }
        return (minutes[0], minutes[1])
    }

    public var problem: String? {
        let who = "autoresponder \(name) of \(user)"
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isLetter || $0.isNumber || "-_. ".contains($0) }) {
            return "\(who): the name must be 1 to 64 letters, digits, -, _, . or spaces"
        }
        if text.isEmpty || text.utf8.count > 64 << 10 { return "\(who): the text must be 1 byte to 64 KiB" }
        if subject.isEmpty || subject.utf8.count > 900 || subject.contains(where: { $0 == "\r" || $0 == "\n" }) {
            return "\(who): the subject must be one line of at most 900 bytes"
        }
        let unknown = Self.unknownReplacements(in: subject) + Self.unknownReplacements(in: text)
        if !unknown.isEmpty {
            return "\(who): unknown replacements \(unknown.map { "{\($0)}" }.joined(separator: ", ")); "
                + "known: \(Self.replacements.map { "{\($0)}" }.joined(separator: " "))"
        }
        for day in [from, until].compactMap({ $0 }) where !Self.isDay(day) { return "\(who): \(day) is not a day (YYYY-MM-DD)" }
        if let from, let until, from > until { return "\(who): from is after until" }
        if !(0...8_760).contains(periodHours) { return "\(who): period_hours must be 0...8760" }
        if let copyTo, copyTo.isEmpty || copyTo.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" }) {
            return "\(who): copy_to must be an address"
        }
        if filters.count + triggers.count > 100 { return "\(who): at most 100 filters and triggers" }
        if let hours, Self.window(hours) == nil { return "\(who): hours must be HH:MM-HH:MM (two different times)" }
        if let weekdays, weekdays.isEmpty || !weekdays.allSatisfy({ (1...7).contains($0) }) {
            return "\(who): weekdays are 1 (Monday) to 7 (Sunday)"
        }
        if let timeZone, TimeZone(identifier: timeZone) == nil { return "\(who): \(timeZone) is not a time zone" }
        return nil
    }

    static func isDay(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return text.count == 10 && parts.count == 3 && parts.map(\.count) == [4, 2, 2] && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
            && (1...12).contains(Int(parts[1]) ?? 0) && (1...31).contains(Int(parts[2]) ?? 0)
    }

    public static func problem(_ responders: [Autoresponder]) -> String? {
        var seen = Set<String>()
        for responder in responders {
            if let problem = responder.problem { return problem }
            if !seen.insert("\(responder.user)/\(responder.name.lowercased())").inserted {
                return "\(responder.user) has two autoresponders named \(responder.name)"
            }
        }
        return nil
    }
}

// The autoresponder facts, on `autoresponder-<user>`. Their one writer is the autoresponder
// agent in `serve` (`Delivery/Automation`), except `autoresponder_log_cleared`, which the
// administrative surfaces write.

/// An autoresponder answered `sender` for mail delivered to `user`: the reply is message
/// `replyID` (accepted in the same transaction).
public struct AutoresponderReplied: Event {
    public static let eventType = "autoresponder_replied"
    public static let category = "autoresponder"

    public var user: String
    public var responder: String
    public var sender: String
    /// The answered message's subject, sealed with its body (`Personal`).
    public var subject: Personal<String>?
    public var replyID: String
    /// The copy of the answered message sent to `copy_to`, when there is one.
    public var copyID: String?

    public init(user: String, responder: String, sender: String, subject: Personal<String>?, replyID: String, copyID: String?) {
        self.user = user
        self.responder = responder
        self.sender = sender
        self.subject = subject
        self.replyID = replyID
        self.copyID = copyID
    }

    public static func stream(user: String) throws -> StreamName {
        try StreamName(category: category, id: user.lowercased())
    }

    enum CodingKeys: String, CodingKey {
        case user, responder, sender, subject
        case replyID = "reply_id", copyID = "copy_id"
    }
}

/// Mail delivered to a user with autoresponders got no answer, and why (RFC 3834's cases,
/// the period, no autoresponder applying).
public struct AutoresponderPassedOver: Event {
    public static let eventType = "autoresponder_passed_over"
    public static let category = AutoresponderReplied.category

    public var user: String
    public var sender: String
    public var reason: String

    public init(user: String, sender: String, reason: String) {
        self.user = user
        self.sender = sender
        self.reason = reason
    }
}

/// An administrator cleared a user's log of answered senders, so each is answered again.
public struct AutoresponderLogCleared: Event {
    public static let eventType = "autoresponder_log_cleared"
    public static let category = AutoresponderReplied.category

    public var user: String
    public var actor: String

    public init(user: String, actor: String) {
        self.user = user
        self.actor = actor
    }
}
