import MailCore
import Testing

@Suite("Civil dates")
struct CivilDateTests {
    @Test("days since 1970 and YYYY-MM-DD, both ways, across leap years and eras")
    func roundTrip() {
        #expect(CivilDate(days: 0).text == "1970-01-01")
        #expect(CivilDate(days: -1).text == "1969-12-31")
        #expect(CivilDate(days: 11_016).text == "2000-02-29")
        #expect(CivilDate(days: 20_792).text == "2026-12-05")
        for days in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            #expect(CivilDate(days: days).days == days)
            #expect(CivilDate(text: CivilDate(days: days).text)?.days == days || CivilDate(days: days).year < 1000)
        }
        for text in ["2026-02-30", "2026-13-01", "2026-1-01", "26-01-01", "2026-01-01x", ""] {
            #expect(CivilDate(text: text) == nil, "\(text)")
        }
    }
}
