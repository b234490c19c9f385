/// RFC 5322 §3.3 dates (`Tue, 1 Jul 2003 10:52:37 +0200`), read tolerantly: optional weekday,
/// two-digit years (§4.3), obsolete zone names, missing seconds.
public enum MessageDate {
    /// Seconds since 1970 (UTC), or nil when the text is not a date.
    public static func parse(_ text: String) -> Int64? {
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "\r" || $0 == "\n" })
            .map(String.init)
        if let first = words.first, first.count >= 3, first.first!.isLetter { words.removeFirst() }
        guard words.count >= 4, let day = Int(words[0]), (1...31).contains(day),
              let month = months.firstIndex(of: words[1].prefix(3).lowercased()), var year = Int(words[2]) else { return nil }
        if year < 50 { year += 2000 } else if year < 1000 { year += 1900 }
        let time = words[3].split(separator: ":").compactMap { Int($0) }
        guard time.count >= 2, (0...23).contains(time[0]), (0...59).contains(time[1]) else { return nil }
        let second = time.count > 2 ? time[2] : 0
        var offset = 0
        if words.count > 4 {
            let zone = words[4]
            if let sign = zone.first, sign == "+" || sign == "-", let value = Int(zone.dropFirst()), zone.count == 5 {
                offset = (value / 100 * 60 + value % 100) * 60 * (sign == "-" ? -1 : 1)
            } else if let hours = zones[zone.uppercased()] {
                offset = hours * 3600
            }
        }
        return daysFromCivil(year: year, month: month + 1, day: day) * 86_400
            + Int64(time[0] * 3600 + time[1] * 60 + second - offset)
    }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let zones = ["UT": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
                        "PST": -8, "PDT": -7]

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
