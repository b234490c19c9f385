import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A DMARC aggregate report (RFC 7489 §7.2 and appendix C): written for the domains whose
/// mail this server checked, and read from the reports other receivers send.
public struct DMARCAggregateReport: Sendable, Equatable {
    public struct Published: Sendable, Equatable {
        public var domain: String
        public var adkim = "r"
        public var aspf = "r"
        public var p = "none"
        public var sp = "none"
        public var pct = 100
        public var fo = "0"

        public init(domain: String) {
            self.domain = domain
        }
    }

    public struct Signature: Sendable, Equatable {
        public var domain: String
        public var selector: String?
        public var result: String

        public init(domain: String, selector: String?, result: String) {
            self.domain = domain
            self.selector = selector
            self.result = result
        }
    }

    /// One row: a source address and an outcome, with how many messages had it.
    public struct Record: Sendable, Equatable {
        public var sourceIP: String
        public var count: Int
        public var disposition: String
        public var dkimAligned: Bool
        public var spfAligned: Bool
        /// `sampled_out`, `local_policy`, …; nil when what was done is what the policy asked.
        public var reason: String?
        public var headerFrom: String
        public var envelopeFrom: String
        public var dkim: [Signature]
        public var spfDomain: String
        public var spfResult: String

        public init(sourceIP: String, count: Int, disposition: String, dkimAligned: Bool, spfAligned: Bool, reason: String?,
                    headerFrom: String, envelopeFrom: String, dkim: [Signature], spfDomain: String, spfResult: String) {
            self.sourceIP = sourceIP
            self.count = count
            self.disposition = disposition
            self.dkimAligned = dkimAligned
            self.spfAligned = spfAligned
            self.reason = reason
            self.headerFrom = headerFrom
            self.envelopeFrom = envelopeFrom
            self.dkim = dkim
            self.spfDomain = spfDomain
            self.spfResult = spfResult
        }
    }

    public var organization: String
    public var email: String
    public var reportID: String
    public var begin: Int64
    public var end: Int64
    public var published: Published
    public var records: [Record]

    public init(organization: String, email: String, reportID: String, begin: Int64, end: Int64, published: Published,
                records: [Record]) {
        self.organization = organization
        self.email = email
        self.reportID = reportID
        self.begin = begin
        self.end = end
        self.published = published
        self.records = records
    }

    public var messages: Int { records.reduce(0) { $0 + $1.count } }

    // MARK: Writing

    static let dkimResults: Set = ["none", "pass", "fail", "policy", "neutral", "temperror", "permerror"]
    static let spfResults: Set = ["none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"]

    /// The report as appendix C's XML.
    public var xml: String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n  <version>1.0</version>\n"
        out += "  <report_metadata>\n"
        out += "    <org_name>\(Self.escape(organization))</org_name>\n"
        out += "    <email>\(Self.escape(email))</email>\n"
        out += "    <report_id>\(Self.escape(reportID))</report_id>\n"
        out += "    <date_range>\n      <begin>\(begin)</begin>\n      <end>\(end)</end>\n    </date_range>\n"
        out += "  </report_metadata>\n"
        out += "  <policy_published>\n"
        out += "    <domain>\(Self.escape(published.domain))</domain>\n"
        out += "    <adkim>\(published.adkim == "s" ? "s" : "r")</adkim>\n"
        out += "    <aspf>\(published.aspf == "s" ? "s" : "r")</aspf>\n"
        out += "    <p>\(Self.disposition(published.p))</p>\n"
        out += "    <sp>\(Self.disposition(published.sp))</sp>\n"
        out += "    <pct>\(published.pct)</pct>\n"
        out += "    <fo>\(Self.escape(published.fo))</fo>\n"
        out += "  </policy_published>\n"
        for record in records {
            out += "  <record>\n    <row>\n"
            out += "      <source_ip>\(Self.escape(record.sourceIP))</source_ip>\n"
            out += "      <count>\(record.count)</count>\n"
            out += "      <policy_evaluated>\n"
            out += "        <disposition>\(Self.disposition(record.disposition))</disposition>\n"
            out += "        <dkim>\(record.dkimAligned ? "pass" : "fail")</dkim>\n"
            out += "        <spf>\(record.spfAligned ? "pass" : "fail")</spf>\n"
            if let reason = record.reason {
                out += "        <reason>\n          <type>\(Self.escape(reason))</type>\n        </reason>\n"
            }
            out += "      </policy_evaluated>\n    </row>\n"
            out += "    <identifiers>\n"
            out += "      <envelope_from>\(Self.escape(record.envelopeFrom))</envelope_from>\n"
            out += "      <header_from>\(Self.escape(record.headerFrom))</header_from>\n"
            out += "    </identifiers>\n    <auth_results>\n"
            for signature in record.dkim {
                out += "      <dkim>\n        <domain>\(Self.escape(signature.domain))</domain>\n"
                if let selector = signature.selector { out += "        <selector>\(Self.escape(selector))</selector>\n" }
                let result = Self.dkimResults.contains(signature.result) ? signature.result : "permerror"
                out += "        <result>\(result)</result>\n      </dkim>\n"
            }
            let spf = Self.spfResults.contains(record.spfResult) ? record.spfResult : "none"
            out += "      <spf>\n        <domain>\(Self.escape(record.spfDomain))</domain>\n        <scope>mfrom</scope>\n"
            out += "        <result>\(spf)</result>\n      </spf>\n"
            out += "    </auth_results>\n  </record>\n"
        }
        return out + "</feedback>\n"
    }

    static func disposition(_ value: String) -> String {
        ["none", "quarantine", "reject"].contains(value) ? value : "none"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            // Characters XML 1.0 cannot carry.
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: Reading

    public enum ParseFailure: Error, Equatable, CustomStringConvertible {
        case notXML(String)
        /// A document type declaration: entities are how XML bombs work, and reports have none.
        case declarations
        case missing(String)
        case tooLarge

        public var description: String {
            switch self {
            case .notXML(let detail): "not well-formed XML: \(detail)"
            case .declarations: "the report has a document type declaration"
            case .missing(let element): "the report has no \(element)"
            case .tooLarge: "the report is too large"
            }
        }
    }

    /// Bounds for reports read: their XML and their rows.
    public static let maximumXML = 32 << 20
    public static let maximumRecords = 100_000

    /// Reads a report's XML.
    public init(xml data: [UInt8]) throws(ParseFailure) {
        guard data.count <= Self.maximumXML else { throw .tooLarge }
        // No DTDs at all: no entity can expand, nothing external is fetched.
        if Self.contains(data, "<!DOCTYPE") || Self.contains(data, "<!ENTITY") { throw .declarations }
        let reader = ReportReader()
        let parser = XMLParser(data: Data(data))
        parser.shouldResolveExternalEntities = false
        parser.delegate = reader
        guard parser.parse(), reader.failure == nil else {
            if let failure = reader.failure { throw failure }
            throw .notXML(parser.parserError.map { "\($0.localizedDescription)" } ?? "unknown error")
        }
        guard let published = reader.published else { throw .missing("policy_published") }
        guard let id = reader.reportID else { throw .missing("report_id") }
        self.init(organization: reader.organization ?? "", email: reader.email ?? "", reportID: id, begin: reader.begin ?? 0,
                  end: reader.end ?? 0, published: published, records: reader.records)
    }

    static func contains(_ data: [UInt8], _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard data.count >= needle.count else { return false }
        var index = 0
        while let start = data[index...].firstIndex(of: needle[0]) {
            if start + needle.count > data.count { return false }
            if data[start..<(start + needle.count)].elementsEqual(needle) { return true }
            index = start + 1
        }
        return false
    }
}

/// Collects a report's elements by path as the parser meets them.
private final class ReportReader: NSObject, XMLParserDelegate {
    var path: [String] = []
    var text = ""
    var organization: String?
    var email: String?
    var reportID: String?
    var begin: Int64?
    var end: Int64?
    var published: DMARCAggregateReport.Published?
    var records: [DMARCAggregateReport.Record] = []
    var record: DMARCAggregateReport.Record?
    var signature: DMARCAggregateReport.Signature?
    var failure: DMARCAggregateReport.ParseFailure?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        path.append(name)
        text = ""
        guard path.count <= 8 else {
            failure = .notXML("nested too deeply")
            parser.abortParsing()
            return
        }
        switch path.suffix(2).joined(separator: "/") {
        case "feedback/policy_published": published = .init(domain: "")
        case "feedback/record":
            guard records.count < DMARCAggregateReport.maximumRecords else {
                failure = .tooLarge
                parser.abortParsing()
                return
            }
            record = .init(sourceIP: "", count: 0, disposition: "none", dkimAligned: false, spfAligned: false, reason: nil,
                           headerFrom: "", envelopeFrom: "", dkim: [], spfDomain: "", spfResult: "none")
        case "auth_results/dkim": signature = .init(domain: "", selector: nil, result: "none")
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if text.utf8.count < 4_096 { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let where_ = path.joined(separator: "/")
        switch where_ {
        case "feedback/report_metadata/org_name": organization = value
        case "feedback/report_metadata/email": email = value
        case "feedback/report_metadata/report_id": reportID = value
        case "feedback/report_metadata/date_range/begin": begin = Int64(value)
        case "feedback/report_metadata/date_range/end": end = Int64(value)
        case "feedback/policy_published/domain": published?.domain = value
        case "feedback/policy_published/adkim": published?.adkim = value
        case "feedback/policy_published/aspf": published?.aspf = value
        case "feedback/policy_published/p": published?.p = value
        case "feedback/policy_published/sp": published?.sp = value
        case "feedback/policy_published/pct": published?.pct = Int(value) ?? 100
        case "feedback/policy_published/fo": published?.fo = value
        case "feedback/record/row/source_ip": record?.sourceIP = value
        case "feedback/record/row/count": record?.count = Int(value) ?? 0
        case "feedback/record/row/policy_evaluated/disposition": record?.disposition = value
        case "feedback/record/row/policy_evaluated/dkim": record?.dkimAligned = value == "pass"
        case "feedback/record/row/policy_evaluated/spf": record?.spfAligned = value == "pass"
        case "feedback/record/row/policy_evaluated/reason/type": record?.reason = value
        case "feedback/record/identifiers/header_from": record?.headerFrom = value
        case "feedback/record/identifiers/envelope_from": record?.envelopeFrom = value
        case "feedback/record/auth_results/dkim/domain": signature?.domain = value
        case "feedback/record/auth_results/dkim/selector": signature?.selector = value
        case "feedback/record/auth_results/dkim/result": signature?.result = value
        case "feedback/record/auth_results/dkim":
            if let signature { record?.dkim.append(signature) }
            signature = nil
        case "feedback/record/auth_results/spf/domain": record?.spfDomain = value
        case "feedback/record/auth_results/spf/result": record?.spfResult = value
        case "feedback/record":
            if let record { records.append(record) }
            record = nil
        default: break
        }
        path.removeLast()
        text = ""
    }
}
