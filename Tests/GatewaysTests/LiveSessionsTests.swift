import Foundation
@testable import Gateways
import Testing
import Synchronization

@Suite("Live sessions: the registry the admin's Sessions page reads")
struct LiveSessionsTests {
    @Test("a command's name is its first word's letters, upper-cased, never what follows", arguments: [
        ("MAIL FROM:<a@example.com>", "MAIL"), ("ehlo client.example", "EHLO"), ("AUTH PLAIN dGVzdAB0ZXN0AHNlY3JldA==", "AUTH"),
        ("dGVzdAB0ZXN0AHNlY3JldA==", "DGVZDAB"), ("STARTTLS", "STARTTLS"), ("", ""), ("  NOOP", ""), ("1234", ""),
        ("ABCDEFGHIJKLMNOPQ rest", "ABCDEFGHIJKL"), ("RCPT\u{0}TO", "RCPT"),
    ])
    func verb(line: String, name: String) {
        #expect(LiveSession.verb(Array(line.utf8)) == name)
    }

    @Test("connections are numbered, updated, counted by listener, ended through their closer, and gone once closed")
    func registry() {
        let registry = LiveSessions()
        let ended = ClosedFlags()
        let first = registry.open(listener: "smtp", clientAddress: "192.0.2.1") { ended.set(1) }
        let second = registry.open(listener: "imap", clientAddress: "192.0.2.2") { ended.set(2) }
        #expect(first.number == 1 && second.number == 2)
        second.identify(sessionID: "abc123")
        second.loggedIn("alice")
        second.secured("TLSv1.3")
        second.doing("SELECT in INBOX")
        let entry = registry.snapshot().first { $0.number == 2 }
        #expect(entry?.user == "alice" && entry?.detail == "SELECT in INBOX" && entry?.tls == "TLSv1.3" && entry?.sessionID == "abc123")
        #expect(registry.counts() == ["smtp": 1, "imap": 1])

        #expect(registry.end(2))
        #expect(ended.values == [2])
        // Closing is the connection's business; the entry stays until the session is over.
        #expect(registry.snapshot().count == 2)
        second.closed()
        #expect(registry.snapshot().map(\.number) == [1])
        #expect(!registry.end(2))
        #expect(!registry.end(99))
        // A session's late update after its end changes nothing.
        second.doing("FETCH")
        #expect(registry.snapshot().map(\.number) == [1])

        // A place registered nowhere (sessions driven in tests) takes updates and ignores them.
        let nowhere = LiveSession()
        nowhere.doing("MAIL")
        nowhere.closed()
    }

    @Test("IMAP replies are counted from tagged lines only; SMTP and POP3 from the reply's start")
    func replyClasses() {
        // Without a metrics backend the counters do nothing; what is checked is that the
        // classifiers read only what they should (no crash on short or odd lines).
        let metrics = ProtocolMetrics.imap("imap")
        for line in ["a1 OK done\r\n", "* OK greeting\r\n", "+ go ahead\r\n", "a2 NO [NONEXISTENT] no\r\n", "a3 BAD x\r\n", "", "a4", "a5 "] {
            metrics.imapReply(Array(line.utf8))
        }
        let smtp = ProtocolMetrics.smtp("smtp")
        for reply in ["250 OK\r\n", "", "5", "x"] { smtp.smtpReply(Array(reply.utf8)) }
        smtp.command("XYZZY")
        ProtocolMetrics.pop3("pop3").pop3Reply(Array("-ERR no\r\n".utf8))
    }
}

/// Which closers ran.
final class ClosedFlags: Sendable {
    private let state = Mutex<[Int]>([])
    func set(_ value: Int) { state.withLock { $0.append(value) } }
    var values: [Int] { state.withLock { $0 } }
}
