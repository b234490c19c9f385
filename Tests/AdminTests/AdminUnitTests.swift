import Foundation
import Testing
@testable import Admin

@Suite("Admin: filters, charts, the OpenAPI document, sessions")
struct AdminUnitTests {
    @Test("VPOP3's numeric filters", arguments: [
        ("5", [5.0], [4.0, 6.0]), (">5", [5.5, 100], [5, 4]), ("<5", [4.9, -1], [5, 6]), (">=5", [5, 6], [4.99]),
        ("<=5", [5, 0], [5.01]), ("2..4", [2, 3, 4], [1.99, 4.01]), (" 10 .. 20 ", [10, 20], [9, 21]),
    ] as [(String, [Double], [Double])])
    func numericFilters(text: String, inside: [Double], outside: [Double]) throws {
        let filter = try #require(NumericFilter(text))
        for value in inside { #expect(filter.contains(value), "\(text) holds \(value)") }
        for value in outside { #expect(!filter.contains(value), "\(text) does not hold \(value)") }
    }

    @Test("what is not a numeric filter", arguments: ["", ">", "..", "5..", "..5", "4..2", "x", ">>5", "1e400", "nan", "5;DROP",
                                                       String(repeating: "9", count: 30)])
    func notNumericFilters(text: String) {
        #expect(NumericFilter(text) == nil, "\(text)")
    }

    @Test("a numeric filter becomes bound SQL")
    func numericSQL() throws {
        let (sql, values) = try #require(NumericFilter("2..4")).condition(column: "m.size", firstBinding: 3)
        #expect(sql == "(m.size >= $3 AND m.size <= $4)" && values == [2, 4])
        let (open, one) = try #require(NumericFilter(">7")).condition(column: "size", firstBinding: 1)
        #expect(open == "(size > $1)" && one == [7])
    }

    @Test("charts escape their labels and scale to the largest value")
    func charts() {
        let svg = AdminCharts.bars([.init(label: "<b>&", values: [4]), .init(label: "x", values: [2])], series: ["a\"b"], title: "t<")
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>"))
        #expect(svg.contains("<title>t&lt;</title>"))
        #expect(svg.contains(">4</text>"), "the axis says the largest value")
    }

    @Test("the OpenAPI document is JSON, and names every filter each listing takes")
    func document() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for (path, listing) in AdminAPI.listings {
            let operation = try #require(paths["/" + path]?["get"] as? [String: Any], "/\(path) is documented")
            let names = Set((operation["parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
            for filter in listing.filters { #expect(names.contains(filter.parameter), "/\(path) documents \(filter.parameter)") }
            #expect(names.isSuperset(of: ["offset", "limit"]))
            if !listing.sortable.isEmpty { #expect(names.contains("sort"), "/\(path) documents sort") }
        }
    }

    @Test("every page's template parses")
    func templates() {
        for (name, _) in AdminTemplates.templates {
            #expect(AdminTemplates.library.render(["title": "x"], withTemplate: name) != nil, "\(name)")
        }
    }

    @Test("sessions end after their lifetime without use, and at logout")
    func sessions() {
        let sessions = AdminSessions(lifetime: 60)
        let start = Date(timeIntervalSince1970: 1_000_000)
        let session = sessions.start(user: "postmaster", now: start)
        #expect(session.id.count == 64 && session.csrf.count == 64 && session.id != session.csrf)
        #expect(sessions.session(session.id, now: start.addingTimeInterval(50))?.user == "postmaster")
        #expect(sessions.session(session.id, now: start.addingTimeInterval(100)) != nil, "use keeps it alive")
        #expect(sessions.session(session.id, now: start.addingTimeInterval(161)) == nil, "unused for a minute: gone")
        let other = sessions.start(user: "alice", now: start)
        sessions.end(other.id)
        #expect(sessions.session(other.id, now: start) == nil)
    }
}

@Suite("Admin: how long a session has been active")
struct AdminDurationTests {
    @Test("seconds, minutes and seconds, hours and minutes", arguments: [
        (0, "0s"), (59, "59s"), (60, "1m 00s"), (65, "1m 05s"), (3_599, "59m 59s"), (3_600, "1h 00m"), (3_725, "1h 02m"), (90_061, "25h 01m"),
    ])
    func duration(seconds: Int, text: String) {
        #expect(AdminPages.duration(seconds) == text)
    }
}
