import MailCore
import Testing

@Suite("DNS record data")
struct DNSRecordDataTests {
    static func name(_ text: String) -> [UInt8] {
        text.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    @Test("MX: preference and exchange, lower-cased; the null MX is the empty name")
    func mx() throws {
        #expect(try DNSRecordData.mx([0, 10] + Self.name("MX1.Example.NET")) == .init(preference: 10, host: "mx1.example.net"))
        #expect(try DNSRecordData.mx([0x01, 0x00] + [0]) == .init(preference: 256, host: ""))
    }

    @Test("malformed record data is refused, whole or cut anywhere", arguments: [
        [UInt8]([0, 10]),                                  // no exchange
        [0, 10, 3, 0x61, 0x62],                            // label runs past the end
        [0, 10, 0xc0, 0x0c],                               // a compression pointer
        [0, 10, 1, 0x2e, 0],                               // a dot inside a label
        [0, 10, 1, 0x00, 0],                               // an unprintable byte
        [0, 10, 1, 0x61, 0, 0x99],                         // bytes after the name
    ])
    func malformedMX(_ bytes: [UInt8]) {
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.mx(bytes) }
    }

    @Test("every prefix of a valid MX that is not the whole record fails cleanly")
    func truncatedMX() {
        let whole: [UInt8] = [0, 5] + Self.name("mail.example.org")
        for length in 0..<whole.count {
            #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.mx(whole.prefix(length)) }
        }
    }

    @Test("a name longer than 255 bytes is refused")
    func longName() {
        let long = Array(repeating: "a" + String(repeating: "b", count: 62), count: 5).joined(separator: ".")
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.mx([0, 1] + Self.name(long)) }
    }

    @Test("A, AAAA and TXT")
    func addressesAndText() throws {
        #expect(try DNSRecordData.ipv4([192, 0, 2, 1]) == [192, 0, 2, 1])
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.ipv4([1, 2, 3]) }
        #expect(try DNSRecordData.ipv6(Array(repeating: 0, count: 16)).count == 16)
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.ipv6([1]) }
        #expect(try DNSRecordData.txt([3] + Array("v=s".utf8) + [2] + Array("pf".utf8)) == [Array("v=s".utf8), Array("pf".utf8)])
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.txt([5, 0x61]) }
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.txt([]) }
    }

    @Test("TLSA: usage, selector, matching type and data; shown as in a zone file")
    func tlsa() throws {
        let record = try DNSRecordData.tlsa([3, 1, 1, 0x0a, 0xff])
        #expect(record == DNSRecordData.TLSA(usage: 3, selector: 1, matchingType: 1, data: [0x0a, 0xff]))
        #expect(record.description == "3 1 1 0aff")
        #expect(throws: DNSRecordData.Malformed.self) { try DNSRecordData.tlsa([3, 1, 1]) }
    }
}
