import EventLog
import Facts
import Foundation
@testable import Gateways
import Routing
import SMTPWire
import Testing
import WireCore

/// Whole SMTP sessions through the state machine alone: the client's lines and the outcomes of
/// reading bodies go in, replies and backend calls come out, and a scripted backend answers.
/// No socket, no database; the clock and the ids are fixed.
@Suite("SMTP state machine")
struct SMTPStateMachineTests {
    static func environment(_ policy: SMTPPolicy = .init(), blocked: Bool = false) -> SMTPStateMachine.Environment {
        let counter = Counter()
        return SMTPStateMachine.Environment(now: { Date(timeIntervalSince1970: 1_795_355_107) },
                                            makeID: { counter.next() }, policy: { policy }, isBlocked: { _ in blocked })
    }

    final class Counter: @unchecked Sendable {
        var value = 0
        func next() -> String {
            value += 1
            return "id\(value)"
        }
    }

    /// The machine with a scripted backend, and what came out of it.
    struct Dialogue {
        var machine: SMTPStateMachine
        /// Local users (at example.com) and their passwords.
        var users = ["alice": "secret", "bob": "builder"]
        /// What each body read reports (in order); a DATA body with no script reads cleanly.
        var bodyReads: [SMTPStateMachine.BodyRead] = []
        var head = Array("From: alice@example.com\r\nSubject: hi\r\n\r\n".utf8)
        var acceptSucceeds = true
        /// What an SPF check of MAIL FROM comes to.
        var spf = "none"
        /// What the checks on a finished message find for DMARC.
        var dmarc: DMARCCheck?
        var traces: [String] = []
        var calls: [String] = []
        var accepted: [SMTPMessage] = []
        var ended: SessionEnded?

        init(tls: String? = nil, service: ServiceKind = .smtp, policy: SMTPPolicy = .init(), blocked: Bool = false) {
            machine = SMTPStateMachine(context: SMTPSessionContext(id: "s1", service: service, clientIP: "192.0.2.7", tls: tls),
                                       hostname: "mx.example.com", tlsAvailable: true,
                                       environment: SMTPStateMachineTests.environment(policy, blocked: blocked))
        }

        func route(_ path: SMTPPath, authenticated: Bool) -> SMTPRecipientDecision {
            guard path.domain.lowercased() == "example.com" else { return authenticated ? .remote : .relayDenied }
            return users[path.localPart.lowercased()] == nil ? .unknownLocal : .local(user: path.localPart.lowercased())
        }

        /// Feeds `input` and every answer the backend gives; returns what was sent.
        mutating func feed(_ input: SMTPStateMachine.Input) -> String {
            var sent: [UInt8] = []
            var machine = self.machine
            MachineDriver.feed(input, receive: { machine.receive($0) }) { action in
                var answer: SMTPStateMachine.Input?
                switch action {
                case .send(let bytes): sent += bytes
                case .discardInput: calls.append("discard input")
                case .startTLS(let reply):
                    sent += reply
                    calls.append("starttls")
                case .openBody(let messageID, let trace, _):
                    calls.append("open \(messageID)")
                    traces.append(String(decoding: trace, as: UTF8.self))
                case .readBody(let request):
                    calls.append("read \(request)")
                    answer = .bodyRead(bodyReads.isEmpty ? .read(error: nil, produced: 100, spoolFailed: false, buffered: 0)
                                       : bodyReads.removeFirst())
                case .finishBody:
                    answer = .bodyFinished(.init(body: .memory(head), blob: BlobID.of(head), size: head.count, containsNUL: false,
                                                 head: head, returnPathLength: 10, traceLength: 0))
                case .authenticate(let finished, let spf, _):
                    calls.append("authenticate spf=\(spf?.result ?? "-")")
                    answer = .authenticated(SMTPAuthentication(dmarc: dmarc), finished)
                case .discardBody: calls.append("discard body")
                case .removeSpool: calls.append("remove spool")
                case .recordIDS(let kind, _, let append, _):
                    calls.append("ids \(kind)\(append ? "" : " (folded)")")
                    answer = .idsRecorded(score: 1)
                case .checkSender(let address, let user):
                    answer = .senderChecked(address.hasPrefix(user.name + "@"))
                case .checkSPF(_, let sender, let helo):
                    let identity = sender.isEmpty ? "postmaster@\(helo)" : sender
                    answer = .spfChecked(.init(result: spf, identity: identity, explanation: spf == "fail" ? "not our server" : nil))
                case .resolve(let path, let session, _):
                    answer = .resolved(route(path, authenticated: session.authenticatedUser != nil))
                case .checkStorage:
                    answer = .storageChecked(.fits)
                case .expand(let name):
                    answer = .expanded(name == "staff" ? ["alice@example.com", "bob@example.com"] : nil)
                case .checkPassword(let user, let password):
                    answer = .passwordChecked(users[user] == password)
                case .lookUpCredentials:
                    answer = .credentials(nil)
                case .lookUpUser(let name):
                    answer = .userFound(users[name] == nil ? nil : UserRecord(name: name))
                case .accept(let message, _, _):
                    calls.append("accept")
                    accepted.append(message)
                    answer = .accepted(acceptSucceeds)
                case .log:
                    break
                case .close(let summary, _, _, _):
                    calls.append("close")
                    ended = summary
                }
                return answer
            }
            self.machine = machine
            return String(decoding: sent, as: UTF8.self)
        }

        mutating func client(_ line: String, buffered: Int = 0) -> String {
            feed(.line(ArraySlice(line.utf8), buffered: buffered))
        }

        /// The reply codes in what was sent, in order.
        static func codes(_ text: String) -> [Int] {
            text.split(separator: "\r\n").compactMap { line in
                line.count >= 4 && line[line.index(line.startIndex, offsetBy: 3)] == " " ? Int(line.prefix(3)) : nil
            }
        }
    }

    @Test("RFC 5321 appendix D.1: a typical transaction, one recipient refused")
    func typicalTransaction() {
        var session = Dialogue()
        #expect(session.feed(.connected) == "220 mx.example.com ESMTP Pillarbox ready\r\n")
        let ehlo = session.client("EHLO bar.com")
        #expect(ehlo.hasPrefix("250-mx.example.com Hello bar.com [192.0.2.7]\r\n") && ehlo.contains("250-PIPELINING\r\n")
                && ehlo.contains("250-STARTTLS\r\n") && !ehlo.contains("AUTH") && ehlo.hasSuffix("250 HELP\r\n"))
        #expect(session.client("MAIL FROM:<Smith@bar.com>") == "250 2.1.0 Sender OK\r\n")
        #expect(session.client("RCPT TO:<alice@example.com>") == "250 2.1.5 Recipient OK\r\n")
        #expect(session.client("RCPT TO:<Green@example.com>").hasPrefix("550 5.1.1"))
        #expect(session.client("RCPT TO:<bob@example.com>") == "250 2.1.5 Recipient OK\r\n")
        let data = session.client("DATA")
        #expect(data.hasPrefix("354 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 OK queued as "), "\(data)")
        #expect(session.accepted.count == 1)
        #expect(session.accepted.first?.recipients.map(\.path.description) == ["alice@example.com", "bob@example.com"])
        #expect(session.accepted.first?.refused.map(\.address) == ["Green@example.com"])
        #expect(session.calls.contains("read data(limit: \(SMTPLimits().maxMessageSize), lineLimit: 1000)"), "\(session.calls)")
        #expect(session.client("QUIT") == "221 2.0.0 mx.example.com closing connection\r\n")
        #expect(session.machine.isClosed)
        #expect(session.ended?.errorCode == "")
        #expect(session.calls.filter { $0.hasPrefix("ids") } == ["ids badLocalRecipient"])
    }

    @Test("the DATA reply and the message's 250 come out with the body's outcome")
    func dataReplies() {
        var session = Dialogue()
        _ = session.feed(.connected)
        _ = session.client("HELO bar.com")
        _ = session.client("MAIL FROM:<>")
        _ = session.client("RCPT TO:<alice@example.com>")
        let replies = session.client("DATA")
        #expect(Dialogue.codes(replies) == [354, 250], "\(replies)")
        #expect(replies.contains("OK queued as id"))
        // A message over the limit, then one whose line endings are not CRLF (SMTP smuggling).
        session.bodyReads = [.read(error: nil, produced: SMTPLimits().maxMessageSize + 1, spoolFailed: false, buffered: 0)]
        _ = session.client("MAIL FROM:<>")
        _ = session.client("RCPT TO:<alice@example.com>")
        #expect(Dialogue.codes(session.client("DATA")) == [354, 552])
        session.bodyReads = [.read(error: .bareLineFeed, produced: 10, spoolFailed: false, buffered: 0)]
        _ = session.client("MAIL FROM:<>")
        _ = session.client("RCPT TO:<alice@example.com>")
        #expect(Dialogue.codes(session.client("DATA")) == [354, 500])
        #expect(session.machine.isClosed, "a bare LF in DATA ends the session")
        #expect(session.accepted.count == 1)
        #expect(session.calls.filter { $0 == "discard body" }.count == 2)
    }

    @Test("SPF: a fail is refused with 550 5.7.23 under reject-fail, tagged otherwise; checked results head the trace")
    func spf() {
        var policy = SMTPPolicy()
        policy.spfPolicy = "reject-fail"
        var session = Dialogue(policy: policy)
        session.spf = "fail"
        _ = session.feed(.connected)
        _ = session.client("EHLO bar.example")
        let refused = session.client("MAIL FROM:<forged@bank.example>")
        #expect(refused.hasPrefix("550 5.7.23 SPF check failed for forged@bank.example: not our server"), "\(refused)")
        #expect(session.calls.contains("ids spfFailure"))
        #expect(Dialogue.codes(session.client("RCPT TO:<alice@example.com>")) == [503])

        // Tagged: the transaction goes on, and the result is recorded.
        policy.spfPolicy = "tag"
        var tagged = Dialogue(policy: policy)
        tagged.spf = "fail"
        _ = tagged.feed(.connected)
        _ = tagged.client("EHLO bar.example")
        #expect(Dialogue.codes(tagged.client("MAIL FROM:<>")) == [250])
        _ = tagged.client("RCPT TO:<alice@example.com>")
        #expect(Dialogue.codes(tagged.client("DATA")) == [354, 250])
        // The results go into the message with the checks made once it is in.
        #expect(tagged.calls.contains("authenticate spf=fail"), "\(tagged.calls)")
        #expect(tagged.accepted.first?.spf?.result == "fail")

        // Off, or from the relay networks: not checked.
        policy.spfPolicy = "off"
        var off = Dialogue(policy: policy)
        _ = off.feed(.connected)
        _ = off.client("EHLO bar.example")
        _ = off.client("MAIL FROM:<a@bar.example>")
        _ = off.client("RCPT TO:<alice@example.com>")
        _ = off.client("DATA")
        #expect(off.calls.contains("authenticate spf=-"))
    }

    @Test("DMARC: enforce refuses a reject with 550 5.7.1 and sends a quarantine to Junk; tag records only; no checks for logged-in clients")
    func dmarc() {
        func failing(_ disposition: String) -> DMARCCheck {
            DMARCCheck(result: "fail", fromDomain: "bank.example", published: nil, disposition: disposition, applied: "none",
                       spfAligned: false, dkimAligned: false, sampledOut: false, detail: nil)
        }
        func run(_ policyName: String, _ disposition: String, service: ServiceKind = .smtp) -> Dialogue {
            var policy = SMTPPolicy()
            policy.dmarcPolicy = policyName
            var session = Dialogue(tls: "TLSv1.3", service: service, policy: policy)
            session.dmarc = failing(disposition)
            _ = session.feed(.connected)
            _ = session.client("EHLO bar.example")
            if service == .submission { _ = session.client("AUTH PLAIN " + Data("\0alice\0secret".utf8).base64EncodedString()) }
            _ = session.client(service == .submission ? "MAIL FROM:<alice@example.com>" : "MAIL FROM:<x@bar.example>")
            _ = session.client("RCPT TO:<alice@example.com>")
            session.calls.append("DATA: " + session.client("DATA"))
            return session
        }
        let rejected = run("enforce", "reject")
        #expect(rejected.calls.last?.contains("550 5.7.1 Message refused by the DMARC policy of bank.example") == true, "\(rejected.calls)")
        #expect(rejected.accepted.isEmpty)
        let quarantined = run("enforce", "quarantine")
        #expect(quarantined.accepted.first?.junk == true)
        #expect(quarantined.accepted.first?.dmarc?.applied == "quarantine")
        let tagged = run("tag", "reject")
        #expect(tagged.accepted.first?.junk == false)
        #expect(tagged.accepted.first?.dmarc?.applied == "none")
        #expect(tagged.accepted.first?.dmarc?.disposition == "reject")
        let submitted = run("enforce", "reject", service: .submission)
        #expect(!submitted.calls.contains { $0.hasPrefix("authenticate") })
        #expect(submitted.accepted.count == 1)
    }

    @Test("RFC 2920: pipelined MAIL and RCPTs are answered in order; input behind a group-ending command ends the session")
    func pipelining() {
        var session = Dialogue()
        _ = session.feed(.connected)
        _ = session.client("EHLO bar.com")
        var replies = session.client("MAIL FROM:<mrose@dbc.mtview.ca.us>", buffered: 80)
        replies += session.client("RCPT TO:<alice@example.com>", buffered: 50)
        replies += session.client("RCPT TO:<nobody@example.com>", buffered: 20)
        replies += session.client("RCPT TO:<bob@example.com>", buffered: 6)
        #expect(Dialogue.codes(replies) == [250, 250, 550, 250])
        let behind = session.client("NOOP", buffered: 12)
        #expect(Dialogue.codes(behind) == [250, 554], "\(behind)")
        #expect(session.calls.contains("discard input"))
        #expect(session.machine.isClosed)
        #expect(session.ended?.errorCode.hasPrefix("554") == true)
    }

    @Test("STARTTLS: refused with input pipelined behind it; otherwise everything learnt before is forgotten")
    func startTLS() {
        var injected = Dialogue()
        _ = injected.feed(.connected)
        _ = injected.client("EHLO bar.com")
        #expect(injected.client("STARTTLS", buffered: 20).hasPrefix("554 5.5.0"))
        #expect(injected.machine.isClosed && !injected.calls.contains("starttls"))

        var session = Dialogue()
        _ = session.feed(.connected)
        _ = session.client("EHLO bar.com")
        #expect(session.client("STARTTLS") == "220 2.0.0 Ready to start TLS\r\n")
        #expect(session.machine.wait == .action)
        _ = session.feed(.tlsStarted(version: "TLSv1.3"))
        #expect(session.machine.context.tls == "TLSv1.3" && session.machine.context.helo == nil)
        #expect(session.client("MAIL FROM:<a@bar.com>").hasPrefix("503"), "HELO again after TLS")
        let ehlo = session.client("EHLO bar.com")
        #expect(!ehlo.contains("STARTTLS") && ehlo.contains("250-AUTH PLAIN LOGIN SCRAM-SHA-256\r\n"), "\(ehlo)")
        #expect(session.client("STARTTLS").hasPrefix("503"))

        var plain = Dialogue()
        _ = plain.feed(.connected)
        _ = plain.client("EHLO bar.com")
        _ = plain.client("STARTTLS")
        _ = plain.feed(.plainTextAfterSTARTTLS)
        #expect(plain.machine.isClosed && plain.calls.contains("ids syntaxError"))
    }

    @Test("AUTH PLAIN, then submission sends as the user's own address only")
    func submission() {
        var session = Dialogue(tls: "TLSv1.3", service: .submission)
        _ = session.feed(.connected)
        _ = session.client("EHLO client")
        #expect(session.client("MAIL FROM:<alice@example.com>").hasPrefix("530"))
        #expect(session.client("AUTH PLAIN") == "334 \r\n")
        #expect(session.machine.wait == .authLine(limit: SMTPLimits().authLineLength))
        #expect(session.client(Base64.encode(Array("\u{0}alice\u{0}secret".utf8))) == "235 2.7.0 Authentication successful\r\n")
        #expect(session.client("MAIL FROM:<bob@example.com>").hasPrefix("553"))
        #expect(session.client("MAIL FROM:<alice@example.com>") == "250 2.1.0 Sender OK\r\n")
        #expect(session.client("RCPT TO:<someone@elsewhere.test>") == "250 2.1.5 Recipient OK\r\n")
        #expect(Dialogue.codes(session.client("DATA")) == [354, 250])
        #expect(session.accepted.first?.recipients.first?.decision == .remote)
    }

    @Test("failed AUTH: the third ends the session, an address the IPS blocks ends it at once")
    func authFailures() {
        var session = Dialogue(tls: "TLSv1.3")
        _ = session.feed(.connected)
        _ = session.client("EHLO client")
        for attempt in 1...3 {
            let reply = session.client("AUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}wrong\(attempt)".utf8)))")
            #expect(reply.hasPrefix("535"))
            #expect(session.machine.isClosed == (attempt == 3), "\(reply)")
        }
        #expect(session.calls.filter { $0.hasPrefix("ids authenticationFailure") }
            == ["ids authenticationFailure", "ids authenticationFailure (folded)", "ids authenticationFailure (folded)"])

        var blocked = Dialogue(tls: "TLSv1.3", blocked: true)
        _ = blocked.feed(.connected)
        _ = blocked.client("EHLO client")
        #expect(Dialogue.codes(blocked.client("AUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}no".utf8)))")) == [535, 421])
        #expect(blocked.machine.isClosed)
    }

    @Test("BDAT chunks: 250 per chunk, the message after LAST; DATA after BDAT is refused")
    func chunking() {
        var session = Dialogue()
        _ = session.feed(.connected)
        _ = session.client("EHLO bar.com")
        _ = session.client("MAIL FROM:<>")
        _ = session.client("RCPT TO:<alice@example.com>")
        #expect(session.client("BDAT 100") == "250 2.0.0 100 octets received\r\n")
        #expect(session.client("DATA").hasPrefix("503"))
        #expect(Dialogue.codes(session.client("BDAT 20 LAST")) == [250])
        #expect(session.accepted.count == 1)
        #expect(session.calls.filter { $0.hasPrefix("open") }.count == 1, "one body for the transaction")
        #expect(session.client("BDAT 5").hasPrefix("503 5.5.1"), "a chunk without MAIL is read, then refused")
        #expect(session.calls.last == "ids syntaxError (folded)", "the second protocol error of the session")
    }

    @Test("errors: sequence, syntax, too many; a timeout and a line too long end the session")
    func errors() {
        var policy = SMTPPolicy()
        policy.limits.maxErrors = 3
        var session = Dialogue(policy: policy)
        _ = session.feed(.connected)
        #expect(session.client("MAIL FROM:<a@b.c>").hasPrefix("503 5.5.1 Send HELO"))
        #expect(session.client("FROB").hasPrefix("500 5.5.1"))
        #expect(Dialogue.codes(session.client("RCPT TO:<x@y.z>")) == [503, 421])
        #expect(session.machine.isClosed)

        var idle = Dialogue()
        _ = idle.feed(.connected)
        _ = idle.client("HELO x")
        _ = idle.client("MAIL FROM:<>")
        #expect(idle.feed(.timedOut).hasPrefix("421 4.4.2"))
        #expect(idle.ended?.errorCode == "timeout")

        var long = Dialogue()
        _ = long.feed(.connected)
        #expect(long.feed(.inputError(.lineTooLong)).hasPrefix("500 5.5.6"))
        #expect(long.machine.isClosed)
    }

    @Test("VRFY and EXPN when enabled")
    func verify() {
        var policy = SMTPPolicy()
        policy.vrfyEnabled = true
        policy.vrfyNetworks = IPAccessListValue(lines: ["192.0.2.0/24"])
        var session = Dialogue(policy: policy)
        _ = session.feed(.connected)
        #expect(session.client("VRFY <alice@example.com>") == "250 2.1.5 alice <alice@example.com>\r\n")
        #expect(session.client("EXPN staff") == "250-2.1.5 <alice@example.com>\r\n250 2.1.5 <bob@example.com>\r\n")
        #expect(session.client("EXPN nothing").hasPrefix("550"))
        var closed = Dialogue()
        _ = closed.feed(.connected)
        #expect(closed.client("VRFY alice").hasPrefix("502"))
    }
}
