import EventLog
import Facts
import Foundation

/// The retention window of an audit projection: the window's days are kept in the
/// projection's own `retention` table, written from `logdb.retention_days` changes in log
/// order, and each event deletes what has fallen out of the window measured from the start of
/// its own day. Nothing reads a clock, so a rebuild ends with the same rows.
struct AuditRetention {
    static let window = ProjectionTable("retention", columns: [.init("name", .text), .init("days", .integer)], primaryKey: 1)

    /// Each table with the column holding the time of the event that wrote the row.
    let tables: [(table: ProjectionTable, column: String)]

    /// The start of the UTC day of `date`.
    static func day(of date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }

    /// Applies the window for an event recorded at `context.recordedAt`.
    func retain(_ context: EventContext, _ rows: RowWriter) {
        let day = Self.day(of: context.recordedAt)
        for (table, column) in tables {
            rows.retain(table, column: column, day: day, windowTable: Self.window,
                        defaultDays: SettingKey<Int>.logRetentionDays.defaultValue)
        }
    }

    /// Takes a changed window into account; true when `event` was the retention setting.
    func settingChanged(_ event: SettingChanged, _ context: EventContext, _ rows: RowWriter) -> Bool {
        let key = SettingKey<Int>.logRetentionDays
        guard event.key == key.name else { return false }
        let days = SettingJSON.decode(Int.self, from: event.new) ?? key.defaultValue
        rows.insert(into: Self.window, [.text("window"), .int(days)])
        rows.windowChanged()
        retain(context, rows)
        return true
    }
}
