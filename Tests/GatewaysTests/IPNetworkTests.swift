import MailCore
import Testing
@testable import WireCore
@testable import SMTPWire
@testable import IMAPWire
@testable import POP3Wire

@Suite("IP networks and access lists")
struct IPNetworkTests {
    @Test("addresses, CIDR networks and local networks match what they should")
    func matching() throws {
        let lan = try #require(IPNetwork("192.168.1.0/24"))
        #expect(lan.contains("192.168.1.77") && !lan.contains("192.168.2.1"))
        #expect(lan.contains("::ffff:192.168.1.5"))
        let v6 = try #require(IPNetwork("2001:db8::/32"))
        #expect(v6.contains("2001:db8:1::5") && !v6.contains("2001:db9::1"))
        let local = try #require(IPNetwork("local"))
        #expect(local.contains("127.0.0.1") && local.contains("10.1.2.3") && local.contains("::1") && !local.contains("8.8.8.8"))
        #expect(IPNetwork("192.168.1.0/33") == nil && IPNetwork("300.1.1.1") == nil && IPNetwork("01.2.3.4") == nil)
        #expect(IPNetwork("2001:db8::1")?.description == "2001:db8::1")
    }

    @Test("the first matching entry decides; nothing matching means no")
    func accessList() throws {
        let list = try IPAccessList.parse(["!192.168.1.1", "192.168.1.0/24"]).get()
        #expect(!list.allows("192.168.1.1") && list.allows("192.168.1.2") && !list.allows("127.0.0.1"))
        #expect(try IPAccessList.parse([]).get().allows("127.0.0.1") == false)
        #expect(throws: IPAccessList.ParseError.self) { try IPAccessList.parse(["nonsense"]).get() }
    }
}
