import Foundation

/// RFC 5465 NOTIFY SET: which events the client wants pushed, for which mailboxes.
public struct IMAPNotify: Equatable, Sendable {
    public enum Filter: Equatable, Sendable {
        case selected
        /// The selected mailbox, expunges held back until a command allows them.
        case selectedDelayed
        case inboxes
        case personal
        case subscribed
        /// The named mailboxes and everything under them.
        case subtree([String])
        case mailboxes([String])

        public var isSelected: Bool { self == .selected || self == .selectedDelayed }
    }

    public enum Event: Equatable, Sendable {
        /// With the FETCH items to send for each new message (selected mailbox only).
        case messageNew([IMAPFetchItem])
        case messageExpunge
        case flagChange
        case annotationChange
        case mailboxName
        case subscriptionChange
        case mailboxMetadataChange
        case serverMetadataChange
        /// An event name this parser does not know: the server answers BADEVENT.
        case other(String)

        public var isMessageEvent: Bool {
            switch self {
            case .messageNew, .messageExpunge, .flagChange, .annotationChange: true
            default: false
            }
        }
    }

    public struct Group: Equatable, Sendable {
        public var filter: Filter
        /// Empty: NONE, nothing for these mailboxes.
        public var events: [Event]

        public init(filter: Filter, events: [Event]) {
            self.filter = filter
            self.events = events
        }
    }

    /// `STATUS`: send each watched mailbox's STATUS at once.
    public var status: Bool
    public var groups: [Group]

    public init(status: Bool, groups: [Group]) {
        self.status = status
        self.groups = groups
    }

    /// RFC 5465 §5 and §8: what makes a NOTIFY SET wrong as a whole (BAD), nil when it is not.
    public var violation: String? {
        for group in groups {
            let events = group.events
            let new = events.contains { if case .messageNew = $0 { true } else { false } }
            let expunge = events.contains(.messageExpunge)
            if new != expunge { return "MessageNew and MessageExpunge go together" }
            if (events.contains(.flagChange) || events.contains(.annotationChange)) && !new {
                return "FlagChange and AnnotationChange need MessageNew and MessageExpunge"
            }
            if group.filter.isSelected, events.contains(where: { !$0.isMessageEvent }) {
                return "only message events apply to the selected mailbox"
            }
            for case .messageNew(let items) in events where !items.isEmpty && !group.filter.isSelected {
                return "FETCH items for MessageNew are for the selected mailbox only"
            }
        }
        if groups.filter({ $0.filter.isSelected }).count > 1 { return "the selected mailbox named twice" }
        return nil
    }

    /// The event names this server can send (for `[BADEVENT (...)]`).
    public static let supportedEvents = ["MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange",
                                         "MailboxMetadataChange", "ServerMetadataChange"]
}

extension IMAPParser {
    /// `NOTIFY NONE` (nil) or `NOTIFY SET [STATUS] (filter events) ...`.
    mutating func notify() throws -> IMAPNotify? {
        try space()
        let word = try atom().uppercased()
        if word == "NONE" { return nil }
        guard word == "SET" else { throw Failure(text: "NOTIFY takes SET or NONE") }
        var notify = IMAPNotify(status: false, groups: [])
        try space()
        if matchKeyword("STATUS") {
            notify.status = true
            try space()
        }
        repeat {
            try expect("(")
            let filter = try notifyFilter()
            try space()
            var events: [IMAPNotify.Event] = []
            if !matchKeyword("NONE") {
                try expect("(")
                repeat {
                    events.append(try notifyEvent())
                    guard events.count <= 32 else { throw Failure(text: "too many NOTIFY events") }
                } while try optionalSpace()
                try expect(")")
            }
            try expect(")")
            notify.groups.append(IMAPNotify.Group(filter: filter, events: events))
            guard notify.groups.count <= 64 else { throw Failure(text: "too many NOTIFY filters") }
        } while try optionalSpace()
        return notify
    }

    mutating func notifyFilter() throws -> IMAPNotify.Filter {
        switch try atom().uppercased() {
        case "SELECTED": return .selected
        case "SELECTED-DELAYED": return .selectedDelayed
        case "INBOXES": return .inboxes
        case "PERSONAL": return .personal
        case "SUBSCRIBED": return .subscribed
        case "SUBTREE":
            try space()
            return .subtree(try mailboxList())
        case "MAILBOXES":
            try space()
            return .mailboxes(try mailboxList())
        default:
            throw Failure(text: "unknown NOTIFY filter")
        }
    }

    /// `mailbox` or `(mailbox mailbox ...)`.
    mutating func mailboxList() throws -> [String] {
        guard consume(UInt8(ascii: "(")) else { return [try astring()] }
        var names: [String] = []
        repeat {
            names.append(try astring())
            guard names.count <= 1_000 else { throw Failure(text: "too many mailboxes") }
        } while try optionalSpace()
        try expect(")")
        return names
    }

    mutating func notifyEvent() throws -> IMAPNotify.Event {
        let name = try atom()
        switch name.uppercased() {
        case "MESSAGENEW":
            var items: [IMAPFetchItem] = []
            if peek == UInt8(ascii: " "), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "(") {
                try space()
                items = try fetchItems()
            }
            return .messageNew(items)
        case "MESSAGEEXPUNGE": return .messageExpunge
        case "FLAGCHANGE": return .flagChange
        case "ANNOTATIONCHANGE": return .annotationChange
        case "MAILBOXNAME": return .mailboxName
        case "SUBSCRIPTIONCHANGE": return .subscriptionChange
        case "MAILBOXMETADATACHANGE": return .mailboxMetadataChange
        case "SERVERMETADATACHANGE": return .serverMetadataChange
        default: return .other(name)
        }
    }
}
