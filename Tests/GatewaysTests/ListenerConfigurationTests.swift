import Gateways
import Testing
@testable import WireCore
@testable import SMTPWire
@testable import IMAPWire
@testable import POP3Wire

@Suite("Listener addresses")
struct ListenerConfigurationTests {
    @Test("HOST:PORT forms", arguments: [
        ("0.0.0.0:25", "0.0.0.0", 25), ("127.0.0.1:0", "127.0.0.1", 0), ("[::]:143", "::", 143),
        ("[::1]:993", "::1", 993), ("localhost:2525", "localhost", 2525), ("mail.example.com:587", "mail.example.com", 587),
    ])
    func parses(text: String, host: String, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(try ListenAddress(parsing: address.description) == address)
    }

    @Test("malformed addresses are refused with the reason")
    func refuses() {
        #expect(throws: ListenAddress.ParseError.missingPort("localhost")) { try ListenAddress(parsing: "localhost") }
        #expect(throws: ListenAddress.ParseError.invalidPort("70000")) { try ListenAddress(parsing: "0.0.0.0:70000") }
        #expect(throws: ListenAddress.ParseError.invalidPort("")) { try ListenAddress(parsing: "0.0.0.0:") }
        #expect(throws: ListenAddress.ParseError.invalidPort("x1")) { try ListenAddress(parsing: "0.0.0.0:x1") }
        #expect(throws: ListenAddress.ParseError.invalidHost("")) { try ListenAddress(parsing: ":25") }
        #expect(throws: ListenAddress.ParseError.invalidHost("::1")) { try ListenAddress(parsing: "::1:25") }
        #expect(throws: ListenAddress.ParseError.missingPort("[::1]")) { try ListenAddress(parsing: "[::1]") }
        #expect(throws: ListenAddress.ParseError.invalidHost("a b")) { try ListenAddress(parsing: "a b:25") }
    }

    @Test("two listeners on one address conflict; port 0 never does")
    func conflicts() throws {
        var listeners = ListenerConfiguration.standard
        try listeners.validate()
        listeners[.imap] = try ListenAddress(parsing: "0.0.0.0:25")
        #expect(throws: ListenerConfiguration.ConflictError.self) { try listeners.validate() }
        listeners[.imap] = nil
        listeners[.smtp] = try ListenAddress(parsing: "127.0.0.1:0")
        listeners[.pop3] = try ListenAddress(parsing: "127.0.0.1:0")
        try listeners.validate()
    }
}
