import Testing
@testable import Gateways
@testable import WireCore
@testable import SMTPWire
@testable import IMAPWire
@testable import POP3Wire

@Suite("POP3 wire")
struct POP3WireTests {
    func parse(_ text: String) -> Result<POP3Command, POP3SyntaxError> {
        POP3CommandParser.parse(Array(text.utf8))
    }

    @Test("commands parse into their typed form", arguments: [
        ("USER alice", POP3Command.user("alice")),
        ("pass secret with spaces", .pass("secret with spaces")),
        ("APOP mrose c4c9334bac560ecc979e58001b3e22fb", .apop(user: "mrose", digest: "c4c9334bac560ecc979e58001b3e22fb")),
        ("STAT", .stat), ("LIST", .list(nil)), ("LIST 2", .list(2)), ("RETR 1", .retr(1)), ("DELE 3", .dele(3)),
        ("RSET", .rset), ("NOOP", .noop), ("QUIT", .quit), ("UIDL", .uidl(nil)), ("uidl 7", .uidl(7)),
        ("TOP 1 0", .top(1, lines: 0)), ("CAPA", .capa), ("STLS", .stls),
        ("AUTH", .auth(mechanism: nil, initialResponse: nil)),
        ("AUTH plain AGFsaWNlAHB3", .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHB3")),
    ])
    func commands(_ text: String, _ expected: POP3Command) {
        #expect(parse(text) == .success(expected))
    }

    @Test("malformed commands are refused", arguments: [
        "FROB", "", "RETR", "RETR 0", "RETR -1", "RETR x", "LIST 1 2", "TOP 1", "STAT now", "APOP mrose short",
        "USER", "DELE 99999999999",
    ])
    func errors(_ text: String) {
        guard case .failure = parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
    }

    func written(_ text: String, lines: Int? = nil) -> String {
        String(decoding: POP3MessageWriter.multiline(Array(text.utf8), bodyLines: lines), as: UTF8.self)
    }

    @Test("RETR and TOP byte-stuff lines starting with a dot and end with CRLF.CRLF")
    func multiline() {
        let message = "Subject: a\r\n.hidden: b\r\n\r\n.one\r\ntwo\r\n..three\r\n"
        #expect(written(message) == "Subject: a\r\n..hidden: b\r\n\r\n..one\r\ntwo\r\n...three\r\n.\r\n")
        #expect(written(message, lines: 0) == "Subject: a\r\n..hidden: b\r\n\r\n.\r\n")
        #expect(written(message, lines: 2) == "Subject: a\r\n..hidden: b\r\n\r\n..one\r\ntwo\r\n.\r\n")
        #expect(written("no line break") == "no line break\r\n.\r\n")
        #expect(written("") == ".\r\n")
    }
}
