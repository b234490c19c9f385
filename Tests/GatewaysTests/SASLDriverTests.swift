import Facts
@testable import Gateways
import Testing
import WireCore

/// The SASL driver over a scripted client: what it sends, what it looks up and how each
/// exchange ends, with no socket and no database.
@Suite("SASL driver")
struct SASLDriverTests {
    /// A client that answers each challenge with the next line of `lines` (nil: the connection ends).
    final class ScriptedClient: @unchecked Sendable {
        var lines: [String?]
        var challenges: [String] = []
        var passwordChecks: [String] = []

        init(_ lines: [String?]) { self.lines = lines }

        var channel: SASLDriver.Channel {
            SASLDriver.Channel(
                challenge: { bytes in
                    self.challenges.append(String(decoding: bytes, as: UTF8.self))
                    guard !self.lines.isEmpty, let line = self.lines.removeFirst() else { return nil }
                    return ArraySlice(line.utf8)
                },
                checkPassword: { user, password in
                    self.passwordChecks.append(user)
                    return user == "alice" && password == "secret"
                },
                credentials: { _, _ in nil })
        }
    }

    static func base64(_ text: String) -> String { Base64.encode(Array(text.utf8)) }

    @Test("PLAIN with an initial response, and after an empty challenge")
    func plain() async {
        let initial = Array("\u{0}alice\u{0}secret".utf8)
        let direct = ScriptedClient([])
        #expect(await SASLDriver.run(.plain, hostname: "mx", nonce: "n", initial: initial, over: direct.channel) == .succeeded(user: "alice"))
        #expect(direct.challenges.isEmpty)

        let asked = ScriptedClient([Self.base64("\u{0}alice\u{0}wrong")])
        #expect(await SASLDriver.run(.plain, hostname: "mx", nonce: "n", initial: nil, over: asked.channel) == .failed(.badCredentials))
        #expect(asked.challenges == [""])
        #expect(asked.passwordChecks == ["alice"])
    }

    @Test("LOGIN asks for the user name and the password")
    func login() async {
        let client = ScriptedClient([Self.base64("alice"), Self.base64("secret")])
        #expect(await SASLDriver.run(.login, hostname: "mx", nonce: "n", initial: nil, over: client.channel) == .succeeded(user: "alice"))
        #expect(client.challenges == ["Username:", "Password:"])
    }

    @Test("`*` cancels, a line that is not base64 is malformed, a lost connection ends it")
    func endings() async {
        let cancelled = ScriptedClient(["*"])
        #expect(await SASLDriver.run(.login, hostname: "mx", nonce: "n", initial: nil, over: cancelled.channel) == .failed(.cancelled))
        let garbled = ScriptedClient(["not base64!"])
        #expect(await SASLDriver.run(.login, hostname: "mx", nonce: "n", initial: nil, over: garbled.channel) == .malformedLine)
        let gone = ScriptedClient([nil])
        #expect(await SASLDriver.run(.login, hostname: "mx", nonce: "n", initial: nil, over: gone.channel) == .connectionEnded)
        #expect(gone.passwordChecks.isEmpty)
    }

    @Test("CRAM-MD5 challenges with the nonce and host name, and fails without credentials")
    func cramMD5() async {
        let client = ScriptedClient([Self.base64("alice 0123456789abcdef0123456789abcdef")])
        #expect(await SASLDriver.run(.cramMD5, hostname: "mx.example", nonce: "1234.5678", initial: nil, over: client.channel)
                == .failed(.badCredentials))
        #expect(client.challenges == ["<1234.5678@mx.example>"])
    }
}

/// Drives the SASL machine over a scripted channel, as a protocol's session would.
extension SASLDriver {
    /// What the scripted client answers.
    struct Channel {
        /// Sends the challenge and returns the client's next line, or nil when there is none.
        var challenge: ([UInt8]) async -> ArraySlice<UInt8>?
        var checkPassword: (_ user: String, _ password: String) async -> Bool
        var credentials: (_ user: String, _ mechanism: SASLMechanism) async -> Credentials?
    }

    /// Runs an exchange to its end over `channel`.
    static func run(_ mechanism: SASLMechanism, hostname: String, nonce: String, initial: [UInt8]?,
                    over channel: Channel) async -> Outcome {
        var driver = SASLDriver(mechanism, hostname: hostname, nonce: nonce)
        var step = driver.start(initial: initial)
        while true {
            switch step {
            case .challenge(let bytes):
                guard let line = await channel.challenge(bytes) else { return .connectionEnded }
                step = driver.received(line)
            case .checkPassword(let user, let password):
                step = driver.passwordChecked(await channel.checkPassword(user, password))
            case .lookUpCredentials(let user, let mechanism):
                step = driver.credentials(await channel.credentials(user, mechanism))
            case .finished(let outcome):
                return outcome
            }
        }
    }
}
