import Foundation
import MailCore
import Projections

/// A message as SORT (RFC 5256) orders it.
public struct SortableMessage {
    public let number: Int
    public let message: MessageInfo
    public let summary: MessageSummary?
    /// RFC 5256 base subject in title case (i;unicode-casemap), worked out once per message.
    public let subjectKey: String

    public init(number: Int, message: MessageInfo, summary: MessageSummary?) {
        self.number = number
        self.message = message
        self.summary = summary
        subjectKey = BaseSubject(summary?.subjectText ?? "").text.uppercased()
    }

    /// `a` against `b` by one RFC 5256 criterion (ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO).
    public static func compare(_ a: SortableMessage, _ b: SortableMessage, _ criterion: String) -> ComparisonResult {
        func order<T: Comparable>(_ x: T, _ y: T) -> ComparisonResult { x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame }
        switch criterion {
        case "ARRIVAL": return order(a.message.internalDate, b.message.internalDate)
        case "DATE": return order(a.sentDate, b.sentDate)
        case "SIZE": return order(a.message.size, b.message.size)
        // i;unicode-casemap compares title case: "[" and "_" sort after the letters.
        case "SUBJECT": return order(a.subjectKey, b.subjectKey)
        case "FROM": return order(firstMailbox(a.summary?.envelope.from), firstMailbox(b.summary?.envelope.from))
        case "TO": return order(firstMailbox(a.summary?.envelope.to), firstMailbox(b.summary?.envelope.to))
        case "CC": return order(firstMailbox(a.summary?.envelope.cc), firstMailbox(b.summary?.envelope.cc))
        case "DISPLAYFROM": return order(display(a.summary?.envelope.from), display(b.summary?.envelope.from))
        case "DISPLAYTO": return order(display(a.summary?.envelope.to), display(b.summary?.envelope.to))
        default: return .orderedSame
        }
    }

    /// RFC 5256 §2.2: the Date header, or the internal date when there is none.
    public var sentDate: Date {
        summary?.sentDate.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? message.internalDate
    }

    /// RFC 5957 §2: the first address's display name, decoded, or else its addr-spec; in
    /// title case for i;unicode-casemap.
    static func display(_ addresses: [MessageAddress]?) -> String {
        guard let first = addresses?.first(where: { $0.mailbox != nil }) else { return "" }
        if let name = first.name.map(EncodedWord.decode)?.trimmingCharacters(in: .whitespaces), !name.isEmpty {
            return name.uppercased()
        }
        return ((first.mailbox ?? "") + (first.host.map { "@" + $0 } ?? "")).uppercased()
    }

    static func firstMailbox(_ addresses: [MessageAddress]?) -> String {
        (addresses?.first?.mailbox ?? "").uppercased()
    }
}
