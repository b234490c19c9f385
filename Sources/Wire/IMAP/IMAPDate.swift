import Foundation

/// IMAP dates: `date` (`1-Feb-2026`) and `date-time` (`01-Feb-2026 10:00:00 +0100`), RFC 9051 §9.
public enum IMAPDate {
    public static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    public static func parseDate(_ text: String) -> Date? {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let day = Int(parts[0]), (1...31).contains(day),
              let month = months.firstIndex(of: parts[1].lowercased()), parts[2].count == 4, let year = Int(parts[2]) else { return nil }
        return utc(year: year, month: month + 1, day: day, seconds: 0)
    }

    public static func parseDateTime(_ text: String) -> Date? {
        let fields = text.trimmingCharacters(in: .whitespaces).split(separator: " ")
        guard fields.count == 3, let day = parseDate(String(fields[0])) else { return nil }
        let time = fields[1].split(separator: ":")
        guard time.count == 3, let hour = Int(time[0]), let minute = Int(time[1]), let second = Int(time[2]),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let zone = fields[2]
        guard zone.count == 5, let sign = zone.first, sign == "+" || sign == "-", let value = Int(zone.dropFirst()) else { return nil }
        let offset = (value / 100 * 3_600 + value % 100 * 60) * (sign == "-" ? -1 : 1)
        return day.addingTimeInterval(TimeInterval(hour * 3_600 + minute * 60 + second - offset))
    }

    public static func utc(year: Int, month: Int, day: Int, seconds: Int) -> Date? {
        var components = DateComponents()
        components.year = year
        components.month = month
        components.day = day
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        return calendar.date(from: components).map { $0.addingTimeInterval(TimeInterval(seconds)) }
    }

    /// `"22-Nov-2026 13:45:07 +0000"` (without the quotes).
    public static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(two(c.day))-\(months[(c.month ?? 1) - 1].capitalized)-\(c.year ?? 1970) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }
}
