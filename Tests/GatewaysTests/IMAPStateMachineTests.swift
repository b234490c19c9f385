import Facts
import Foundation
@testable import Gateways
import IMAPWire
import Testing
import WireCore

/// Whole IMAP sessions through the state machine alone: the client's bytes go in, replies and
/// calls come out, and a scripted backend answers (a mailbox command just gets a tagged OK).
/// No socket, no database, no clock.
@Suite("IMAP state machine")
struct IMAPStateMachineTests {
    struct Dialogue {
        var machine: IMAPStateMachine
        var passwords = ["alice": "secret"]
        var blockAfterFailures = Int.max
        var admitted = true
        var failures = 0
        var calls: [String] = []
        var executed: [String] = []
        var spooled = 0
        var ended: (SessionTally, Bool)?

        init(tls: String? = nil, authWithoutTLS: Bool = false, limits: IMAPLimits = .init()) {
            let environment = IMAPStateMachine.Environment(authWithoutTLS: { authWithoutTLS }, cramMD5: { false },
                                                           makeNonce: { "nonce" })
            machine = IMAPStateMachine(limits: limits, hostname: "mx.example", tls: tls, tlsAvailable: true,
                                       startedAt: Date(timeIntervalSince1970: 0), environment: environment)
        }

        mutating func feed(_ input: IMAPStateMachine.Input) -> String {
            var sent: [UInt8] = []
            var machine = self.machine
            MachineDriver.feed(input, receive: { machine.receive($0) }) { action in
                var answer: IMAPStateMachine.Input?
                switch action {
                case .send(let bytes): sent += bytes
                case .startTLS(let reply):
                    sent += reply
                    calls.append("starttls")
                case .checkPassword(let name, let password):
                    answer = .loginChecked(passwords[name] == password ? UserRecord(name: name) : nil)
                case .lookUpUser(let name):
                    answer = .loginChecked(passwords[name] == nil ? nil : UserRecord(name: name))
                case .recordLoginFailure(let name, let reason):
                    calls.append("failed \(name): \(reason)")
                    failures += 1
                    answer = .loginFailureRecorded(blocked: failures >= blockAfterFailures)
                case .admit:
                    answer = .userAdmitted(admitted)
                case .saslCheckPassword(let name, let password):
                    answer = .saslPasswordChecked(passwords[name] == password)
                case .saslLookUpCredentials:
                    answer = .saslCredentials(nil)
                case .loggedIn(let user):
                    calls.append("logged in \(user.name)")
                case .loggedOut:
                    calls.append("logged out")
                case .beginSpool(let size, _):
                    calls.append("spool \(size)")
                case .spool(let bytes):
                    spooled += bytes.count
                case .dropSpool:
                    break
                case .execute(let command, _):
                    executed.append(command.tag)
                    sent += Array("\(command.tag) OK done\r\n".utf8)
                    answer = .executed
                case .refresh:
                    calls.append("refresh")
                case .close(let tally, let closedByServer, _):
                    calls.append("close")
                    ended = (tally, closedByServer)
                }
                return answer
            }
            self.machine = machine
            return String(decoding: sent, as: UTF8.self)
        }

        mutating func client(_ text: String) -> String {
            feed(.received(Array(text.utf8)))
        }
    }

    @Test("greeting, CAPABILITY before and after STARTTLS, LOGINDISABLED until then")
    func capabilities() {
        var session = Dialogue()
        let greeting = session.feed(.connected)
        #expect(greeting.hasPrefix("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ") && greeting.contains(" STARTTLS LOGINDISABLED AUTH=SCRAM-SHA-256]"))
        #expect(session.client("a LOGIN alice secret\r\n") == "a NO [PRIVACYREQUIRED] LOGIN needs TLS: use STARTTLS first\r\n")
        #expect(session.client("b STARTTLS\r\n") == "b OK Begin TLS negotiation now\r\n")
        #expect(session.machine.wait == .action)
        _ = session.feed(.tlsStarted(version: "TLSv1.3"))
        let capability = session.client("c CAPABILITY\r\n")
        #expect(!capability.contains("STARTTLS") && !capability.contains("LOGINDISABLED") && capability.contains("AUTH=PLAIN"))
        #expect(capability.hasSuffix("c OK CAPABILITY completed\r\n"))
        let login = session.client("d LOGIN alice secret\r\n")
        #expect(login.hasPrefix("d OK [CAPABILITY IMAP4rev1 ") && !login.contains("AUTH="), "\(login)")
        #expect(session.calls == ["starttls", "logged in alice"])
    }

    @Test("STARTTLS with a command pipelined behind it ends the session in plain text")
    func startTLSInjection() {
        var session = Dialogue()
        _ = session.feed(.connected)
        let reply = session.client("a STARTTLS\r\nb LOGIN alice secret\r\n")
        #expect(reply == "* BYE Commands pipelined after STARTTLS\r\n")
        #expect(session.machine.isClosed && !session.calls.contains("starttls"))
    }

    @Test("pipelined commands with literals run in order; mailbox commands go to the backend after login only")
    func pipelining() {
        var session = Dialogue(authWithoutTLS: true)
        _ = session.feed(.connected)
        #expect(session.client("a SELECT INBOX\r\n") == "a BAD Log in first\r\n")
        let replies = session.client("b LOGIN {5+}\r\nalice {6+}\r\nsecret\r\nc SELECT INBOX\r\nd FETCH 1 (FLAGS)\r\ne NOOP\r\n")
        #expect(replies.hasPrefix("b OK [CAPABILITY "))
        #expect(replies.hasSuffix("c OK done\r\nd OK done\r\ne OK done\r\n"), "\(replies)")
        #expect(session.executed == ["c", "d", "e"])
        // A synchronizing literal gets its continuation first.
        #expect(session.client("f APPEND INBOX {12}\r\n") == "+ Ready for literal data\r\n")
        #expect(session.client("Subject: x\r\n\r\n") == "f OK done\r\n")
    }

    @Test("a large APPEND literal is spooled, never collected; before login literals stay small")
    func literals() {
        var session = Dialogue(authWithoutTLS: true)
        _ = session.feed(.connected)
        #expect(session.client("a LOGIN {100000}\r\n").hasPrefix("a NO [TOOBIG]"))
        _ = session.client("b LOGIN alice secret\r\n")
        #expect(session.client("c APPEND INBOX {300000}\r\n") == "+ Ready for literal data\r\n")
        #expect(session.calls.last == "spool 300000")
        #expect(session.client(String(repeating: "x", count: 200_000)) == "")
        #expect(session.client(String(repeating: "y", count: 100_000) + "\r\n") == "c OK done\r\n")
        #expect(session.spooled == 300_000)
        #expect(session.client("d SEARCH TEXT {300000}\r\n").hasPrefix("d NO [TOOBIG]"), "only APPEND may be large")
    }

    @Test("UNAUTHENTICATE: not logged in again, literals back to their limit before login, another login on the same connection")
    func unauthenticate() {
        var session = Dialogue(authWithoutTLS: true)
        _ = session.feed(.connected)
        #expect(session.client("a UNAUTHENTICATE\r\n") == "a BAD Log in first\r\n")
        _ = session.client("b LOGIN alice secret\r\n")
        #expect(session.client("c UNAUTHENTICATE\r\n") == "c OK UNAUTHENTICATE completed\r\n")
        #expect(session.calls.last == "logged out")
        #expect(session.client("d SELECT INBOX\r\n") == "d BAD Log in first\r\n")
        #expect(session.client("e APPEND INBOX {300000}\r\n").hasPrefix("e NO [TOOBIG]"))
        #expect(session.client("f LOGIN alice secret\r\n").hasPrefix("f OK [CAPABILITY "))
        #expect(session.calls.last == "logged in alice")
    }

    @Test("AUTHENTICATE PLAIN with a continuation; * cancels; three failures end the session")
    func authenticate() {
        var session = Dialogue(tls: "TLSv1.3")
        _ = session.feed(.connected)
        #expect(session.client("a AUTHENTICATE PLAIN\r\n") == "+ \r\n")
        #expect(session.client("*\r\n") == "a BAD Authentication cancelled\r\n")
        for (attempt, tag) in ["b", "c", "d"].enumerated() {
            _ = session.client("\(tag) AUTHENTICATE PLAIN\r\n")
            let reply = session.client(Base64.encode(Array("\u{0}alice\u{0}wrong".utf8)) + "\r\n")
            #expect(reply.hasSuffix("\(tag) NO [AUTHENTICATIONFAILED] Authentication failed\r\n"), "\(reply)")
            #expect(reply.hasPrefix("* BYE") == (attempt == 2))
        }
        #expect(session.machine.isClosed && session.ended?.0.authFailures == 3)

        var plain = Dialogue(tls: "TLSv1.3")
        _ = plain.feed(.connected)
        let reply = plain.client("a AUTHENTICATE PLAIN \(Base64.encode(Array("\u{0}alice\u{0}secret".utf8)))\r\nb NOOP\r\n")
        #expect(reply.hasPrefix("a OK [CAPABILITY") && reply.hasSuffix("b OK done\r\n"), "\(reply)")
    }

    @Test("a login the IPS blocks, and one over the user's session bound, end the session")
    func refusals() {
        var blocked = Dialogue(tls: "TLSv1.3")
        blocked.blockAfterFailures = 1
        _ = blocked.feed(.connected)
        #expect(blocked.client("a LOGIN alice wrong\r\n")
            == "* BYE Server access temporarily blocked! Please try again later\r\na NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        #expect(blocked.machine.isClosed && blocked.ended?.1 == true)

        var crowded = Dialogue(tls: "TLSv1.3")
        crowded.admitted = false
        _ = crowded.feed(.connected)
        #expect(crowded.client("a LOGIN alice secret\r\n").hasPrefix("* BYE [UNAVAILABLE] Too many sessions for alice"))
        #expect(crowded.machine.isClosed)
    }

    @Test("IDLE: a refresh at the start and on each wake-up, DONE ends it, anything else ends the session")
    func idle() {
        var session = Dialogue(tls: "TLSv1.3")
        _ = session.feed(.connected)
        _ = session.client("a LOGIN alice secret\r\n")
        #expect(session.client("b IDLE\r\n") == "+ idling\r\n")
        #expect(session.machine.wait == .idle && session.calls.last == "refresh")
        _ = session.feed(.woken)
        #expect(session.calls.suffix(2) == ["refresh", "refresh"])
        var rest = LineBuffer()
        rest.append(Array("c NOOP\r\n".utf8))
        #expect(session.feed(.idleLine(done: true, rest: rest)) == "b OK IDLE terminated\r\nc OK done\r\n")
        _ = session.client("d IDLE\r\n")
        #expect(session.feed(.idleLine(done: false, rest: LineBuffer())) == "* BYE Expected DONE to end IDLE\r\nd BAD Expected DONE\r\n")
        #expect(session.machine.isClosed && session.ended?.0.lastError == "BYE Expected DONE to end IDLE")
    }

    @Test("errors: too many end the session; LOGOUT, a timeout and a fatal line")
    func endings() {
        var limits = IMAPLimits()
        limits.maxErrors = 2
        var noisy = Dialogue(limits: limits)
        _ = noisy.feed(.connected)
        #expect(noisy.client("a FROB\r\n").hasPrefix("a BAD"))
        #expect(noisy.client("\r\n").hasPrefix("* BAD"))
        #expect(noisy.machine.isClosed && noisy.ended?.0.lastError == "BYE Too many errors")

        var polite = Dialogue()
        _ = polite.feed(.connected)
        #expect(polite.client("a LOGOUT\r\n") == "* BYE Pillarbox logging out\r\na OK LOGOUT completed\r\n")
        #expect(polite.ended?.0.endedNormally == true)

        var idle = Dialogue()
        _ = idle.feed(.connected)
        #expect(idle.feed(.timedOut).hasPrefix("* BYE Autologout"))
        #expect(idle.ended?.0.lastError == "timeout")

        var bare = Dialogue()
        _ = bare.feed(.connected)
        #expect(bare.client("a NOOP\n") == "* BYE lines end with CRLF\r\n")
        #expect(bare.machine.isClosed)
    }
}
