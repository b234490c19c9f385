import Foundation
import MailAuth
import Testing

/// RFC 8460's record and report.
@Suite("SMTP TLS reporting")
struct TLSReportTests {
    @Test("the _smtp._tls record: v=TLSRPTv1 first, rua with mailto: and https: addresses")
    func record() {
        #expect(TLSRPTRecord(parsing: "v=TLSRPTv1; rua=mailto:tls@example.com")?.reportURIs == ["mailto:tls@example.com"])
        #expect(TLSRPTRecord(parsing: "v=TLSRPTv1;rua=mailto:a@example.com,https://reports.example.com/tls")?.reportURIs
                == ["mailto:a@example.com", "https://reports.example.com/tls"])
        #expect(TLSRPTRecord(parsing: "v=TLSRPTv1; ext=1; rua=mailto:a@example.com;")?.reportURIs == ["mailto:a@example.com"])
        #expect(TLSRPTRecord(parsing: "rua=mailto:a@example.com; v=TLSRPTv1") == nil, "v must come first")
        #expect(TLSRPTRecord(parsing: "v=TLSRPTv1") == nil, "no rua")
        #expect(TLSRPTRecord(parsing: "v=TLSRPTv1; rua=ftp://example.com/x") == nil, "no usable address")
        #expect(TLSRPTRecord(parsing: "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com") == nil, "rua twice")
        #expect(TLSRPTRecord(parsing: "v=STSv1; id=1") == nil)
    }

    @Test("the report is §4.4's JSON and reads back")
    func report() throws {
        let start = Date(timeIntervalSince1970: 1_796_428_800)
        let report = TLSReport(
            organization: "mx.example.org", dateRange: .init(start: start, end: start.addingTimeInterval(86_399)),
            contact: "postmaster@example.org", reportID: "2026-12-05T00:00:00Z_example.com@mx.example.org",
            policies: [.init(policy: .init(type: "sts", strings: ["version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"],
                                           domain: "example.com", mxHosts: ["mx.example.com"]),
                             summary: .init(successful: 10, failed: 2),
                             failureDetails: [.init(resultType: "certificate-expired", receivingMX: "mx.example.com",
                                                    receivingIP: "192.0.2.1", count: 2)])])
        let json = String(decoding: try report.json(), as: UTF8.self)
        for fragment in [#""organization-name":"mx.example.org""#, #""start-datetime":"2026-12-05T00:00:00Z""#,
                         #""end-datetime":"2026-12-05T23:59:59Z""#, #""policy-type":"sts""#, #""mx-host":["mx.example.com"]"#,
                         #""total-successful-session-count":10"#, #""total-failure-session-count":2"#,
                         #""result-type":"certificate-expired""#, #""receiving-mx-hostname":"mx.example.com""#,
                         #""failed-session-count":2"#, #""contact-info":"postmaster@example.org""#] {
            #expect(json.contains(fragment), "\(fragment) in \(json)")
        }
        #expect(try TLSReport(json: Array(json.utf8)) == report)
        #expect(throws: (any Error).self) { try TLSReport(json: Array("{\"policies\": 1}".utf8)) }
    }
}
