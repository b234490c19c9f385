import Crypto
import _CryptoExtras
import Facts
import Foundation
@testable import Gateways
@testable import IMAPWire
@testable import POP3Wire
@testable import Projections
@testable import SMTPWire
import Testing
@testable import WireCore

/// SASL exchanges as state machines, checked against the RFCs' own examples.
@Suite("SASL")
struct SASLExchangeTests {
    /// Credentials holding the SCRAM keys for `password` with a fixed salt (RFC 5802 §3).
    static func credentials(password: String, salt: [UInt8], iterations: Int) throws -> Credentials {
        let salted = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256,
                                                       outputByteCount: 32, unsafeUncheckedRounds: iterations)
        let clientKey = HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: salted)
        let storedKey = SHA256.hash(data: Array(clientKey))
        let serverKey = HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: salted)
        let scram = "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$"
            + "\(Data(storedKey).base64EncodedString()):\(Data(serverKey).base64EncodedString())"
        return Credentials(scrypt: "", scram: scram)
    }

    @Test("SCRAM-SHA-256: the exchange of RFC 7677 §3")
    func scramExample() throws {
        let salt = Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
        let credentials = try Self.credentials(password: "pencil", salt: salt, iterations: 4096)
        var exchange = SASLExchange(mechanism: .scramSHA256, hostname: "mx.example", nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        #expect(exchange.start(initial: Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8)) == .needCredentials(user: "user"))
        #expect(exchange.credentials(credentials) == .challenge(Array(
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8)))
        let final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        #expect(exchange.respond(Array(final.utf8)) == .challenge(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8)))
        #expect(exchange.respond([]) == .success(user: "user"))
    }

    @Test("SCRAM-SHA-256: a wrong proof fails, and an unknown user looks the same until the end")
    func scramFailures() throws {
        let salt = Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
        let credentials = try Self.credentials(password: "not pencil", salt: salt, iterations: 4096)
        var exchange = SASLExchange(mechanism: .scramSHA256, hostname: "mx.example", nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        _ = exchange.start(initial: Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        _ = exchange.credentials(credentials)
        let final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        #expect(exchange.respond(Array(final.utf8)) == .failure(.badCredentials))

        var unknown = SASLExchange(mechanism: .scramSHA256, hostname: "mx.example", nonce: "server")
        _ = unknown.start(initial: Array("n,,n=nobody,r=client".utf8))
        guard case .challenge(let first) = unknown.credentials(nil) else {
            Issue.record("no server-first message for an unknown user")
            return
        }
        #expect(String(decoding: first, as: UTF8.self).hasPrefix("r=clientserver,s="))
        let proof = Data(repeating: 1, count: 32).base64EncodedString()
        #expect(unknown.respond(Array("c=biws,r=clientserver,p=\(proof)".utf8)) == .failure(.badCredentials))

        var channelBinding = SASLExchange(mechanism: .scramSHA256, hostname: "mx.example", nonce: "n")
        #expect(channelBinding.start(initial: Array("p=tls-unique,,n=user,r=x".utf8)) == .failure(.malformed))
    }

    @Test("PLAIN: RFC 4616 message forms")
    func plain() {
        var exchange = SASLExchange(mechanism: .plain, hostname: "mx", nonce: "n")
        #expect(exchange.start(initial: Array("\u{0}tim\u{0}tanstaaftanstaaf".utf8)) == .checkPassword(user: "tim", password: "tanstaaftanstaaf"))
        #expect(exchange.passwordChecked(true) == .success(user: "tim"))
        var other = SASLExchange(mechanism: .plain, hostname: "mx", nonce: "n")
        #expect(other.start(initial: Array("Ursel\u{0}Kurt\u{0}xipj3plmq".utf8)) == .failure(.malformed))
        var empty = SASLExchange(mechanism: .plain, hostname: "mx", nonce: "n")
        #expect(empty.start(initial: nil) == .challenge([]))
        #expect(empty.respond(Array("kurt\u{0}kurt\u{0}pw".utf8)) == .checkPassword(user: "kurt", password: "pw"))
        #expect(empty.passwordChecked(false) == .failure(.badCredentials))
    }

    @Test("LOGIN asks for the user name and the password")
    func login() {
        var exchange = SASLExchange(mechanism: .login, hostname: "mx", nonce: "n")
        #expect(exchange.start(initial: nil) == .challenge(Array("Username:".utf8)))
        #expect(exchange.respond(Array("alice".utf8)) == .challenge(Array("Password:".utf8)))
        #expect(exchange.respond(Array("secret".utf8)) == .checkPassword(user: "alice", password: "secret"))
    }

    @Test("CRAM-MD5: the challenge carries the nonce and host; the response is checked against the stored context")
    func cramMD5() throws {
        var exchange = SASLExchange(mechanism: .cramMD5, hostname: "postoffice.reston.mci.net", nonce: "1896.697170952")
        let challenge = Array("<1896.697170952@postoffice.reston.mci.net>".utf8)
        #expect(exchange.start(initial: nil) == .challenge(challenge))
        #expect(exchange.respond(Array("tim b913a602c7eda7a495b4e6e7334d3890".utf8)) == .needCredentials(user: "tim"))
        let credentials = Credentials(scrypt: "", scram: "", cramMD5Context: Credentials.cramContext(Array("tanstaaftanstaaf".utf8)))
        #expect(exchange.credentials(credentials) == .success(user: "tim"))
        var wrong = SASLExchange(mechanism: .cramMD5, hostname: "postoffice.reston.mci.net", nonce: "1896.697170952")
        _ = wrong.start(initial: nil)
        _ = wrong.respond(Array("tim 00000000000000000000000000000000".utf8))
        #expect(wrong.credentials(credentials) == .failure(.badCredentials))
    }
}
