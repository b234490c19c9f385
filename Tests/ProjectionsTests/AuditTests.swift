import EventLog
import Facts
import Foundation
@testable import Projections
import Testing

/// The audit projections' pure parts: the IDS line format, session numbers, retention days and
/// how tallies combine before they reach PostgreSQL.
@Suite("Audit projections, without a database")
struct AuditUnitTests {
    static let event = IntrusionEventRecorded(kind: .relayDenied, clientIP: "192.0.2.7", service: "smtp", sessionID: "00000000002a",
                                              details: "<victim@elsewhere.test>\r\nInjected: yes", score: 100)
    static let time = Date(timeIntervalSince1970: 1_795_000_000.75)

    @Test("the default IDS format: UTC time, address, number, text, details on one line")
    func defaultFormat() {
        #expect(IDSLogFormat("%T %I %e %E %D").line(Self.event, at: Self.time)
                == "2026-11-18T11:06:40Z 192.0.2.7 1 Relay denied <victim@elsewhere.test>  Injected: yes")
    }

    @Test("other formats: literal text, %%, unknown and trailing percent signs kept")
    func customFormat() {
        #expect(IDSLogFormat("[%e] %I: %D (100%%) %x %").line(Self.event, at: Self.time)
                == "[1] 192.0.2.7: <victim@elsewhere.test>  Injected: yes (100%) %x %")
    }

    @Test("session numbers: the gateways' hex ids read as numbers, anything else hashed to 63 bits")
    func sessionNumbers() {
        #expect(SessionEnded.number("00000000002a") == 42)
        #expect(SessionEnded.number("ffffffffffff") == 0xffff_ffff_ffff)
        let hashed = SessionEnded.number("not-hex session")
        #expect(hashed >= 0 && hashed == SessionEnded.number("not-hex session"))
    }

    @Test("retention counts from the start of the event's UTC day")
    func retentionDay() {
        #expect(AuditRetention.day(of: Self.time) == Date(timeIntervalSince1970: 1_794_960_000))
    }

    @Test("tallies combine: counters add, earliest and latest keep their ends, an insert absorbs a tally")
    func tallies() throws {
        let a = RowWriter.Pending.tally([1: .add(2), 2: .earliest(.timestamp(50)), 3: .latest(.timestamp(50))])
        let b = RowWriter.Pending.tally([1: .add(3), 2: .earliest(.timestamp(10)), 3: .latest(.timestamp(90))])
        guard case .tally(let merged)? = RowWriter.merge(a, b) else { Issue.record("tallies did not merge"); return }
        guard case .add(5)? = merged[1], case .earliest(.timestamp(10))? = merged[2], case .latest(.timestamp(90))? = merged[3] else {
            Issue.record("\(merged)")
            return
        }
        let row = RowWriter.Pending.insert([.text("k"), .int(1), .timestamp(40), .timestamp(40)])
        guard case .insert(let updated)? = RowWriter.merge(row, b) else { Issue.record("an insert did not absorb a tally"); return }
        #expect(updated == [.text("k"), .int(4), .timestamp(10), .timestamp(90)])
        // A delete followed by a tally must reach the table in that order.
        #expect(RowWriter.merge(.delete, b) == nil)
    }
}
