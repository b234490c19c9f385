import Foundation

/// A connection (VPOP3's "Connections", up to 10): what the connector schedule starts. It links
/// one mail sender (and, later, mail collectors). Mail for a sender waits in the queue
/// ("waiting for connection <name>") until its connection runs, unless the connection sends
/// immediately while online. Kept in the setting `connections.list`.
public struct MailConnection: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// Always available (the usual choice).
        case network
        /// A modem dialled by the server. Modelled, not built: such a connection's runs fail
        /// at once, saying so, and it is never online.
        case dialUp = "dial-up"
    }

    /// Letters, digits, `-`, `_` and `.`.
    public var name: String
    public var method: Method
    /// The mail sender it links; nil for the default sender.
    public var sender: String?
    /// One of the default connections (started by `CONNECT.NOW`, `connect now` without a name
    /// and schedule items naming no connection).
    public var isDefault: Bool
    /// VPOP3's "If outgoing mail arrives whilst online, send immediately"; nil for the default:
    /// on for a direct sender, off for a relay. A network connection is always online, so with
    /// this on its mail is sent as soon as it is due.
    public var sendImmediately: Bool?
    /// The dial-up entry, for a dial-up connection.
    public var dialUpEntry: String?

    public init(name: String, method: Method = .network, sender: String? = nil, isDefault: Bool = false,
                sendImmediately: Bool? = nil, dialUpEntry: String? = nil) {
        self.name = name
        self.method = method
        self.sender = sender
        self.isDefault = isDefault
        self.sendImmediately = sendImmediately
        self.dialUpEntry = dialUpEntry
    }

    enum CodingKeys: String, CodingKey {
        case name, method, sender
        case isDefault = "default", sendImmediately = "send_immediately", dialUpEntry = "dial_up_entry"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name))
        method = try container.decodeIfPresent(Method.self, forKey: .method) ?? .network
        sender = try container.decodeIfPresent(String.self, forKey: .sender)
        isDefault = try container.decodeIfPresent(Bool.self, forKey: .isDefault) ?? false
        sendImmediately = try container.decodeIfPresent(Bool.self, forKey: .sendImmediately)
        dialUpEntry = try container.decodeIfPresent(String.self, forKey: .dialUpEntry)
    }

    /// With no connection configured: one network connection for the default sender, sending
    /// immediately (mail leaves as soon as it is due).
    public static let implicitDefault = MailConnection(name: "default", method: .network, isDefault: true, sendImmediately: true)

    public var problem: String? {
        let who = "connection \(name)"
        if !MailSender.isName(name) { return "\(who): the name must be 1 to 64 letters, digits, -, _ or ." }
        if let sender, !MailSender.isName(sender) { return "\(who): the sender must be a sender's name" }
        if method == .network && dialUpEntry != nil { return "\(who): a network connection has no dial-up entry" }
        return nil
    }
}

/// The connections as configured: which one a sender goes through, which are the defaults.
public struct MailConnections: Sendable, Equatable {
    public let all: [MailConnection]

    /// An empty list is the one implicit default connection.
    public init(_ connections: [MailConnection]) {
        all = connections.isEmpty ? [.implicitDefault] : connections
    }

    public func named(_ name: String) -> MailConnection? { all.first { $0.name.lowercased() == name.lowercased() } }

    /// The default connections: those marked, else the first.
    public var defaults: [MailConnection] {
        let marked = all.filter(\.isDefault)
        return marked.isEmpty ? [all[0]] : marked
    }

    /// The connection a sender's mail goes through: the first that names it, else (for the
    /// default sender, or a sender no connection names) the first default connection.
    public func connection(for sender: MailSender, senders: MailSenders) -> MailConnection {
        if let linked = all.first(where: { $0.sender?.lowercased() == sender.name.lowercased() }) { return linked }
        if sender.name == senders.defaultSender.name,
           let linked = all.first(where: { $0.sender == nil && $0.isDefault }) ?? all.first(where: { $0.sender == nil }) {
            return linked
        }
        return defaults[0]
    }

    /// Whether the connection sends as soon as mail is due (when not paused): a network
    /// connection sending immediately (by default, when its sender is direct).
    public func sendsImmediately(_ connection: MailConnection, senders: MailSenders) -> Bool {
        guard connection.method == .network else { return false }
        if let chosen = connection.sendImmediately { return chosen }
        let sender = connection.sender.flatMap(senders.named) ?? senders.defaultSender
        return sender.method == .direct
    }

    public static func problem(_ connections: [MailConnection]) -> String? {
        if connections.count > 10 { return "at most 10 connections" }
        if let bad = connections.lazy.compactMap(\.problem).first { return bad }
        let names = connections.map { $0.name.lowercased() }
        if Set(names).count != names.count { return "two connections have the same name" }
        return nil
    }
}

/// One item of the connector schedule: connect (some connections, or the default ones) every
/// X minutes between two times of day or once at a time, or deny connections at those times.
/// Times are the server's local time (or `connections.time_zone`); an item does not span
/// midnight (split it in two).
public struct ScheduleItem: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        case connect
        /// Suppresses every connection the schedule would start at its times.
        case deny
    }

    public var name: String
    public var action: Action
    /// The connections it starts; empty for the default connections.
    public var connections: [String]
    /// Every this many minutes from `from` to `until` (both `HH:MM`), or once `at`.
    public var every: Int?
    public var from: String?
    public var until: String?
    public var at: String?
    public var enabled: Bool

    public init(name: String, action: Action = .connect, connections: [String] = [], every: Int? = nil, from: String? = nil,
                until: String? = nil, at: String? = nil, enabled: Bool = true) {
        self.name = name
        self.action = action
        self.connections = connections
        self.every = every
        self.from = from
        self.until = until
        self.at = at
        self.enabled = enabled
    }

    enum CodingKeys: String, CodingKey { case name, action, connections, every, from, until, at, enabled }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name))
        action = try container.decodeIfPresent(Action.self, forKey: .action) ?? .connect
        connections = try container.decodeIfPresent([String].self, forKey: .connections) ?? []
        every = try container.decodeIfPresent(Int.self, forKey: .every)
        from = try container.decodeIfPresent(String.self, forKey: .from)
        until = try container.decodeIfPresent(String.self, forKey: .until)
        at = try container.decodeIfPresent(String.self, forKey: .at)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
    }

    /// `HH:MM` (00:00 to 23:59) as minutes of the day.
    public static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<24).contains(hours), (0..<60).contains(minutes)
        else { return nil }
        return hours * 60 + minutes
    }

    /// The minutes of the day at which it acts; empty when it cannot act.
    public var times: [Int] {
        if let at, let minute = Self.minutes(at) { return [minute] }
        guard let every, every > 0, let from = from.flatMap(Self.minutes), let until = until.flatMap(Self.minutes), from <= until
        else { return [] }
        return Array(stride(from: from, through: until, by: every))
    }

    public var problem: String? {
        let who = "schedule item \(name)"
        if name.isEmpty || name.utf8.count > 64 || name.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return "\(who): the name must be 1 to 64 characters without control characters"
        }
        switch (at, every) {
        case (.some(let time), nil):
            if from != nil || until != nil { return "\(who): once at a time takes no from/until" }
            if Self.minutes(time) == nil { return "\(who): at \(time) is not HH:MM" }
        case (nil, .some(let minutes)):
            if !(1...1_440).contains(minutes) { return "\(who): every must be 1...1440 minutes" }
            guard let from, let start = Self.minutes(from) else { return "\(who): from must be HH:MM" }
            guard let until, let end = Self.minutes(until) else { return "\(who): until must be HH:MM" }
            if start > end { return "\(who): \(from) to \(until) spans midnight; split it into two items" }
        default:
            return "\(who): give either every (with from and until) or at"
        }
        if action == .deny && !connections.isEmpty { return "\(who): a deny item names no connections (it denies them all)" }
        return nil
    }
}

/// The connector schedule over the clock: when each connection is next to be started.
/// Pure: the scheduler asks it with the time; nothing else does.
public struct ConnectorSchedule: Sendable {
    public let items: [ScheduleItem]
    public let connections: MailConnections
    public let timeZone: TimeZone

    public init(items: [ScheduleItem], connections: MailConnections, timeZone: TimeZone) {
        self.items = items
        self.connections = connections
        self.timeZone = timeZone
    }

    /// The connections started at minute `minute` of a day: those of enabled connect items
    /// acting then, unless an enabled deny item acts then too.
    func started(atMinute minute: Int) -> Set<String> {
        var started = Set<String>()
        for item in items where item.enabled && item.action == .connect && item.times.contains(minute) {
            let names = item.connections.isEmpty ? connections.defaults.map(\.name) : item.connections
            for name in names { if let connection = connections.named(name) { started.insert(connection.name) } }
        }
        if started.isEmpty { return [] }
        if items.contains(where: { $0.enabled && $0.action == .deny && $0.times.contains(minute) }) { return [] }
        return started
    }

    /// The schedule's times (minute of the day → connections), sorted.
    private var timetable: [(minute: Int, connections: Set<String>)] {
        let minutes = Set(items.filter { $0.enabled && $0.action == .connect }.flatMap(\.times)).sorted()
        return minutes.map { ($0, started(atMinute: $0)) }.filter { !$0.connections.isEmpty }
    }

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    /// Each connection's next start after `time` (nil: the schedule never starts it).
    public func next(after time: Date) -> [String: Date] {
        let table = timetable
        guard !table.isEmpty else { return [:] }
        let calendar = self.calendar
        var found: [String: Date] = [:]
        let wanted = Set(table.flatMap(\.connections))
        var day = calendar.startOfDay(for: time)
        // Every item repeats daily: two days ahead (three around a clock change) is enough.
        for _ in 0..<3 where found.count < wanted.count {
            for (minute, names) in table {
                // Wall-clock times: 09:00 is 09:00 on the day the clocks change too.
                guard let start = calendar.date(bySettingHour: minute / 60, minute: minute % 60, second: 0, of: day),
                      start > time else { continue }
                for name in names where found[name] == nil { found[name] = start }
            }
            guard let nextDay = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            day = nextDay
        }
        return found
    }

    /// The connections the schedule starts after `after` and no later than `through`, each
    /// with the time it was due.
    public func due(after: Date, through: Date) -> [String: Date] {
        next(after: after).filter { $0.value <= through }
    }

    public static func problem(_ items: [ScheduleItem]) -> String? {
        if let bad = items.lazy.compactMap(\.problem).first { return bad }
        let names = items.map { $0.name.lowercased() }
        if Set(names).count != names.count { return "two schedule items have the same name" }
        return nil
    }
}
