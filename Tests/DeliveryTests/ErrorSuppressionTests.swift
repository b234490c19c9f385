import Facts
import Foundation
import Testing

/// Suppression rules for error reports to the main administrator.
@Suite("Error suppression rules")
struct ErrorSuppressionTests {
    @Test("the legacy form read; objects and codes matched; malformed rules named")
    func parsing() throws {
        let rule = try #require(ErrorSuppressionRule("0~600~3600~86400~10060"))
        #expect(rule.first == 600 && rule.second == 3_600 && rule.subsequent == 86_400 && rule.code == "10060")
        #expect(rule.matches(component: "collector", object: "isp", code: "10060") && !rule.matches(component: "collector", object: "isp", code: "421"))
        let named = try #require(ErrorSuppressionRule("Collector:ISP~0~0~0~*"))
        #expect(named.matches(component: "collector", object: "isp", code: "failed"))
        #expect(!named.matches(component: "sender", object: "isp", code: "failed"))
        #expect(try #require(ErrorSuppressionRule("sender:*~0~0~0~421")).matches(component: "sender", object: "relay", code: "421"))
        for bad in ["", "a~1~2~3~4", "collector:~1~2~3~*", "0~-1~2~3~*", "0~1~2~3", "0~x~2~3~*", "0~1~2~3~"] {
            #expect(ErrorSuppressionRule(bad) == nil, "\(bad)")
        }
        #expect(ErrorSuppressionRule.problem(["0~1~2~3~*", "nonsense"])?.contains("nonsense") == true)
    }

    @Test("first report after the errors have lasted `first`, then `second` after it, then every `subsequent`")
    func timing() throws {
        let rule = try #require(ErrorSuppressionRule("0~600~3600~86400~*"))
        let start = Date(timeIntervalSince1970: 1_000_000)
        #expect(!rule.reports(at: start, start: start, reports: 0, lastReport: nil))
        #expect(!rule.reports(at: start + 599, start: start, reports: 0, lastReport: nil))
        #expect(rule.reports(at: start + 600, start: start, reports: 0, lastReport: nil))
        let first = start + 700
        #expect(!rule.reports(at: first + 3_599, start: start, reports: 1, lastReport: first))
        #expect(rule.reports(at: first + 3_600, start: start, reports: 1, lastReport: first))
        let second = first + 4_000
        #expect(!rule.reports(at: second + 86_399, start: start, reports: 2, lastReport: second))
        #expect(rule.reports(at: second + 86_400, start: start, reports: 5, lastReport: second))
        // Zero delays: every time.
        let every = try #require(ErrorSuppressionRule("*~0~0~0~0"))
        #expect(every.reports(at: start, start: start, reports: 0, lastReport: nil) && every.reports(at: start, start: start, reports: 3, lastReport: start))
    }
}
