import SMTPClient
import SMTPWire
import Testing

/// The client's SASL mechanisms against the RFCs' own examples, and SMTP AUTH in a session.
@Suite("SASL client")
struct SASLClientTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("SCRAM-SHA-256: RFC 7677 §3's exchange, the server's signature checked")
    func scram() throws {
        var client = SASLClient(mechanism: .scramSHA256, user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.initialResponse().map(Self.text) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        #expect(Self.text(try client.respond(to: Array(serverFirst.utf8)))
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        #expect(!client.serverVerified)
        #expect(try client.respond(to: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8)) == [])
        #expect(client.serverVerified)
    }

    @Test("SCRAM-SHA-256 refuses a server that does not know the password, a foreign nonce and a huge iteration count")
    func scramRefusals() {
        let serverFirst = "r=abcdefXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        var client = SASLClient(mechanism: .scramSHA256, user: "user", password: "pencil", nonce: "abcdef")
        _ = client.initialResponse()
        #expect(throws: SASLClient.Failure.self) { _ = try client.respond(to: Array("r=zzzz,s=AAAA,i=4096".utf8)) }
        var second = SASLClient(mechanism: .scramSHA256, user: "user", password: "pencil", nonce: "abcdef")
        _ = second.initialResponse()
        #expect(throws: SASLClient.Failure.self) { _ = try second.respond(to: Array("r=abcdefXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999".utf8)) }
        var third = SASLClient(mechanism: .scramSHA256, user: "user", password: "pencil", nonce: "abcdef")
        _ = third.initialResponse()
        _ = try? third.respond(to: Array(serverFirst.utf8))
        #expect(throws: SASLClient.Failure.serverNotVerified) { _ = try third.respond(to: Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8)) }
        #expect(!third.serverVerified)
    }

    @Test("CRAM-MD5: RFC 2195 §2's example")
    func cramMD5() throws {
        var client = SASLClient(mechanism: .cramMD5, user: "tim", password: "tanstaaftanstaaf", nonce: "x")
        #expect(client.initialResponse() == nil)
        let response = try client.respond(to: Array("<1896.697170952@postoffice.reston.mci.net>".utf8))
        #expect(Self.text(response) == "tim b913a602c7eda7a495b4e6e7334d3890")
    }

    @Test("PLAIN sends its initial response; LOGIN answers the name prompt, then the password prompt")
    func plainAndLogin() throws {
        var plain = SASLClient(mechanism: .plain, user: "relay", password: "s3cret", nonce: "x")
        #expect(plain.initialResponse() == [0] + Array("relay".utf8) + [0] + Array("s3cret".utf8))
        var login = SASLClient(mechanism: .login, user: "relay", password: "s3cret", nonce: "x")
        #expect(login.initialResponse() == nil)
        #expect(Self.text(try login.respond(to: Array("Username:".utf8))) == "relay")
        #expect(Self.text(try login.respond(to: Array("Password:".utf8))) == "s3cret")
        #expect(throws: SASLClient.Failure.self) { _ = try login.respond(to: Array("More:".utf8)) }
    }

    @Test("the strongest offered mechanism; PLAIN and LOGIN only where the password may cross")
    func choice() {
        #expect(SASLClient.Mechanism.choose(from: ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"], passwordInClear: true) == .scramSHA256)
        #expect(SASLClient.Mechanism.choose(from: ["login", "plain"], passwordInClear: true) == .plain)
        #expect(SASLClient.Mechanism.choose(from: ["LOGIN", "PLAIN"], passwordInClear: false) == nil)
        #expect(SASLClient.Mechanism.choose(from: ["LOGIN", "CRAM-MD5"], passwordInClear: false) == .cramMD5)
        #expect(SASLClient.Mechanism.choose(from: ["GSSAPI"], passwordInClear: true) == nil)
    }

    // MARK: In a session

    typealias Machine = SMTPClientStateMachine

    static func sent(_ action: Machine.Action) -> String? {
        if case .send(let bytes) = action { return text(bytes) }
        return nil
    }

    static func configuration(clear: Bool = false) -> Machine.Configuration {
        .init(ehloName: "pillarbox.example", useTLS: false,
              authentication: .init(user: "relay", password: "s3cret", nonce: "n0nce", passwordInClear: clear))
    }

    @Test("AUTH LOGIN after EHLO, then ready; the session remembers the mechanism")
    func authLogin() {
        var machine = Machine(configuration: Self.configuration(clear: true))
        _ = machine.received(SMTPClientStateMachineTests.reply("220 relay.example ESMTP\r\n"))
        #expect(Self.sent(machine.received(SMTPClientStateMachineTests.reply("250-relay.example\r\n250 AUTH LOGIN\r\n")))
                == "AUTH LOGIN\r\n")
        #expect(Self.sent(machine.received(SMTPClientStateMachineTests.reply("334 VXNlcm5hbWU6\r\n"))) == "cmVsYXk=\r\n")
        #expect(Self.sent(machine.received(SMTPClientStateMachineTests.reply("334 UGFzc3dvcmQ6\r\n"))) == "czNjcmV0\r\n")
        guard case .ready = machine.received(SMTPClientStateMachineTests.reply("235 2.7.0 Authentication successful\r\n")) else {
            Issue.record("not ready after 235")
            return
        }
        #expect(machine.authenticatedWith == .login)
    }

    @Test("a refused login fails the session with the server's reply")
    func refused() {
        var machine = Machine(configuration: Self.configuration(clear: true))
        _ = machine.received(SMTPClientStateMachineTests.reply("220 relay.example ESMTP\r\n"))
        #expect(Self.sent(machine.received(SMTPClientStateMachineTests.reply("250-relay.example\r\n250 AUTH PLAIN\r\n")))
                == "AUTH PLAIN AHJlbGF5AHMzY3JldA==\r\n")
        let refusal = SMTPClientStateMachineTests.reply("535 5.7.8 Authentication credentials invalid\r\n")
        #expect(machine.received(refusal) == .failed(.authenticationFailed(refusal, detail: nil)))
    }

    @Test("without TLS and without leave to send the password, PLAIN and LOGIN are not used")
    func noClearPassword() {
        var machine = Machine(configuration: Self.configuration())
        _ = machine.received(SMTPClientStateMachineTests.reply("220 relay.example ESMTP\r\n"))
        guard case .failed(.authenticationUnavailable) = machine.received(
            SMTPClientStateMachineTests.reply("250-relay.example\r\n250 AUTH PLAIN LOGIN\r\n")) else {
            Issue.record("expected the login to be unavailable")
            return
        }
    }

    @Test("implicit TLS: no STARTTLS, and PLAIN is allowed at once")
    func implicitTLS() {
        var configuration = Self.configuration()
        configuration.implicitTLS = true
        configuration.useTLS = true
        var machine = Machine(configuration: configuration)
        _ = machine.received(SMTPClientStateMachineTests.reply("220 relay.example ESMTP\r\n"))
        #expect(Self.sent(machine.received(SMTPClientStateMachineTests.reply("250-relay.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")))
                == "AUTH PLAIN AHJlbGF5AHMzY3JldA==\r\n")
    }

    @Test("SCRAM in a session: the server's signature must arrive before 235 is believed")
    func scramSession() {
        var machine = Machine(configuration: Self.configuration())
        _ = machine.received(SMTPClientStateMachineTests.reply("220 relay.example ESMTP\r\n"))
        #expect(Self.sent(machine.received(SMTPClientStateMachineTests.reply("250-relay.example\r\n250 AUTH SCRAM-SHA-256 PLAIN\r\n")))
                == "AUTH SCRAM-SHA-256 biwsbj1yZWxheSxyPW4wbmNl\r\n")
        let success = SMTPClientStateMachineTests.reply("235 2.7.0 ok\r\n")
        guard case .failed(.authenticationFailed) = machine.received(success) else {
            Issue.record("a 235 without the server's proof must not be trusted")
            return
        }
    }
}
