import Crypto
import Facts
import Foundation
import POP3Wire
import SMTPClient

/// A mailbox at an ISP as the collection loop uses it, whatever its protocol: `key` is
/// POP3's message number or IMAP's UID.
protocol CollectedMailbox: AnyObject {
    /// The message's header section; empty when the server gives none.
    func header(of key: Int) async throws -> [UInt8]
    /// The whole message, at most `limit` bytes (a `tooLarge` failure beyond).
    func message(_ key: Int, limit: Int) async throws -> [UInt8]
    /// Marks the message for deletion, carried out when the session ends; false when refused.
    func delete(_ key: Int) async throws -> Bool
}

extension RemoteConnection {
    /// A collector's TLS: installed, then the handshake awaited; its version, or the failure
    /// as a run's result says it.
    func collectorTLS(serverName: String, verification: Verification, timeout: Duration) async throws -> String {
        do {
            try await startTLS(serverName: serverName, verification: verification)
        } catch {
            throw CollectionFailure("TLS could not start: \(error)")
        }
        while true {
            switch await read(timeout: timeout) {
            case .tlsEstablished: return await tlsVersion() ?? "TLS"
            case .bytes: throw CollectionFailure("the server sent data in the clear during the TLS handshake")
            case .failed(let why): throw CollectionFailure("TLS failed: \(why)")
            case .closed: throw CollectionFailure("the server closed the connection during the TLS handshake")
            case .timedOut: throw CollectionFailure("the TLS handshake did not finish within \(timeout.components.seconds) s")
            }
        }
    }
}

/// Why a collection ended early, as its run's result says it.
struct CollectionFailure: Error, CustomStringConvertible {
    let description: String
    /// A response larger than its bound (a message larger than the server said).
    var tooLarge = false
    /// Nothing came within the time allowed.
    var timedOut = false
    init(_ description: String, tooLarge: Bool = false, timedOut: Bool = false) {
        self.description = description
        self.tooLarge = tooLarge
        self.timedOut = timedOut
    }
}

/// One POP3 conversation with an ISP's server, command by command over a `RemoteConnection`
/// with `POP3ClientReader` doing the framing. Every read has a deadline; every response a bound.
/// `@unchecked`: used by the one task that runs the collection.
final class POP3Exchange: CollectedMailbox, @unchecked Sendable {
    let connection: RemoteConnection
    let timeout: Duration
    var reader = POP3ClientReader()
    /// The TLS version once TLS is up.
    private(set) var tls: String?

    init(connection: RemoteConnection, timeout: Duration) {
        self.connection = connection
        self.timeout = timeout
    }

    /// Reads until `parse` has what it needs from the buffered bytes.
    private func read<T>(_ parse: (inout POP3ClientReader) throws(POP3ClientReadError) -> T?) async throws -> T {
        while true {
            do {
                if let value = try parse(&reader) { return value }
            } catch {
                throw CollectionFailure(Self.describe(error), tooLarge: error == .responseTooLarge)
            }
            switch await connection.read(timeout: timeout) {
            case .bytes(var buffer): reader.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
            case .tlsEstablished: continue
            case .failed(let why): throw CollectionFailure("connection failed: \(why)")
            case .closed: throw CollectionFailure("the server closed the connection")
            case .timedOut: throw CollectionFailure("no answer within \(timeout.components.seconds) s")
            }
        }
    }

    static func describe(_ error: POP3ClientReadError) -> String {
        switch error {
        case .lineTooLong: "the server sent a line longer than allowed"
        case .responseTooLarge: "the server sent a response larger than allowed"
        case .malformedStatus(let line): "the server's answer is not +OK or -ERR: \(line)"
        case .malformedListing(let line): "the server's listing is malformed: \(line)"
        }
    }

    func status() async throws -> POP3ServerStatus {
        try await read { (reader: inout POP3ClientReader) throws(POP3ClientReadError) in try reader.status() }
    }

    /// Sends `line` and reads its status.
    func command(_ line: String) async throws -> POP3ServerStatus {
        try await connection.write(Array((line + "\r\n").utf8))
        return try await status()
    }

    /// Sends `line`; on +OK, reads its multi-line body (at most `limit` bytes).
    func multiline(_ line: String, limit: Int) async throws -> (POP3ServerStatus, [UInt8]) {
        let answer = try await command(line)
        guard answer.isOK else { return (answer, []) }
        let body = try await read { (reader: inout POP3ClientReader) throws(POP3ClientReadError) in try reader.multiline(limit: limit) }
        return (answer, body)
    }

    /// A message's header section (`TOP n 0`, RFC 1939 §7), at most 256 KiB; empty when the
    /// server refuses TOP.
    func header(of key: Int) async throws -> [UInt8] {
        let (answer, header) = try await multiline("TOP \(key) 0", limit: 256 << 10)
        return answer.isOK ? header : []
    }

    func message(_ key: Int, limit: Int) async throws -> [UInt8] {
        let (answer, message) = try await multiline("RETR \(key)", limit: limit)
        guard answer.isOK else { throw CollectionFailure("RETR \(key): \(answer.text)") }
        return message
    }

    func delete(_ key: Int) async throws -> Bool {
        try await command("DELE \(key)").isOK
    }

    /// `OK` or the failure, naming what was asked.
    @discardableResult
    func expectOK(_ line: String, shown: String? = nil) async throws -> String {
        let answer = try await command(line)
        guard case .ok(let text) = answer else { throw CollectionFailure("\(shown ?? line): \(answer.text)") }
        return text
    }

    /// Installs TLS and waits for the handshake.
    func startTLS(serverName: String, verification: RemoteConnection.Verification) async throws {
        tls = try await connection.collectorTLS(serverName: serverName, verification: verification, timeout: timeout)
    }

    /// Logs in as `user` by `method`; `greeting` is the server's greeting (APOP's timestamp).
    func logIn(user: String, password: String, method: MailCollector.Authentication, greeting: String) async throws {
        switch method {
        case .plain:
            try await expectOK("USER \(user)", shown: "USER")
            try await expectOK("PASS \(password)", shown: "PASS")
        case .apop:
            // RFC 1939 §7: the timestamp is the greeting's `<...>`, the digest MD5(timestamp password).
            guard let open = greeting.firstIndex(of: "<"), let close = greeting[open...].firstIndex(of: ">") else {
                throw CollectionFailure("APOP: the server's greeting has no timestamp")
            }
            let timestamp = greeting[open...close]
            let digest = Insecure.MD5.hash(data: Data((timestamp + password).utf8)).map { String(format: "%02x", $0) }.joined()
            try await expectOK("APOP \(user) \(digest)", shown: "APOP")
        case .cramMD5, .saslPlain:
            // RFC 5034: AUTH with the mechanism, challenges as `+ base64`, the answer base64 on a line.
            let mechanism: SASLClient.Mechanism = method == .cramMD5 ? .cramMD5 : .plain
            var client = SASLClient(mechanism: mechanism, user: user, password: password, nonce: "")
            var answer: POP3ServerStatus
            if let initial = client.initialResponse() {
                answer = try await command("AUTH \(mechanism.rawValue) \(initial.isEmpty ? "=" : Data(initial).base64EncodedString())")
            } else {
                answer = try await command("AUTH \(mechanism.rawValue)")
            }
            var rounds = 0
            while case .continuation(let text) = answer {
                rounds += 1
                guard rounds <= 5, let challenge = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)) else {
                    _ = try? await command("*")
                    throw CollectionFailure("AUTH \(mechanism.rawValue): the server's challenge is not base64")
                }
                let response: [UInt8]
                do { response = try client.respond(to: Array(challenge)) } catch {
                    _ = try? await command("*")
                    throw CollectionFailure("AUTH \(mechanism.rawValue): \(error)")
                }
                answer = try await command(Data(response).base64EncodedString())
            }
            guard answer.isOK else { throw CollectionFailure("AUTH \(mechanism.rawValue): \(answer.text)") }
        }
    }

    func close() async {
        await connection.close()
    }
}
