import Foundation

/// The `_smtp._tls.<domain>` TXT record (RFC 8460 §3): where a domain wants its TLS reports.
public struct TLSRPTRecord: Sendable, Equatable {
    /// `mailto:` and `https:` URIs, in the record's order.
    public var reportURIs: [String]

    public init(reportURIs: [String]) {
        self.reportURIs = reportURIs
    }

    /// `v=TLSRPTv1; rua=uri,uri` with `v` first; other fields are ignored. Nil when it is not
    /// one, or names no URI of a known scheme.
    public init?(parsing text: String) {
        let fields = text.split(separator: ";", omittingEmptySubsequences: true)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let first = fields.first, first == "v=TLSRPTv1" else { return nil }
        var uris: [String]?
        for field in fields.dropFirst() {
            guard let equals = field.firstIndex(of: "=") else { return nil }
            guard field[..<equals].trimmingCharacters(in: .whitespaces) == "rua" else { continue }
            guard uris == nil else { return nil }
            uris = field[field.index(after: equals)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { uri in
                    let lower = uri.lowercased()
                    return (lower.hasPrefix("mailto:") && uri.count > 7 && uri.contains("@")) || (lower.hasPrefix("https://") && uri.count > 8)
                }
        }
        guard let uris, !uris.isEmpty, uris.count <= 20 else { return nil }
        reportURIs = uris
    }

    /// Whether a TXT record is meant as one (begins with `v=TLSRPTv1`).
    public static func isTLSRPT(_ text: String) -> Bool {
        text.hasPrefix("v=TLSRPTv1")
    }
}

/// An SMTP TLS report (RFC 8460 §4): one sending organization's sessions with one policy
/// domain's MX hosts over one day, per policy applied, as JSON.
public struct TLSReport: Codable, Sendable, Equatable {
    public struct DateRange: Codable, Sendable, Equatable {
        public var start: Date
        public var end: Date

        enum CodingKeys: String, CodingKey {
            case start = "start-datetime", end = "end-datetime"
        }

        public init(start: Date, end: Date) {
            self.start = start
            self.end = end
        }
    }

    public struct Policy: Codable, Sendable, Equatable {
        /// `sts`, `tlsa` or `no-policy-found`.
        public var type: String
        public var strings: [String]
        public var domain: String
        public var mxHosts: [String]?

        enum CodingKeys: String, CodingKey {
            case type = "policy-type", strings = "policy-string", domain = "policy-domain", mxHosts = "mx-host"
        }

        public init(type: String, strings: [String], domain: String, mxHosts: [String]? = nil) {
            self.type = type
            self.strings = strings
            self.domain = domain
            self.mxHosts = mxHosts
        }
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var successful: Int
        public var failed: Int

        enum CodingKeys: String, CodingKey {
            case successful = "total-successful-session-count", failed = "total-failure-session-count"
        }

        public init(successful: Int, failed: Int) {
            self.successful = successful
            self.failed = failed
        }
    }

    public struct FailureDetail: Codable, Sendable, Equatable {
        public var resultType: String
        public var sendingIP: String?
        public var receivingMX: String?
        public var receivingIP: String?
        public var count: Int
        public var information: String?

        enum CodingKeys: String, CodingKey {
            case resultType = "result-type", sendingIP = "sending-mta-ip", receivingMX = "receiving-mx-hostname"
            case receivingIP = "receiving-ip", count = "failed-session-count", information = "additional-information"
        }

        public init(resultType: String, sendingIP: String? = nil, receivingMX: String? = nil, receivingIP: String? = nil, count: Int,
                    information: String? = nil) {
            self.resultType = resultType
            self.sendingIP = sendingIP
            self.receivingMX = receivingMX
            self.receivingIP = receivingIP
            self.count = count
            self.information = information
        }
    }

    public struct PolicyReport: Codable, Sendable, Equatable {
        public var policy: Policy
        public var summary: Summary
        public var failureDetails: [FailureDetail]

        enum CodingKeys: String, CodingKey {
            case policy, summary, failureDetails = "failure-details"
        }

        public init(policy: Policy, summary: Summary, failureDetails: [FailureDetail]) {
            self.policy = policy
            self.summary = summary
            self.failureDetails = failureDetails
        }
    }

    public var organization: String
    public var dateRange: DateRange
    public var contact: String
    public var reportID: String
    public var policies: [PolicyReport]

    enum CodingKeys: String, CodingKey {
        case organization = "organization-name", dateRange = "date-range", contact = "contact-info", reportID = "report-id", policies
    }

    public init(organization: String, dateRange: DateRange, contact: String, reportID: String, policies: [PolicyReport]) {
        self.organization = organization
        self.dateRange = dateRange
        self.contact = contact
        self.reportID = reportID
        self.policies = policies
    }

    /// §4.4's JSON, dates in RFC 3339 UTC.
    public func json() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// A report as received (plain JSON).
    public init(json: [UInt8]) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        self = try decoder.decode(TLSReport.self, from: Data(json))
    }
}
