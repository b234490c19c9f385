import Facts
import Foundation
import Testing

/// The connector schedule over given times: no clock, no database.
@Suite("Connector schedule")
struct ConnectorScheduleTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let connections = MailConnections([
        MailConnection(name: "office", isDefault: true), MailConnection(name: "isp", sender: "smarthost"),
    ])

    static func time(_ text: String, zone: TimeZone = utc) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == ":" }).map { Int($0)! }
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4]))!
    }

    @Test("every 5 minutes with a deny item every hour: 9:55, then 10:05 (VPOP3's example)")
    func denyItem() {
        let schedule = ConnectorSchedule(items: [
            ScheduleItem(name: "day", every: 5, from: "09:00", until: "17:00"),
            ScheduleItem(name: "no hours", action: .deny, every: 60, from: "00:00", until: "23:00"),
        ], connections: Self.connections, timeZone: Self.utc)
        #expect(schedule.next(after: Self.time("2026-12-07 09:52")) == ["office": Self.time("2026-12-07 09:55")])
        #expect(schedule.next(after: Self.time("2026-12-07 09:55")) == ["office": Self.time("2026-12-07 10:05")])
        // After the last time of the day: the first of the next.
        #expect(schedule.next(after: Self.time("2026-12-07 17:00")) == ["office": Self.time("2026-12-08 09:05")])
        #expect(schedule.due(after: Self.time("2026-12-07 09:54"), through: Self.time("2026-12-07 10:01")).keys.sorted() == ["office"])
        #expect(schedule.due(after: Self.time("2026-12-07 09:55"), through: Self.time("2026-12-07 10:04")).isEmpty)
    }

    @Test("once at a time, named connections, disabled items and the defaults")
    func onceAndNamed() {
        var items = [ScheduleItem(name: "noon", connections: ["isp"], at: "12:30"),
                     ScheduleItem(name: "off", every: 1, from: "00:00", until: "23:59", enabled: false)]
        var schedule = ConnectorSchedule(items: items, connections: Self.connections, timeZone: Self.utc)
        #expect(schedule.next(after: Self.time("2026-12-07 12:29")) == ["isp": Self.time("2026-12-07 12:30")])
        #expect(schedule.next(after: Self.time("2026-12-07 12:30")) == ["isp": Self.time("2026-12-08 12:30")])
        items[1].enabled = true
        schedule = ConnectorSchedule(items: items, connections: Self.connections, timeZone: Self.utc)
        #expect(schedule.next(after: Self.time("2026-12-07 12:29")) == [
            "isp": Self.time("2026-12-07 12:30"), "office": Self.time("2026-12-07 12:30"),
        ])
        // No items: never.
        #expect(ConnectorSchedule(items: [], connections: Self.connections, timeZone: Self.utc).next(after: Date()).isEmpty)
    }

    @Test("times are wall-clock times of the schedule's time zone")
    func timeZones() throws {
        let london = try #require(TimeZone(identifier: "Europe/London"))
        let schedule = ConnectorSchedule(items: [ScheduleItem(name: "nine", at: "09:00")], connections: Self.connections, timeZone: london)
        // Summer time: 09:00 in London is 08:00 UTC; winter: the same.
        #expect(schedule.next(after: Self.time("2026-07-01 00:00")) == ["office": Self.time("2026-07-01 08:00")])
        #expect(schedule.next(after: Self.time("2026-12-01 00:00")) == ["office": Self.time("2026-12-01 09:00")])
        // The day the clocks go forward (29 March 2026): still 09:00 local.
        #expect(schedule.next(after: Self.time("2026-03-29 00:00")) == ["office": Self.time("2026-03-29 08:00")])
    }

    @Test("items and connections are checked when set")
    func problems() {
        #expect(ScheduleItem(name: "late", every: 5, from: "22:00", until: "02:00").problem?.contains("spans midnight") == true)
        #expect(ScheduleItem(name: "bad", at: "9:00").problem?.contains("HH:MM") == true)
        #expect(ScheduleItem(name: "bad", at: "24:00").problem?.contains("HH:MM") == true)
        #expect(ScheduleItem(name: "both", every: 5, from: "09:00", until: "10:00", at: "09:00").problem?.contains("either") == true)
        #expect(ScheduleItem(name: "neither").problem?.contains("either") == true)
        #expect(ScheduleItem(name: "zero", every: 0, from: "09:00", until: "10:00").problem?.contains("1...1440") == true)
        #expect(ScheduleItem(name: "deny", action: .deny, connections: ["isp"], at: "09:00").problem?.contains("names no connections") == true)
        #expect(ConnectorSchedule.problem([ScheduleItem(name: "a", at: "09:00"), ScheduleItem(name: "A", at: "10:00")])?
            .contains("same name") == true)
        #expect(MailConnections.problem((0...10).map { MailConnection(name: "c\($0)") }) == "at most 10 connections")
        #expect(MailConnection(name: "x", dialUpEntry: "ISP").problem?.contains("dial-up entry") == true)
    }

    @Test("a sender's connection, the defaults, and sending immediately by default for direct senders only")
    func connectionsOfSenders() {
        let senders = MailSenders([MailSender(name: "direct", method: .direct, isDefault: true),
                                   MailSender(name: "smarthost", method: .relay, relays: ["relay.example"]),
                                   MailSender(name: "other", method: .relay, relays: ["relay.example"])])
        let connections = Self.connections
        #expect(connections.connection(for: senders.named("smarthost")!, senders: senders).name == "isp")
        #expect(connections.connection(for: senders.named("direct")!, senders: senders).name == "office")
        // A sender no connection names goes with the first default connection.
        #expect(connections.connection(for: senders.named("other")!, senders: senders).name == "office")
        #expect(connections.sendsImmediately(connections.named("office")!, senders: senders))
        #expect(!connections.sendsImmediately(connections.named("isp")!, senders: senders))
        #expect(!connections.sendsImmediately(MailConnection(name: "modem", method: .dialUp, sendImmediately: true), senders: senders))
        // With none configured: one default network connection that sends immediately, relay or not.
        let implicit = MailConnections([])
        #expect(implicit.sendsImmediately(implicit.defaults[0], senders: MailSenders([senders.named("smarthost")!])))
    }
}
