import MailCore
import Testing

@Suite("Global header modifiers")
struct HeaderModifierTests {
    let header = Array("""
        From: a@example.com\r
        X-Mailer: Old 1.0\r
        Organization: First\r
        X-Originating-IP: [10.0.0.7]\r
        Organization: Second,\r
         folded\r
        Subject: hi\r
        \r

        """.utf8)

    func modifiers(_ lines: [String]) throws -> [HeaderModifier] {
        try lines.map { try HeaderModifier.parse($0).get() }
    }

    @Test("added at the end, removed by name and by prefix, replaced where the first was; the rest kept as written")
    func apply() throws {
        let edited = try #require(HeaderModifier.apply(try modifiers([
            "add X-Company:  Example Ltd ", "remove x-originating-*", "replace organization: Example Ltd", "remove X-Mailer",
        ]), to: header))
        #expect(String(decoding: edited, as: UTF8.self)
            == "From: a@example.com\r\norganization: Example Ltd\r\nSubject: hi\r\nX-Company: Example Ltd\r\n\r\n")
    }

    @Test("in order: a later remove takes what an earlier add put; nothing changed is nil")
    func order() throws {
        #expect(HeaderModifier.apply(try modifiers(["add X-Tag: one", "remove X-Tag"]), to: header)
            .map { String(decoding: $0, as: UTF8.self) } == String(decoding: header, as: UTF8.self))
        #expect(HeaderModifier.apply(try modifiers(["remove X-Absent", "replace Reply-To: x@y"]), to: header) == nil)
        #expect(HeaderModifier.apply(try modifiers(["replace Subject: hi"]), to: Array("Subject: hi\r\n\r\n".utf8)) == nil)
        #expect(HeaderModifier.apply([], to: header) == nil)
    }

    @Test("bad lines named: verbs, names, values, line breaks, the fields a message needs")
    func problems() {
        for (line, problem) in [
            ("append X: y", "starts with add, remove or replace"),
            ("add X-Tag", "needs Name: value"),
            ("add X-Tag:   ", "has no value"),
            ("add Bad Name: v", "not a header field name"),
            ("remove *", "not a header field name"),
            ("add X-Tag: a\r\nBcc: victim@example.com", "control character"),
            ("remove From", "needs its From"),
            ("remove Da*", "From and Date"),
            ("add X-Long: " + String(repeating: "v", count: 901), "longer than 900"),
        ] {
            #expect(HeaderModifier.problem([line])?.contains(problem) == true, "\(line): \(HeaderModifier.problem([line]) ?? "accepted")")
        }
        #expect(HeaderModifier.problem(["REMOVE X-Mailer", "Replace Organization: Example"]) == nil)
        #expect(HeaderModifier.parse(lines: ["remove X-Mailer", "nonsense"]).count == 1)
    }
}
