import MailCore
import Testing

@Suite("Domain names")
struct DomainNameTests {
    @Test("valid names are lowercased and lose a trailing dot",
          arguments: [("mail.example.com", "mail.example.com"), ("MX1.Example.NET.", "mx1.example.net"), ("localhost", "localhost"),
                      ("a-b.c0", "a-b.c0")])
    func valid(input: String, expected: String) throws {
        #expect(try DomainName(input).value == expected)
    }

    @Test("invalid names say why")
    func invalid() {
        #expect(throws: DomainName.ParseError.empty) { try DomainName("") }
        #expect(throws: DomainName.ParseError.emptyLabel) { try DomainName("a..b") }
        #expect(throws: DomainName.ParseError.invalidCharacter("_")) { try DomainName("a_b.example") }
        #expect(throws: DomainName.ParseError.hyphenAtLabelEdge("-a")) { try DomainName("-a.example") }
        #expect(throws: DomainName.ParseError.labelTooLong(String(repeating: "a", count: 64))) {
            try DomainName(String(repeating: "a", count: 64) + ".example")
        }
        #expect(throws: DomainName.ParseError.self) { try DomainName(String(repeating: "abcdefgh.", count: 30) + "com") }
        #expect(throws: DomainName.ParseError.invalidCharacter("é")) { try DomainName("café.example") }
    }
}
