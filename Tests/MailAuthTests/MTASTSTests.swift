import MailAuth
import Testing

/// MTA-STS's record and policy (RFC 8461 §3) and which MX hosts a policy allows (§4.1).
@Suite("MTA-STS policies")
struct MTASTSTests {
    @Test("the TXT record: v=STSv1 first and an id of 1 to 32 letters and digits")
    func records() {
        #expect(MTASTSRecord(parsing: "v=STSv1; id=20160831085700Z;")?.id == "20160831085700Z")
        #expect(MTASTSRecord(parsing: "v=STSv1;id=abc; ext=1") == MTASTSRecord(id: "abc"))
        for text in ["id=abc; v=STSv1", "v=STSv2; id=abc", "v=STSv1", "v=STSv1; id=", "v=STSv1; id=a-b",
                     "v=STSv1; id=\(String(repeating: "a", count: 33))", "v=STSv1; id=a; id=b"] {
            #expect(MTASTSRecord(parsing: text) == nil, "\(text)")
        }
    }

    @Test("RFC 8461 §3.2's policy, its MX patterns, and policies that are refused")
    func policies() throws {
        let text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"
        let policy = try MTASTSPolicy(parsing: Array(text.utf8))
        #expect(policy == MTASTSPolicy(mode: .enforce, mx: ["mail.example.com", "*.example.net", "backupmx.example.com"], maxAge: 604_800))
        #expect(policy.allows(mx: "mail.example.com"))
        #expect(policy.allows(mx: "MAIL.example.com."))
        #expect(policy.allows(mx: "mx1.example.net"))
        #expect(!policy.allows(mx: "example.net"))
        #expect(!policy.allows(mx: "a.b.example.net"))
        #expect(!policy.allows(mx: "mail.example.org"))
        // LF line ends, unknown keys, testing mode.
        let relaxed = try MTASTSPolicy(parsing: Array("version: STSv1\nmode: testing\nfuture: x\nmx: mx.example.org\nmax_age: 86400\n".utf8))
        #expect(relaxed.mode == .testing && relaxed.mx == ["mx.example.org"])
        #expect(try MTASTSPolicy(parsing: Array("version: STSv1\nmode: none\nmax_age: 0\n".utf8)).mode == MTASTSPolicy.Mode.none)
        let refused: [(String, MTASTSPolicy.Failure)] = [
            ("mode: enforce\nmx: a.example\nmax_age: 1\n", .missing("version")),
            ("version: STSv1\nmode: enforce\nmax_age: 1\n", .missing("mx")),
            ("version: STSv1\nmode: enforce\nmx: a.example\n", .missing("max_age")),
            ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", .invalid("mode strict is not enforce, testing or none")),
            ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", .invalid("max_age 31557601 is not 0 to 31557600")),
            ("version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", .invalid("mx *.*.example is not a host name pattern")),
        ]
        for (text, failure) in refused {
            #expect(throws: failure, "\(text)") { try MTASTSPolicy(parsing: Array(text.utf8)) }
        }
        #expect(throws: MTASTSPolicy.Failure.tooLarge) { try MTASTSPolicy(parsing: [UInt8](repeating: 0x61, count: 70_000)) }
    }
}
