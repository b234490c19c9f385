import Foundation
import MailAuth
import Testing

/// DMARC aggregate reports without a network: the XML written validates against RFC 7489
/// appendix C's schema with xmllint, reads back the same, survives gzip; hostile reports
/// (malformed, entity bombs, gzip bombs) are refused with an error.
@Suite("DMARC aggregate reports")
struct DMARCReportTests {
    /// RFC 7489 appendix C's structure as an XML Schema (its element names, order and value
    /// sets), without a target namespace, as reports are sent in practice.
    static let schema = """
        <?xml version="1.0"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
          <xs:simpleType name="Alignment"><xs:restriction base="xs:string">
            <xs:enumeration value="r"/><xs:enumeration value="s"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="Disposition"><xs:restriction base="xs:string">
            <xs:enumeration value="none"/><xs:enumeration value="quarantine"/><xs:enumeration value="reject"/>
          </xs:restriction></xs:simpleType>
          <xs:simpleType name="Verdict"><xs:restriction base="xs:string">
            <xs:enumeration value="pass"/><xs:enumeration value="fail"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="Override"><xs:restriction base="xs:string">
            <xs:enumeration value="forwarded"/><xs:enumeration value="sampled_out"/><xs:enumeration value="trusted_forwarder"/>
            <xs:enumeration value="mailing_list"/><xs:enumeration value="local_policy"/><xs:enumeration value="other"/>
          </xs:restriction></xs:simpleType>
          <xs:simpleType name="DKIMVerdict"><xs:restriction base="xs:string">
            <xs:enumeration value="none"/><xs:enumeration value="pass"/><xs:enumeration value="fail"/>
            <xs:enumeration value="policy"/><xs:enumeration value="neutral"/><xs:enumeration value="temperror"/>
            <xs:enumeration value="permerror"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="SPFVerdict"><xs:restriction base="xs:string">
            <xs:enumeration value="none"/><xs:enumeration value="neutral"/><xs:enumeration value="pass"/>
            <xs:enumeration value="fail"/><xs:enumeration value="softfail"/><xs:enumeration value="temperror"/>
            <xs:enumeration value="permerror"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="SPFScope"><xs:restriction base="xs:string">
            <xs:enumeration value="helo"/><xs:enumeration value="mfrom"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="Address"><xs:restriction base="xs:string">
            <xs:pattern value="((1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\\.){3}(1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])"/>
            <xs:pattern value="([A-Fa-f0-9]{1,4}:){7}[A-Fa-f0-9]{1,4}"/>
            <xs:pattern value="[A-Fa-f0-9:]*::[A-Fa-f0-9:]*"/>
          </xs:restriction></xs:simpleType>
          <xs:element name="feedback"><xs:complexType><xs:sequence>
            <xs:element name="version" type="xs:decimal"/>
            <xs:element name="report_metadata"><xs:complexType><xs:sequence>
              <xs:element name="org_name" type="xs:string"/>
              <xs:element name="email" type="xs:string"/>
              <xs:element name="extra_contact_info" type="xs:string" minOccurs="0"/>
              <xs:element name="report_id" type="xs:string"/>
              <xs:element name="date_range"><xs:complexType><xs:all>
                <xs:element name="begin" type="xs:integer"/><xs:element name="end" type="xs:integer"/>
              </xs:all></xs:complexType></xs:element>
              <xs:element name="error" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType></xs:element>
            <xs:element name="policy_published"><xs:complexType><xs:all>
              <xs:element name="domain" type="xs:string"/>
              <xs:element name="adkim" type="Alignment" minOccurs="0"/>
              <xs:element name="aspf" type="Alignment" minOccurs="0"/>
              <xs:element name="p" type="Disposition"/>
              <xs:element name="sp" type="Disposition"/>
              <xs:element name="pct" type="xs:integer"/>
              <xs:element name="fo" type="xs:string"/>
            </xs:all></xs:complexType></xs:element>
            <xs:element name="record" maxOccurs="unbounded"><xs:complexType><xs:sequence>
              <xs:element name="row"><xs:complexType><xs:all>
                <xs:element name="source_ip" type="Address"/>
                <xs:element name="count" type="xs:integer"/>
                <xs:element name="policy_evaluated"><xs:complexType><xs:sequence>
                  <xs:element name="disposition" type="Disposition"/>
                  <xs:element name="dkim" type="Verdict"/>
                  <xs:element name="spf" type="Verdict"/>
                  <xs:element name="reason" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
                    <xs:element name="type" type="Override"/>
                    <xs:element name="comment" type="xs:string" minOccurs="0"/>
                  </xs:sequence></xs:complexType></xs:element>
                </xs:sequence></xs:complexType></xs:element>
              </xs:all></xs:complexType></xs:element>
              <xs:element name="identifiers"><xs:complexType><xs:all>
                <xs:element name="envelope_to" type="xs:string" minOccurs="0"/>
                <xs:element name="envelope_from" type="xs:string"/>
                <xs:element name="header_from" type="xs:string"/>
              </xs:all></xs:complexType></xs:element>
              <xs:element name="auth_results"><xs:complexType><xs:sequence>
                <xs:element name="dkim" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:all>
                  <xs:element name="domain" type="xs:string"/>
                  <xs:element name="selector" type="xs:string" minOccurs="0"/>
                  <xs:element name="result" type="DKIMVerdict"/>
                  <xs:element name="human_result" type="xs:string" minOccurs="0"/>
                </xs:all></xs:complexType></xs:element>
                <xs:element name="spf" maxOccurs="unbounded"><xs:complexType><xs:all>
                  <xs:element name="domain" type="xs:string"/>
                  <xs:element name="scope" type="SPFScope" minOccurs="0"/>
                  <xs:element name="result" type="SPFVerdict"/>
                </xs:all></xs:complexType></xs:element>
              </xs:sequence></xs:complexType></xs:element>
            </xs:sequence></xs:complexType></xs:element>
          </xs:sequence></xs:complexType></xs:element>
        </xs:schema>
        """

    /// Runs xmllint on `xml` against the schema; its exit status and messages.
    static func validate(_ xml: String) throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dmarc-xsd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schemaPath = directory.appendingPathComponent("rua.xsd").path, xmlPath = directory.appendingPathComponent("report.xml").path
        try schema.write(toFile: schemaPath, atomically: true, encoding: .utf8)
        try xml.write(toFile: xmlPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/xmllint")
        process.arguments = ["--noout", "--schema", schemaPath, xmlPath]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    static let report: DMARCAggregateReport = {
        var published = DMARCAggregateReport.Published(domain: "example.com")
        published.p = "reject"
        published.sp = "quarantine"
        published.adkim = "s"
        return DMARCAggregateReport(
            organization: "mx.example.org <&>", email: "postmaster@mx.example.org", reportID: "example.com:2026-12-04@mx.example.org",
            begin: 1_796_342_400, end: 1_796_428_799, published: published, records: [
                .init(sourceIP: "192.0.2.7", count: 12, disposition: "none", dkimAligned: true, spfAligned: true, reason: nil,
                      headerFrom: "example.com", envelopeFrom: "example.com",
                      dkim: [.init(domain: "example.com", selector: "s1", result: "pass")], spfDomain: "example.com", spfResult: "pass"),
                .init(sourceIP: "2001:db8::25", count: 3, disposition: "none", dkimAligned: false, spfAligned: false,
                      reason: "local_policy", headerFrom: "example.com", envelopeFrom: "bounce.example.net", dkim: [],
                      spfDomain: "bounce.example.net", spfResult: "softfail"),
            ])
    }()

    @Test("the XML validates against appendix C's schema with xmllint and reads back the same, through gzip")
    func writeAndRead() throws {
        let xml = Self.report.xml
        let validation = try Self.validate(xml)
        #expect(validation.status == 0, "\(validation.output)\n\(xml)")
        let gzipped = Gzip.compress(Array(xml.utf8))
        #expect(gzipped.prefix(2) == [0x1F, 0x8B])
        let read = try DMARCAggregateReport(xml: try Gzip.decompress(gzipped, limit: 1 << 20))
        #expect(read == Self.report)
        #expect(read.messages == 15)
        // The schema does catch a broken report.
        #expect(try Self.validate(xml.replacingOccurrences(of: "<disposition>none", with: "<disposition>maybe")).status != 0)
    }

    @Test("hostile reports: not XML, entity bombs, external entities, gzip bombs, corrupt gzip")
    func hostile() throws {
        #expect(throws: DMARCAggregateReport.ParseFailure.self) { try DMARCAggregateReport(xml: Array("<feedback><oops".utf8)) }
        let bomb = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
            <feedback><report_metadata><org_name>&lol2;</org_name></report_metadata></feedback>
            """
        #expect(throws: DMARCAggregateReport.ParseFailure.declarations) { try DMARCAggregateReport(xml: Array(bomb.utf8)) }
        let external = #"<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><feedback>&x;</feedback>"#
        #expect(throws: DMARCAggregateReport.ParseFailure.declarations) { try DMARCAggregateReport(xml: Array(external.utf8)) }
        #expect(throws: DMARCAggregateReport.ParseFailure.missing("policy_published")) {
            try DMARCAggregateReport(xml: Array("<feedback><report_metadata><report_id>1</report_id></report_metadata></feedback>".utf8))
        }
        // 64 MiB of zeros compress to a few kilobytes; decompressing stops at the limit.
        let zeros = Gzip.compress([UInt8](repeating: 0, count: 64 << 20))
        #expect(zeros.count < 200_000)
        #expect(throws: Gzip.Failure.tooLarge) { try Gzip.decompress(zeros, limit: 1 << 20) }
        #expect(throws: Gzip.Failure.corrupt) { try Gzip.decompress(Array(zeros.prefix(100)), limit: 1 << 20) }
        #expect(throws: Gzip.Failure.corrupt) { try Gzip.decompress(Array("not gzip at all".utf8), limit: 1 << 20) }
    }
}
