import EventLog
import Foundation

/// An SMTP TLS report (RFC 8460) made for one policy domain and one UTC day, written by the
/// TLS report generator alone, once per domain and day: its stream is
/// `tlsreport-<domain>:<day>`, appended to only when new. A report sent by mail leaves as a
/// message accepted in the same transaction (`messageID`); one for an `https:` address is
/// posted first.
public struct TLSReportSent: Event {
    public static let eventType = "tls_report_sent"
    public static let category = "tlsreport"

    public var reportID: String
    public var domain: String
    /// `YYYY-MM-DD`.
    public var day: String
    /// The addresses and URLs it went to, and those it did not go to with why.
    public var sentTo: [String]
    public var skipped: [String: String]
    public var messageID: String?
    public var successes: Int
    public var failures: Int

    public init(reportID: String, domain: String, day: String, sentTo: [String], skipped: [String: String], messageID: String?,
                successes: Int, failures: Int) {
        self.reportID = reportID
        self.domain = domain
        self.day = day
        self.sentTo = sentTo
        self.skipped = skipped
        self.messageID = messageID
        self.successes = successes
        self.failures = failures
    }

    public static func stream(domain: String, day: String) throws -> StreamName {
        try StreamName(category: category, id: "\(domain.lowercased()):\(day)")
    }
}
