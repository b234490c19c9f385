import Crypto
import EventLog
import Facts
import Foundation
@testable import Gateways
import POP3Wire
import Testing
import WireCore

func md5Hex(_ text: String) -> String {
    Insecure.MD5.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
}

/// Whole POP3 sessions through the state machine alone: the client's lines go in, the replies
/// and backend calls come out, and a scripted backend answers the calls. No socket, no
/// database, no clock.
@Suite("POP3 state machine")
struct POP3StateMachineTests {
    /// The machine with a scripted backend, and what came out of it.
    struct Dialogue {
        var machine: POP3StateMachine
        var passwords = ["mrose": "tanstaaf", "alice": "secret"]
        var maildrop = POP3Maildrop(mailboxID: 1, uidValidity: 7, messages: [
            .init(uid: 1, size: 120, blob: BlobID(digest: Array(repeating: 1, count: 32))),
            .init(uid: 2, size: 200, blob: BlobID(digest: Array(repeating: 2, count: 32))),
        ])
        var bodies: [Int: [UInt8]] = [
            1: Array("Subject: one\r\n\r\nfirst line\r\n.dotted\r\nlast\r\n".utf8),
            2: Array("Subject: two\r\n\r\nbody\r\n".utf8),
        ]
        var maildropHeld = false
        var commitSucceeds = true
        var blockAfterFailures = Int.max
        /// Backend calls, in order, as short text.
        var calls: [String] = []
        var failures = 0
        var ended: (SessionTally, Bool)?

        init(tls: String? = nil, tlsAvailable: Bool = true, policy: POP3Policy = .init()) {
            machine = POP3StateMachine(hostname: "mx.example", policy: policy, tls: tls, tlsAvailable: tlsAvailable,
                                       timestamp: "<1896.697170952@dbc.mtview.ca.us>", sessionID: "s1",
                                       startedAt: Date(timeIntervalSince1970: 0))
        }

        func user(_ name: String) -> UserRecord? {
            passwords[name] == nil ? nil : UserRecord(name: name)
        }

        /// Feeds `input` and every answer the backend gives; returns what was sent.
        mutating func feed(_ input: POP3StateMachine.Input) -> String {
            var sent: [UInt8] = []
            var machine = self.machine
            MachineDriver.feed(input, receive: { machine.receive($0) }) { action in
                var answer: POP3StateMachine.Input?
                switch action {
                case .send(let bytes): sent += bytes
                case .startTLS(let reply):
                    sent += reply
                    calls.append("starttls")
                case .checkPassword(let name, let password):
                    calls.append("check \(name)")
                    answer = .loginChecked(passwords[name] == password ? user(name) : nil)
                case .checkAPOP(let name, let timestamp, let digest):
                    calls.append("apop \(name)")
                    let expected = md5Hex(timestamp + (passwords[name] ?? ""))
                    answer = .loginChecked(digest == expected ? user(name) : nil)
                case .lookUpUser(let name):
                    answer = .loginChecked(user(name))
                case .recordLoginFailure(let name, let reason):
                    calls.append("failed \(name): \(reason)")
                    failures += 1
                    answer = .loginFailureRecorded(blocked: failures >= blockAfterFailures)
                case .drawNonce:
                    answer = .nonce("nonce")
                case .saslCheckPassword(let name, let password):
                    calls.append("sasl check \(name)")
                    answer = .saslPasswordChecked(passwords[name] == password)
                case .saslLookUpCredentials:
                    answer = .saslCredentials(nil)
                case .openMaildrop(let user):
                    calls.append("open \(user.name)")
                    answer = .maildropOpened(maildropHeld ? .inUse : .opened(maildrop))
                case .readMessage(let number, _):
                    calls.append("read \(number)")
                    answer = .messageRead(bodies[number])
                case .commitDeletions(let messages, _, _, _):
                    calls.append("delete \(messages.map(\.uid))")
                    answer = .deletionsCommitted(commitSucceeds)
                case .releaseMaildrop(let user):
                    calls.append("release \(user)")
                case .loggedIn:
                    break
                case .close(let tally, let closedByServer, _):
                    calls.append("close")
                    ended = (tally, closedByServer)
                }
                return answer
            }
            self.machine = machine
            return String(decoding: sent, as: UTF8.self)
        }

        /// The client sends `line` (with `buffered` octets pipelined behind it).
        mutating func client(_ line: String, buffered: Int = 0) -> String {
            feed(.line(ArraySlice(line.utf8), buffered: buffered))
        }
    }

    @Test("RFC 1939's example session: APOP, STAT, LIST, RETR, DELE, QUIT")
    func rfcExample() {
        var session = Dialogue()
        #expect(session.feed(.connected) == "+OK Pillarbox POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n")
        let digest = md5Hex("<1896.697170952@dbc.mtview.ca.us>tanstaaf")
        #expect(session.client("APOP mrose \(digest)") == "+OK mrose has 2 messages (320 octets)\r\n")
        #expect(session.client("STAT") == "+OK 2 320\r\n")
        #expect(session.client("LIST") == "+OK scan listing follows\r\n1 120\r\n2 200\r\n.\r\n")
        #expect(session.client("RETR 1") == "+OK 120 octets\r\nSubject: one\r\n\r\nfirst line\r\n..dotted\r\nlast\r\n.\r\n")
        #expect(session.client("DELE 1") == "+OK message 1 deleted\r\n")
        #expect(session.client("RETR 1") == "-ERR no such message\r\n")
        #expect(session.client("LIST") == "+OK scan listing follows\r\n2 200\r\n.\r\n")
        #expect(session.client("UIDL 2") == "+OK 2 7-2\r\n")
        #expect(session.client("QUIT") == "+OK mx.example signing off (1 messages left)\r\n")
        #expect(session.calls == ["apop mrose", "open mrose", "read 1", "delete [1]", "release mrose", "close"])
        #expect(session.ended?.0.endedNormally == true && session.ended?.0.messages == 1 && session.ended?.0.bytes == 120)
        #expect(session.machine.isClosed)
    }

    @Test("USER and PASS need TLS unless allowed; STLS refuses anything pipelined behind it")
    func plainTextAndSTLS() {
        var session = Dialogue()
        _ = session.feed(.connected)
        #expect(session.client("CAPA").contains("STLS\r\n"))
        #expect(!session.client("CAPA").contains("USER\r\n"))
        #expect(session.client("USER alice").hasPrefix("-ERR [AUTH]"))
        #expect(session.client("STLS") == "+OK Begin TLS negotiation\r\n")
        #expect(session.calls == ["starttls"])
        _ = session.feed(.tlsStarted(version: "TLSv1.3"))
        let capabilities = session.client("CAPA")
        #expect(capabilities.contains("USER\r\n") && !capabilities.contains("STLS"))
        #expect(session.client("USER alice") == "+OK send your password\r\n")
        #expect(session.client("PASS secret") == "+OK alice has 2 messages (320 octets)\r\n")
        #expect(session.ended == nil)

        var injected = Dialogue()
        _ = injected.feed(.connected)
        let reply = injected.client("STLS", buffered: 11)
        #expect(reply.hasPrefix("-ERR"), "\(reply)")
        #expect(injected.machine.isClosed && !injected.calls.contains("starttls"))
    }

    @Test("pipelined commands are answered in order, each on its own")
    func pipelining() {
        var session = Dialogue(policy: { var policy = POP3Policy(); policy.authWithoutTLS = true; return policy }())
        _ = session.feed(.connected)
        var replies = ""
        for line in ["USER alice", "PASS secret", "STAT", "UIDL", "TOP 2 0", "NOOP"] {
            replies += session.client(line, buffered: 100)
        }
        #expect(replies == "+OK send your password\r\n+OK alice has 2 messages (320 octets)\r\n+OK 2 320\r\n"
                + "+OK unique-id listing follows\r\n1 7-1\r\n2 7-2\r\n.\r\n+OK top of message follows\r\nSubject: two\r\n\r\n.\r\n+OK \r\n")
    }

    @Test("AUTH PLAIN with and without an initial response; * cancels")
    func sasl() {
        var session = Dialogue(tls: "TLSv1.3")
        _ = session.feed(.connected)
        #expect(session.client("AUTH PLAIN") == "+ \r\n")
        #expect(session.client("*") == "-ERR Authentication cancelled\r\n")
        #expect(session.calls.isEmpty)
        #expect(session.client("AUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}wrong".utf8)))").hasPrefix("-ERR [AUTH]"))
        #expect(session.calls.last == "failed PLAIN: PLAIN exchange failed")
        #expect(session.client("AUTH PLAIN") == "+ \r\n")
        #expect(session.client(Base64.encode(Array("\u{0}alice\u{0}secret".utf8))) == "+OK alice has 2 messages (320 octets)\r\n")
        #expect(session.client("AUTH PLAIN").hasPrefix("-ERR already logged in"))
    }

    @Test("failed logins: the third ends the session, an IPS block ends it at once")
    func failedLogins() {
        var session = Dialogue(tls: "TLSv1.3")
        _ = session.feed(.connected)
        for attempt in 1...3 {
            _ = session.client("USER alice")
            let reply = session.client("PASS wrong\(attempt)")
            #expect(reply.hasPrefix("-ERR [AUTH]"))
            #expect(session.machine.isClosed == (attempt == 3), "\(reply)")
        }
        #expect(session.ended?.0.authFailures == 3 && session.ended?.1 == true)

        var blocked = Dialogue(tls: "TLSv1.3")
        blocked.blockAfterFailures = 1
        _ = blocked.feed(.connected)
        _ = blocked.client("USER alice")
        let reply = blocked.client("PASS wrong")
        #expect(reply.contains("\r\n-ERR") && blocked.machine.isClosed, "\(reply)")
    }

    @Test("a held maildrop, a failed deletion, errors, a timeout and a dropped connection")
    func endings() {
        var held = Dialogue(tls: "TLSv1.3")
        held.maildropHeld = true
        _ = held.feed(.connected)
        _ = held.client("USER alice")
        #expect(held.client("PASS secret").hasPrefix("-ERR [IN-USE]"))
        #expect(!held.machine.isClosed)

        var failing = Dialogue(tls: "TLSv1.3")
        failing.commitSucceeds = false
        _ = failing.feed(.connected)
        _ = failing.client("USER alice")
        _ = failing.client("PASS secret")
        _ = failing.client("DELE 2")
        #expect(failing.client("QUIT").hasPrefix("-ERR"))
        #expect(failing.calls.suffix(3) == ["delete [2]", "release alice", "close"])

        var noisy = Dialogue(policy: { var policy = POP3Policy(); policy.maxErrors = 2; return policy }())
        _ = noisy.feed(.connected)
        #expect(noisy.client("FROB") == "-ERR unknown command\r\n")
        #expect(noisy.client("STAT") == "-ERR log in first\r\n")
        #expect(noisy.machine.isClosed && noisy.ended?.1 == true)

        var idle = Dialogue(tls: "TLSv1.3")
        _ = idle.feed(.connected)
        _ = idle.client("USER alice")
        _ = idle.client("PASS secret")
        #expect(idle.feed(.timedOut).hasPrefix("-ERR"))
        #expect(idle.calls.suffix(2) == ["release alice", "close"])
        #expect(idle.ended?.0.lastError == "timeout")

        var dropped = Dialogue(tls: "TLSv1.3")
        _ = dropped.feed(.connected)
        _ = dropped.client("USER alice")
        _ = dropped.client("PASS secret")
        _ = dropped.client("DELE 1")
        #expect(dropped.feed(.closed) == "")
        #expect(!dropped.calls.contains { $0.hasPrefix("delete") }, "a dropped connection deletes nothing")
        #expect(dropped.ended?.1 == false)

        var long = Dialogue()
        _ = long.feed(.connected)
        #expect(long.feed(.inputError(.lineTooLong)).hasPrefix("-ERR"))
        #expect(long.machine.isClosed)
    }
}
