import EventLog
import Foundation

/// A DMARC aggregate report (RFC 7489 §7.2) sent for one policy domain and one day, written by
/// the DMARC report generator alone, once per domain and day: its stream is
/// `dmarcreport-<domain>:<day>`, appended to only when new, so two servers on one database
/// never send the same report twice. The report itself leaves as a message accepted in the
/// same transaction (`messageID`).
public struct DMARCReportSent: Event {
    public static let eventType = "dmarc_report_sent"
    public static let category = "dmarcreport"

    public var reportID: String
    /// The policy domain the report is about.
    public var domain: String
    /// The UTC day reported, `YYYY-MM-DD`: `begin` to `end` (epoch seconds).
    public var day: String
    public var begin: Int64
    public var end: Int64
    /// The addresses it went to, and those it did not go to with why (the external
    /// destination check of §7.1 failed, the report is over the address's size limit, a URI
    /// that is not `mailto:`).
    public var sentTo: [String]
    public var skipped: [String: String]
    /// The message carrying it; nil when it went nowhere.
    public var messageID: String?
    public var records: Int
    public var messages: Int
    /// Bytes of the gzipped XML.
    public var size: Int

    public init(reportID: String, domain: String, day: String, begin: Int64, end: Int64, sentTo: [String],
                skipped: [String: String], messageID: String?, records: Int, messages: Int, size: Int) {
        self.reportID = reportID
        self.domain = domain
        self.day = day
        self.begin = begin
        self.end = end
        self.sentTo = sentTo
        self.skipped = skipped
        self.messageID = messageID
        self.records = records
        self.messages = messages
        self.size = size
    }

    public static func stream(domain: String, day: String) throws -> StreamName {
        try StreamName(category: category, id: "\(domain.lowercased()):\(day)")
    }
}
