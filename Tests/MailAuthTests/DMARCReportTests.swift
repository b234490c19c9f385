import Foundation
import MailAuth
import TestSupport
import Testing

/// DMARC aggregate reports without a network: the XML written validates against RFC 7489
/// appendix C's schema with xmllint, reads back the same, survives gzip; hostile reports
/// (malformed, entity bombs, gzip bombs) are refused with an error.
@Suite("DMARC aggregate reports")
struct DMARCReportTests {
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
        let validation = try DMARCSchema.validate(xml)
        #expect(validation.status == 0, "\(validation.output)\n\(xml)")
        let gzipped = Gzip.compress(Array(xml.utf8))
        #expect(gzipped.prefix(2) == [0x1F, 0x8B])
        let read = try DMARCAggregateReport(xml: try Gzip.decompress(gzipped, limit: 1 << 20))
        #expect(read == Self.report)
        #expect(read.messages == 15)
        // The schema does catch a broken report.
        #expect(try DMARCSchema.validate(xml.replacingOccurrences(of: "<disposition>none", with: "<disposition>maybe")).status != 0)
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
        // Bytes that are not UTF-8 in a tag name; tags that do not match; two roots; a bare &.
        var broken = Array(Self.report.xml.utf8)
        if let at = broken.firstIndex(of: UInt8(ascii: "<")).map({ $0 + 40 }) { broken.insert(contentsOf: [0x3C, 0xCD, 0xCD, 0x3E], at: at) }
        #expect(throws: DMARCAggregateReport.ParseFailure.self) { try DMARCAggregateReport(xml: broken) }
        for text in ["<feedback><a></b></feedback>", "<feedback/><feedback/>", "<feedback>a & b</feedback>", "<feedback>"] {
            #expect(throws: DMARCAggregateReport.ParseFailure.self, "\(text)") { try DMARCAggregateReport(xml: Array(text.utf8)) }
        }
        // CDATA, comments, references and namespace prefixes are read.
        let styled = Self.report.xml
            .replacingOccurrences(of: "<feedback>", with: "<!-- a comment --><rua:feedback xmlns:rua=\"urn:x\">")
            .replacingOccurrences(of: "</feedback>", with: "</rua:feedback>")
            .replacingOccurrences(of: "<email>postmaster@mx.example.org</email>", with: "<email><![CDATA[postmaster@mx.example.org]]></email>")
            .replacingOccurrences(of: "<fo>0</fo>", with: "<fo>&#48;</fo>")
        #expect(try DMARCAggregateReport(xml: Array(styled.utf8)) == Self.report)
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
