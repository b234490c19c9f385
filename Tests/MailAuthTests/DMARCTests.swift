import DNS
import Foundation
import MailAuth
import Testing

/// DMARC without a network: the Public Suffix List (Debian's copy), records, alignment and
/// policies, with RFC 7489's examples as tables; and the Authentication-Results field written
/// for them, parsed by python3-authres.
@Suite("DMARC")
struct DMARCTests {
    static let suffixes: PublicSuffixList = {
        (try? PublicSuffixList(contentsOfFile: PublicSuffixList.debianPath)) ?? PublicSuffixList(text: "")
    }()

    static func resolver(_ records: [String: String], failing: Set<String> = []) -> StaticResolver {
        var resolver = StaticResolver()
        for (name, text) in records { resolver.txtRecords[name] = [[Array(text.utf8)]] }
        resolver.failing = failing
        return resolver
    }

    static func pass(_ domain: String) -> DKIMResult { DKIMResult(outcome: .pass, domain: domain, selector: "s") }

    @Test("organizational domains from the Public Suffix List: rules, wildcards, exceptions, Unicode rules")
    func organizationalDomains() {
        let list = Self.suffixes
        #expect(list.count > 5_000, "Debian's publicsuffix list at \(PublicSuffixList.debianPath)")
        let cases: [(String, String?)] = [
            ("example.com", "example.com"), ("mail.example.com", "example.com"), ("a.b.c.example.com", "example.com"),
            ("example.co.uk", "example.co.uk"), ("mail.example.co.uk", "example.co.uk"), ("co.uk", "co.uk"),
            // *.ck and !www.ck
            ("a.b.ck", "a.b.ck"), ("x.a.b.ck", "a.b.ck"), ("www.ck", "www.ck"), ("mail.www.ck", "www.ck"),
            // 公司.cn is xn--55qx5d.cn
            ("shop.xn--55qx5d.cn", "shop.xn--55qx5d.cn"), ("a.shop.xn--55qx5d.cn", "shop.xn--55qx5d.cn"),
            ("MAIL.Example.COM.", "example.com"), ("unlisted-tld-zz", "unlisted-tld-zz"), ("host.example.zz", "example.zz"),
            ("a..com", nil),
        ]
        for (domain, organizational) in cases {
            #expect(list.organizationalDomain(of: domain) == organizational, "\(domain)")
        }
    }

    @Test("records: tags, defaults, report addresses with sizes, and what is not a record")
    func records() throws {
        let record = try DMARCRecord(parsing: "v=DMARC1; p=Reject; sp=none; adkim=s; pct=20; rua=mailto:d@example.com!10m, mailto:e@example.net; ri=3600")
        #expect(record.policy == .reject)
        #expect(record.subdomainPolicy == DMARCRecord.Policy.none)
        #expect(record.dkimAlignment == .strict)
        #expect(record.spfAlignment == .relaxed)
        #expect(record.percentage == 20)
        #expect(record.aggregateReports.map(\.mailbox) == ["d@example.com", "e@example.net"])
        #expect(record.aggregateReports.first?.maximumSize == 10 << 20)
        #expect(record.reportInterval == 3_600)
        // §6.6.3: no valid p, but rua: read as p=none.
        #expect(try DMARCRecord(parsing: "v=DMARC1; p=bogus; rua=mailto:r@example.com").policy == DMARCRecord.Policy.none)
        #expect(throws: DMARCRecord.Failure.notDMARC) { try DMARCRecord(parsing: "v=spf1 -all") }
        #expect(throws: DMARCRecord.Failure.notDMARC) { try DMARCRecord(parsing: "p=reject; v=DMARC1") }
        #expect(throws: DMARCRecord.Failure.self) { try DMARCRecord(parsing: "v=DMARC1; p=bogus") }
        #expect(throws: DMARCRecord.Failure.self) { try DMARCRecord(parsing: "v=DMARC1; p=reject; pct=101") }
        #expect(throws: DMARCRecord.Failure.self) { try DMARCRecord(parsing: "v=DMARC1; p=reject; p=none") }
    }

    @Test("RFC 7489 §3.1: SPF and DKIM identifiers aligned in relaxed and strict mode")
    func alignment() async {
        let evaluator = DMARCEvaluator(resolver: StaticResolver(), suffixes: Self.suffixes)
        #expect(evaluator.aligned("example.com", "example.com", .strict))
        #expect(evaluator.aligned("news.example.com", "example.com", .relaxed))
        #expect(!evaluator.aligned("news.example.com", "example.com", .strict))
        #expect(evaluator.aligned("a.example.co.uk", "b.example.co.uk", .relaxed))
        #expect(!evaluator.aligned("example.co.uk", "other.co.uk", .relaxed))
        #expect(!evaluator.aligned("example.com", "example.net", .relaxed))
    }

    @Test("policies: pass by either identifier, p and sp, the organizational domain's record, pct sampling")
    func policies() async {
        let resolver = Self.resolver([
            "_dmarc.example.com": "v=DMARC1; p=reject; sp=quarantine; aspf=s",
            "_dmarc.example.net": "v=DMARC1; p=quarantine; pct=50",
            "_dmarc.example.org": "v=DMARC1; p=none; rua=mailto:dmarc@example.org",
        ], failing: ["_dmarc.broken.example"])
        let evaluator = DMARCEvaluator(resolver: resolver, suffixes: Self.suffixes)

        // Aligned DKIM passes; SPF pass for a subdomain does not under aspf=s.
        var outcome = await evaluator.evaluate(fromDomain: "example.com", spf: .pass, spfDomain: "bounces.example.com",
                                               dkim: [Self.pass("example.com")])
        #expect(outcome.result == .pass && outcome.dkimAligned && !outcome.spfAligned)
        outcome = await evaluator.evaluate(fromDomain: "example.com", spf: .pass, spfDomain: "bounces.example.com", dkim: [])
        #expect(outcome.result == .fail)
        #expect(outcome.disposition == .reject)
        // A signature that failed, or one by another domain, does not count.
        outcome = await evaluator.evaluate(fromDomain: "example.com", spf: .fail, spfDomain: "example.com",
                                           dkim: [DKIMResult(outcome: .fail, domain: "example.com"), Self.pass("example.net")])
        #expect(outcome.result == .fail && outcome.disposition == .reject)
        // A subdomain without its own record: the organizational domain's sp.
        outcome = await evaluator.evaluate(fromDomain: "mail.example.com", spf: .none, spfDomain: nil, dkim: [])
        #expect(outcome.policyDomain == "example.com")
        #expect(outcome.policy == .quarantine && outcome.disposition == .quarantine)
        // SPF in relaxed mode (example.net's default).
        outcome = await evaluator.evaluate(fromDomain: "example.net", spf: .pass, spfDomain: "mail.example.net", dkim: [])
        #expect(outcome.result == .pass && outcome.spfAligned)
        // pct=50: a sample under 50 gets the policy, one at or above it the next one down.
        outcome = await evaluator.evaluate(fromDomain: "example.net", spf: .fail, spfDomain: "example.net", dkim: [], sample: 49)
        #expect(outcome.disposition == .quarantine && !outcome.sampledOut)
        outcome = await evaluator.evaluate(fromDomain: "example.net", spf: .fail, spfDomain: "example.net", dkim: [], sample: 50)
        #expect(outcome.disposition == DMARCRecord.Policy.none && outcome.sampledOut)
        // p=none: fail, delivered as it is.
        outcome = await evaluator.evaluate(fromDomain: "example.org", spf: .softfail, spfDomain: "example.org", dkim: [])
        #expect(outcome.result == .fail && outcome.disposition == DMARCRecord.Policy.none)
        #expect(outcome.record?.aggregateReports.first?.mailbox == "dmarc@example.org")
        // No record anywhere; a lookup that fails.
        #expect(await evaluator.evaluate(fromDomain: "example.info", spf: nil, spfDomain: nil, dkim: []).result == .none)
        #expect(await evaluator.evaluate(fromDomain: "broken.example", spf: nil, spfDomain: nil, dkim: []).result == .temperror)
    }

    @Test("two DMARC records at one name mean none applies; other TXT records are passed over")
    func severalRecords() async {
        var resolver = StaticResolver()
        resolver.txtRecords["_dmarc.example.com"] = [[Array("v=DMARC1; p=reject".utf8)], [Array("v=DMARC1; p=none".utf8)]]
        resolver.txtRecords["_dmarc.example.net"] = [[Array("google-site-verification=x".utf8)], [Array("v=DMARC1; ".utf8), Array("p=reject".utf8)]]
        let evaluator = DMARCEvaluator(resolver: resolver, suffixes: Self.suffixes)
        #expect(await evaluator.evaluate(fromDomain: "example.com", spf: nil, spfDomain: nil, dkim: []).result == .none)
        let split = await evaluator.evaluate(fromDomain: "example.net", spf: nil, spfDomain: nil, dkim: [])
        #expect(split.result == .fail && split.disposition == .reject)
    }

    @Test("the authenticator finds forged results of ours and the From domain, and writes a field authres parses")
    func authenticator() async throws {
        let message = Array("""
            Authentication-Results: mx.example.org; dkim=pass header.d=example.com\r
            Received: from elsewhere\r
            Authentication-Results: other.example; spf=pass smtp.mailfrom=x@example.com\r
            authentication-results: (comment) "MX.example.org" ; dmarc=pass\r
            From: "Some One" <someone@example.com>\r
            Subject: hello\r
            \r
            body\r

            """.utf8)
        let resolver = Self.resolver(["_dmarc.example.com": "v=DMARC1; p=reject"])
        let authenticator = MessageAuthenticator(resolver: resolver, authservID: "mx.example.org", suffixes: Self.suffixes)
        let outcome = await authenticator.check(message, spf: .init(result: .softfail, identity: "bounce@elsewhere.example"),
                                                at: Date(), sample: 0)
        #expect(outcome.forged.map { String(decoding: message[$0], as: UTF8.self).prefix(24) }
            == ["Authentication-Results: ", "authentication-results: "])
        #expect(outcome.dmarc?.result == .fail)
        #expect(outcome.dmarc?.disposition == .reject)
        let field = outcome.results.field
        #expect(field.hasPrefix("Authentication-Results: mx.example.org;\r\n\tspf=softfail"))
        #expect(field.contains("dkim=none"))
        #expect(field.contains("dmarc=fail (p=reject dis=reject)"))

        // python3-authres reads it back: the same results, method by method.
        let script = """
            import sys, authres
            text = sys.stdin.read()
            header = authres.AuthenticationResultsHeader.parse(text)
            print(header.authserv_id)
            for result in header.results:
                print(result.method, result.result, ' '.join(f'{p.type}.{p.name}={p.value}' for p in result.properties))
            """
        let parsed = String(decoding: try DKIMInteropTests.python(script, input: Array(field.replacingOccurrences(of: "\r\n", with: "\n").utf8)),
                            as: UTF8.self)
        #expect(parsed.split(separator: "\n") == [
            "mx.example.org", "spf softfail smtp.mailfrom=bounce@elsewhere.example", "dkim none ", "dmarc fail header.from=example.com",
        ])

        // Several From domains: no DMARC verdict to act on.
        let twoFroms = Array("From: a@example.com, b@example.net\r\n\r\n".utf8)
        let mixed = await authenticator.check(twoFroms, spf: nil, at: Date())
        #expect(mixed.dmarc?.result == .permerror)
    }
}
