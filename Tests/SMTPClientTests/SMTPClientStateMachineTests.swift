import SMTPClient
import SMTPWire
import Testing

/// Whole client sessions: the server's replies scripted, the client's commands checked.
@Suite("SMTP client state machine")
struct SMTPClientStateMachineTests {
    typealias Action = SMTPClientStateMachine.Action

    static func reply(_ text: String) -> SMTPReply {
        var reader = SMTPReplyReader()
        reader.append(Array(text.utf8))
        return try! reader.next()!
    }

    static func sent(_ action: Action) -> String? {
        if case .send(let bytes) = action { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    static let ehloPipelining = "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 DSN\r\n"
    static let envelope = OutboundEnvelope(
        sender: "alice@example.com",
        recipients: [.init(address: "bob@example.net", notify: ["FAILURE", "DELAY"], originalRecipient: "rfc822;bob@example.net"),
                     .init(address: "nobody@example.net"), .init(address: "carol@example.net")],
        size: 4_096, eightBit: true, returnContent: "HDRS", envelopeID: "id+1")

    /// Greeting and EHLO with the given capabilities; returns the machine ready for a message.
    static func opened(_ ehlo: String, configuration: SMTPClientStateMachine.Configuration = .init(ehloName: "pillarbox.example"))
        -> SMTPClientStateMachine {
        var machine = SMTPClientStateMachine(configuration: configuration)
        #expect(sent(machine.received(reply("220 mx.example.net ESMTP\r\n"))) == "EHLO pillarbox.example\r\n")
        guard case .ready = machine.received(reply(ehlo)) else {
            Issue.record("not ready after EHLO")
            return machine
        }
        return machine
    }

    @Test("pipelined: MAIL, every RCPT and DATA in one group, with SIZE, BODY, RET, ENVID, NOTIFY and ORCPT")
    func pipelined() {
        var machine = Self.opened(Self.ehloPipelining)
        #expect(Self.sent(machine.send(Self.envelope)) == """
            MAIL FROM:<alice@example.com> SIZE=4096 BODY=8BITMIME RET=HDRS ENVID=id+2B1\r
            RCPT TO:<bob@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@example.net\r
            RCPT TO:<nobody@example.net>\r
            RCPT TO:<carol@example.net>\r
            DATA\r

            """)
        #expect(machine.received(Self.reply("250 2.1.0 ok\r\n")) == .wait)
        #expect(machine.received(Self.reply("250 2.1.5 ok\r\n")) == .wait)
        #expect(machine.received(Self.reply("550 5.1.1 no such user\r\n")) == .wait)
        #expect(machine.received(Self.reply("250 2.1.5 ok\r\n")) == .wait)
        #expect(machine.received(Self.reply("354 go ahead\r\n")) == .sendBody)
        #expect(machine.bodySent() == .wait)
        guard case .finished(let result) = machine.received(Self.reply("250 2.0.0 queued as X1\r\n")) else {
            Issue.record("no result")
            return
        }
        #expect(result.replies.map(\.code) == [250, 550, 250])
        #expect(result.replies[1].enhanced == "5.1.1")
        // The next message follows without RSET; then QUIT.
        #expect(Self.sent(machine.send(OutboundEnvelope(sender: "", recipients: [.init(address: "x@example.net")], size: 10)))?
            .hasPrefix("MAIL FROM:<> SIZE=10\r\n") == true)
    }

    @Test("without PIPELINING: one command per reply; all recipients refused ends without DATA, and the next MAIL follows RSET")
    func lockstep() {
        var machine = Self.opened("250 mx.example.net\r\n")
        #expect(Self.sent(machine.send(Self.envelope)) == "MAIL FROM:<alice@example.com>\r\n")
        #expect(Self.sent(machine.received(Self.reply("250 ok\r\n"))) == "RCPT TO:<bob@example.net>\r\n")
        #expect(Self.sent(machine.received(Self.reply("550 no\r\n"))) == "RCPT TO:<nobody@example.net>\r\n")
        #expect(Self.sent(machine.received(Self.reply("550 no\r\n"))) == "RCPT TO:<carol@example.net>\r\n")
        guard case .finished(let result) = machine.received(Self.reply("450 4.2.1 later\r\n")) else {
            Issue.record("expected the transaction to end")
            return
        }
        #expect(result.replies.map(\.code) == [550, 550, 450])
        #expect(Self.sent(machine.send(Self.envelope)) == "RSET\r\nMAIL FROM:<alice@example.com>\r\n")
        #expect(machine.received(Self.reply("250 reset\r\n")) == .wait)
        #expect(Self.sent(machine.received(Self.reply("250 ok\r\n"))) == "RCPT TO:<bob@example.net>\r\n")
    }

    @Test("MAIL refused: every recipient gets its reply, and the pipelined replies are read off")
    func mailRefused() {
        var machine = Self.opened(Self.ehloPipelining)
        _ = machine.send(Self.envelope)
        #expect(machine.received(Self.reply("452 4.3.1 out of space\r\n")) == .wait)
        for _ in 0..<3 { #expect(machine.received(Self.reply("503 5.5.1 no MAIL\r\n")) == .wait) }
        guard case .finished(let result) = machine.received(Self.reply("503 5.5.1 no valid recipients\r\n")) else {
            Issue.record("no result")
            return
        }
        #expect(result.replies.allSatisfy { $0.code == 452 })
    }

    @Test("DATA accepted with no recipient accepted: a lone dot ends it (RFC 2920 §3.1)")
    func dataWithoutRecipients() {
        var machine = Self.opened(Self.ehloPipelining)
        _ = machine.send(OutboundEnvelope(sender: "a@example.com", recipients: [.init(address: "b@example.net")], size: 1))
        _ = machine.received(Self.reply("250 ok\r\n"))
        _ = machine.received(Self.reply("550 no\r\n"))
        #expect(Self.sent(machine.received(Self.reply("354 send it anyway\r\n"))) == ".\r\n")
        guard case .finished(let result) = machine.received(Self.reply("554 no valid recipients\r\n")) else {
            Issue.record("no result")
            return
        }
        #expect(result.replies.map(\.code) == [550])
    }

    @Test("STARTTLS when offered, then EHLO again with what was learnt before forgotten")
    func startTLS() {
        var machine = SMTPClientStateMachine(configuration: .init(ehloName: "pillarbox.example"))
        _ = machine.received(Self.reply("220 mx ESMTP\r\n"))
        #expect(Self.sent(machine.received(Self.reply("250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"))) == "STARTTLS\r\n")
        #expect(machine.received(Self.reply("220 2.0.0 ready\r\n")) == .startTLS)
        #expect(Self.sent(machine.tlsEstablished()) == "EHLO pillarbox.example\r\n")
        guard case .ready(let capabilities) = machine.received(Self.reply("250-mx\r\n250 SIZE 10\r\n")) else {
            Issue.record("not ready")
            return
        }
        #expect(machine.isTLS && !capabilities.pipelining && !capabilities.startTLS)
        // Over TLS the server's limit applies: a larger message is refused without being offered.
        guard case .finished(let result) = machine.send(Self.envelope) else {
            Issue.record("expected a local refusal")
            return
        }
        #expect(result.replies.allSatisfy { $0.code == 552 && $0.enhanced == "5.3.4" })
    }

    @Test("opportunistic TLS: a refused STARTTLS goes on in plain text; required TLS fails")
    func refusedTLS() {
        var machine = SMTPClientStateMachine(configuration: .init(ehloName: "p.example"))
        _ = machine.received(Self.reply("220 mx\r\n"))
        _ = machine.received(Self.reply("250-mx\r\n250 STARTTLS\r\n"))
        guard case .ready = machine.received(Self.reply("454 4.7.0 TLS not available\r\n")) else {
            Issue.record("expected plain text")
            return
        }
        var strict = SMTPClientStateMachine(configuration: .init(ehloName: "p.example", requireTLS: true))
        _ = strict.received(Self.reply("220 mx\r\n"))
        #expect(strict.received(Self.reply("250 mx\r\n")) == .failed(.tlsUnavailable))
    }

    @Test("HELO when EHLO is refused; a refused greeting ends the session")
    func fallbacks() {
        var machine = SMTPClientStateMachine(configuration: .init(ehloName: "p.example"))
        _ = machine.received(Self.reply("220 old\r\n"))
        #expect(Self.sent(machine.received(Self.reply("502 what\r\n"))) == "HELO p.example\r\n")
        guard case .ready(let capabilities) = machine.received(Self.reply("250 hello\r\n")) else {
            Issue.record("not ready")
            return
        }
        #expect(capabilities.keywords.isEmpty)
        var refused = SMTPClientStateMachine(configuration: .init(ehloName: "p.example"))
        #expect(refused.received(Self.reply("554 5.7.1 go away\r\n")) == .failed(.refused(Self.reply("554 5.7.1 go away\r\n"), stage: "the session")))
    }

    @Test("SMTPUTF8 needed and not offered: 5.6.7 for every recipient, nothing sent")
    func smtputf8() {
        var machine = Self.opened("250 mx\r\n")
        var envelope = Self.envelope
        envelope.needsSMTPUTF8 = true
        guard case .finished(let result) = machine.send(envelope) else {
            Issue.record("expected a local refusal")
            return
        }
        #expect(result.replies.count == 3 && result.replies.allSatisfy { $0.enhanced == "5.6.7" })
    }

    @Test("an address that could break the command line is never sent")
    func unsafeAddress() {
        var machine = Self.opened("250 mx\r\n")
        let envelope = OutboundEnvelope(sender: "a@example.com", recipients: [.init(address: "b@example.net>\r\nRSET")], size: 1)
        guard case .finished(let result) = machine.send(envelope) else {
            Issue.record("expected a local refusal")
            return
        }
        #expect(result.replies.first?.enhanced == "5.1.3")
    }

    @Test("replies out of turn are protocol violations; QUIT closes after its reply")
    func endings() {
        var machine = Self.opened("250 mx\r\n")
        guard case .failed(.protocolViolation) = machine.received(Self.reply("250 unasked\r\n")) else {
            Issue.record("expected a violation")
            return
        }
        var polite = Self.opened("250 mx\r\n")
        #expect(Self.sent(polite.quit()) == "QUIT\r\n")
        #expect(polite.received(Self.reply("221 bye\r\n")) == .close)
    }
}
