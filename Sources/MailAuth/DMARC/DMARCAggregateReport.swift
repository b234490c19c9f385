import Foundation

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
        var xml = XMLReader(data)
        try xml.read(reader)
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
private final class ReportReader: XMLReader.Handler {
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

    func start(_ name: String) throws(DMARCAggregateReport.ParseFailure) {
        path.append(name)
        text = ""
        guard path.count <= 8 else { throw .notXML("nested too deeply") }
        switch path.suffix(2).joined(separator: "/") {
        case "feedback/policy_published": published = .init(domain: "")
        case "feedback/record":
            guard records.count < DMARCAggregateReport.maximumRecords else { throw .tooLarge }
            record = .init(sourceIP: "", count: 0, disposition: "none", dkimAligned: false, spfAligned: false, reason: nil,
                           headerFrom: "", envelopeFrom: "", dkim: [], spfDomain: "", spfResult: "none")
        case "auth_results/dkim": signature = .init(domain: "", selector: nil, result: "none")
        default: break
        }
    }

    func characters(_ string: String) {
        if text.utf8.count < 4_096 { text += string }
    }

    func end(_ name: String) {
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

/// A strict reader for the XML of reports: elements, attributes (skipped), text with the five
/// predefined entities and character references, CDATA, comments and processing instructions.
/// No document type declarations (so no entities to expand and nothing external), names in
/// ASCII, one root element, end tags that match.
struct XMLReader {
    protocol Handler: AnyObject {
        func start(_ name: String) throws(DMARCAggregateReport.ParseFailure)
        func characters(_ text: String)
        func end(_ name: String)
    }

    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) {
        // A UTF-8 byte order mark is allowed at the start.
        self.bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
    }

    static func failure(_ detail: String) -> DMARCAggregateReport.ParseFailure { .notXML(detail) }

    mutating func read(_ handler: some Handler) throws(DMARCAggregateReport.ParseFailure) {
        var open: [String] = []
        var rootSeen = false
        var text: [UInt8] = []
        func flush() throws(DMARCAggregateReport.ParseFailure) {
            guard !text.isEmpty else { return }
            if open.isEmpty {
                guard text.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else {
                    throw Self.failure("text outside the root element")
                }
            } else {
                handler.characters(try Self.decode(text))
            }
            text = []
        }
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "<") else {
                text.append(byte)
                index += 1
                continue
            }
            if starts(with: "<!--") {
                try flush()
                try skip(past: "-->")
            } else if starts(with: "<![CDATA[") {
                guard !open.isEmpty else { throw Self.failure("CDATA outside the root element") }
                try flush()
                index += 9
                let start = index
                try skip(past: "]]>")
                // CDATA is literal: no references in it.
                handler.characters(String(decoding: bytes[start..<(index - 3)], as: UTF8.self))
            } else if starts(with: "<?") {
                try flush()
                try skip(past: "?>")
            } else if starts(with: "<!") {
                throw DMARCAggregateReport.ParseFailure.declarations
            } else if starts(with: "</") {
                try flush()
                index += 2
                let name = try readName()
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { throw Self.failure("a broken end tag") }
                index += 1
                guard open.last == name else { throw Self.failure("</\(name)> does not close <\(open.last ?? "")>") }
                open.removeLast()
                handler.end(name)
            } else {
                try flush()
                index += 1
                let name = try readName()
                guard !open.isEmpty || !rootSeen else { throw Self.failure("a second root element") }
                rootSeen = true
                // Attributes are read past, not kept.
                var quote: UInt8?
                var selfClosing = false
                while true {
                    guard index < bytes.count else { throw Self.failure("a start tag that does not end") }
                    let next = bytes[index]
                    index += 1
                    if let open = quote {
                        if next == open { quote = nil }
                        if next == UInt8(ascii: "<") { throw Self.failure("< in an attribute value") }
                        continue
                    }
                    if next == UInt8(ascii: "\"") || next == UInt8(ascii: "'") { quote = next; continue }
                    if next == UInt8(ascii: ">") { break }
                    if next == UInt8(ascii: "/"), index < bytes.count, bytes[index] == UInt8(ascii: ">") {
                        index += 1
                        selfClosing = true
                        break
                    }
                    if next == UInt8(ascii: "<") { throw Self.failure("< in a start tag") }
                }
                try handler.start(name)
                if selfClosing { handler.end(name) } else { open.append(name) }
            }
        }
        try flush()
        guard rootSeen else { throw Self.failure("no root element") }
        guard open.isEmpty else { throw Self.failure("<\(open.last ?? "")> is not closed") }
    }

    func starts(with prefix: String) -> Bool {
        let needle = Array(prefix.utf8)
        return bytes.count - index >= needle.count && bytes[index..<(index + needle.count)].elementsEqual(needle)
    }

    mutating func skip(past end: String) throws(DMARCAggregateReport.ParseFailure) {
        while index < bytes.count {
            if starts(with: end) {
                index += end.utf8.count
                return
            }
            index += 1
        }
        throw Self.failure("\(end) missing")
    }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    /// A name in ASCII: letters, digits, `_`, `-`, `.` and `:` (a prefix is dropped).
    mutating func readName() throws(DMARCAggregateReport.ParseFailure) -> String {
        let start = index
        while index < bytes.count, index - start < 256 {
            let byte = bytes[index]
            let allowed = (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
            guard allowed else { break }
            index += 1
        }
        guard index > start, !(0x30...0x39).contains(bytes[start]) else { throw Self.failure("a tag without a usable name") }
        let name = String(decoding: bytes[start..<index], as: UTF8.self)
        return name.split(separator: ":").last.map(String.init) ?? name
    }

    /// Text with its references replaced.
    static func decode(_ text: [UInt8]) throws(DMARCAggregateReport.ParseFailure) -> String {
        guard text.contains(UInt8(ascii: "&")) else { return String(decoding: text, as: UTF8.self) }
        var out: [UInt8] = []
        var index = 0
        while index < text.count {
            guard text[index] == UInt8(ascii: "&") else {
                out.append(text[index])
                index += 1
                continue
            }
            guard let semicolon = text[index...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw failure("a bare & in text")
            }
            let name = String(decoding: text[(index + 1)..<semicolon], as: UTF8.self)
            switch name {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let value: UInt32?
                if name.hasPrefix("#x") { value = UInt32(name.dropFirst(2), radix: 16) } else if name.hasPrefix("#") {
                    value = UInt32(name.dropFirst())
                } else {
                    value = nil
                }
                guard let value, let scalar = Unicode.Scalar(value), value != 0 else { throw failure("an unknown reference &\(name);") }
                out += Array(String(Character(scalar)).utf8)
            }
            index = semicolon + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
