import Crypto
import Facts
import Foundation
import IMAPWire
import SMTPClient

/// One IMAP conversation with an ISP's server over a `RemoteConnection`, with
/// `IMAPClientReader` doing the framing: commands with their own tags, the untagged data each
/// one brings, every read with a deadline and every response with a bound.
/// `@unchecked`: used by the one task that runs the collection.
final class IMAPExchange: CollectedMailbox, @unchecked Sendable {
    let connection: RemoteConnection
    let timeout: Duration
    var reader = IMAPClientReader()
    private var tagNumber = 0
    /// The TLS version once TLS is up.
    private(set) var tls: String?
    /// Capabilities as the server last announced them (upper-cased).
    private(set) var capabilities: Set<String> = []
    /// What SELECT said: UIDVALIDITY and the number of messages.
    private(set) var uidValidity: UInt32?
    private(set) var exists = 0

    /// A command's outcome: its tagged status and text, and the untagged data that came first.
    struct Answer {
        var status: IMAPServerResponse.Status
        var code: String?
        var text: String
        var data: [IMAPServerResponse]

        var isOK: Bool { status == .ok }
    }

    init(connection: RemoteConnection, timeout: Duration) {
        self.connection = connection
        self.timeout = timeout
    }

    /// The next response, at most `limit` bytes, waiting at most `wait` (the exchange's timeout
    /// when nil) for each piece.
    func next(limit: Int? = nil, wait: Duration? = nil) async throws -> IMAPServerResponse {
        let wait = wait ?? timeout
        while true {
            do {
                if let response = try reader.next(limit: limit) { return response }
            } catch {
                throw CollectionFailure(Self.describe(error), tooLarge: error == .responseTooLarge)
            }
            switch await connection.read(timeout: wait) {
            case .bytes(var buffer): reader.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
            case .tlsEstablished: continue
            case .failed(let why): throw CollectionFailure("connection failed: \(why)")
            case .closed: throw CollectionFailure("the server closed the connection")
            case .timedOut: throw CollectionFailure("no answer within \(wait.components.seconds) s", timedOut: true)
            }
        }
    }

    /// RFC 2177 IDLE: waits until the server announces more messages than `exists`, or
    /// `period` passes (RFC 2177 asks clients to end IDLE within 29 minutes), then ends it with
    /// DONE. True when new messages came.
    func idle(period: Duration) async throws -> Bool {
        tagNumber += 1
        let tag = "C\(tagNumber)"
        try await connection.write(Array("\(tag) IDLE\r\n".utf8))
        let started = try await next(limit: 64 << 10)
        guard case .continuation = started else {
            throw CollectionFailure("IDLE: \(Self.summary(started))")
        }
        let deadline = ContinuousClock.now + period
        var count = exists
        waiting: while ContinuousClock.now < deadline {
            do {
                let response = try await next(limit: 64 << 10, wait: deadline - ContinuousClock.now)
                switch response {
                case .data(let values) where values.count == 2 && values[1].keyword == "EXISTS":
                    count = values[0].number ?? count
                    if count > exists { break waiting }
                case .data(let values) where values.count == 2 && values[1].keyword == "EXPUNGE":
                    count -= 1
                case .status(nil, .bye, _, let text):
                    throw CollectionFailure("the server closed the session: \(text)")
                default:
                    continue
                }
            } catch let failure as CollectionFailure where failure.timedOut {
                break waiting
            }
        }
        try await connection.write(Array("DONE\r\n".utf8))
        let done = try await answer(to: tag)
        guard done.isOK else { throw CollectionFailure("IDLE: \(done.status.rawValue) \(done.text)") }
        for case .data(let values) in done.data where values.count == 2 && values[1].keyword == "EXISTS" {
            count = values[0].number ?? count
        }
        let grew = count > exists
        exists = count
        return grew
    }

    static func describe(_ error: IMAPClientReadError) -> String {
        switch error {
        case .responseTooLarge: "the server sent a response larger than allowed"
        case .malformed(let why): "the server's response does not parse (\(why))"
        }
    }

    /// The greeting: OK (or PREAUTH); BYE refuses.
    func greeting() async throws {
        let response = try await next(limit: 64 << 10)
        guard case .status(nil, let status, let code, let text) = response, status == .ok || status == .preauth else {
            throw CollectionFailure("greeting: \(Self.summary(response))")
        }
        noteCapabilities(code)
    }

    /// Sends a command under a new tag and reads up to its tagged answer; `limit` bounds each
    /// response (a FETCH with a message in it).
    func command(_ line: String, limit: Int? = nil, shown: String? = nil) async throws -> Answer {
        tagNumber += 1
        let tag = "C\(tagNumber)"
        try await connection.write(Array("\(tag) \(line)\r\n".utf8))
        return try await answer(to: tag, limit: limit)
    }

    private func answer(to tag: String, limit: Int? = nil) async throws -> Answer {
        var data: [IMAPServerResponse] = []
        while true {
            let response = try await next(limit: limit)
            switch response {
            case .status(let responseTag?, let status, let code, let text):
                guard responseTag == tag else { throw CollectionFailure("the server answered the tag \(responseTag), not \(tag)") }
                noteCapabilities(code)
                return Answer(status: status, code: code, text: text, data: data)
            case .status(nil, .bye, _, let text):
                throw CollectionFailure("the server closed the session: \(text)")
            case .status(nil, _, let code, _):
                noteCapabilities(code)
                data.append(response)
            case .continuation:
                throw CollectionFailure("the server asked for more where no more was due")
            case .data(let values):
                if values.first?.keyword == "CAPABILITY" { capabilities = Set(values.dropFirst().compactMap(\.keyword)) }
                data.append(response)
            }
        }
    }

    private func noteCapabilities(_ code: String?) {
        guard let code, code.uppercased().hasPrefix("CAPABILITY ") else { return }
        capabilities = Set(code.uppercased().split(separator: " ").dropFirst().map(String.init))
    }

    /// `OK`, or the failure naming what was asked.
    @discardableResult
    func expectOK(_ line: String, limit: Int? = nil, shown: String? = nil) async throws -> Answer {
        let answer = try await command(line, limit: limit)
        guard answer.isOK else { throw CollectionFailure("\(shown ?? line): \(answer.status.rawValue) \(answer.text)") }
        return answer
    }

    static func summary(_ response: IMAPServerResponse) -> String {
        switch response {
        case .status(_, let status, _, let text): "\(status.rawValue) \(text)"
        case .continuation(let text): "+ \(text)"
        case .data: "untagged data"
        }
    }

    /// Asks for the capabilities unless the greeting or login gave them.
    func ensureCapabilities() async throws {
        if capabilities.isEmpty { try await expectOK("CAPABILITY") }
    }

    /// Installs TLS and waits for the handshake.
    func startTLS(serverName: String, verification: RemoteConnection.Verification) async throws {
        tls = try await connection.collectorTLS(serverName: serverName, verification: verification, timeout: timeout)
        // RFC 9051 §6.2.1: capabilities learnt before TLS are forgotten.
        capabilities = []
    }

    /// RFC 9051 §4.3 quoted string; nil for text a quoted string cannot carry.
    static func quoted(_ text: String) -> String? {
        guard !text.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else { return nil }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    func logIn(user: String, password: String, method: MailCollector.Authentication) async throws {
        switch method {
        case .plain, .apop:
            try await ensureCapabilities()
            if capabilities.contains("LOGINDISABLED") { throw CollectionFailure("the server refuses LOGIN here (LOGINDISABLED); the password was not sent") }
            guard let quotedUser = Self.quoted(user), let quotedPassword = Self.quoted(password),
                  user.utf8.allSatisfy({ $0 < 0x80 }), password.utf8.allSatisfy({ $0 < 0x80 }) else {
                throw CollectionFailure("LOGIN takes only ASCII without line ends; use --auth sasl-plain")
            }
            try await expectOK("LOGIN \(quotedUser) \(quotedPassword)", shown: "LOGIN")
        case .cramMD5, .saslPlain:
            // RFC 9051 §6.2.2: AUTHENTICATE, challenges as `+ base64`, answers base64 on a line;
            // SASL-IR (RFC 4959) sends PLAIN's response with the command.
            try await ensureCapabilities()
            let mechanism: SASLClient.Mechanism = method == .cramMD5 ? .cramMD5 : .plain
            var client = SASLClient(mechanism: mechanism, user: user, password: password, nonce: "")
            tagNumber += 1
            let tag = "C\(tagNumber)"
            if let initial = client.initialResponse(), capabilities.contains("SASL-IR") {
                try await connection.write(Array("\(tag) AUTHENTICATE \(mechanism.rawValue) \(initial.isEmpty ? "=" : Data(initial).base64EncodedString())\r\n".utf8))
            } else {
                try await connection.write(Array("\(tag) AUTHENTICATE \(mechanism.rawValue)\r\n".utf8))
            }
            var rounds = 0
            while true {
                let response = try await next(limit: 64 << 10)
                switch response {
                case .continuation(let text):
                    rounds += 1
                    guard rounds <= 5, let challenge = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)) else {
                        try await connection.write(Array("*\r\n".utf8))
                        _ = try? await answer(to: tag)
                        throw CollectionFailure("AUTHENTICATE \(mechanism.rawValue): the server's challenge is not base64")
                    }
                    let reply: [UInt8]
                    if challenge.isEmpty, let initial = client.initialResponse() {
                        reply = initial
                    } else {
                        do { reply = try client.respond(to: Array(challenge)) } catch {
                            try await connection.write(Array("*\r\n".utf8))
                            _ = try? await answer(to: tag)
                            throw CollectionFailure("AUTHENTICATE \(mechanism.rawValue): \(error)")
                        }
                    }
                    try await connection.write(Array((Data(reply).base64EncodedString() + "\r\n").utf8))
                case .status(tag, let status, let code, let text):
                    noteCapabilities(code)
                    guard status == .ok else { throw CollectionFailure("AUTHENTICATE \(mechanism.rawValue): \(status.rawValue) \(text)") }
                    return
                case .status(nil, .bye, _, let text):
                    throw CollectionFailure("the server closed the session: \(text)")
                default:
                    continue
                }
            }
        }
    }

    /// SELECT: UIDVALIDITY and EXISTS.
    func select(_ folder: String) async throws {
        guard let name = Self.quoted(folder) else { throw CollectionFailure("the folder \(folder) cannot be named to the server") }
        let answer = try await expectOK("SELECT \(name)", shown: "SELECT \(folder)")
        for response in answer.data {
            switch response {
            case .status(nil, .ok, let code?, _):
                let words = code.split(separator: " ")
                if words.first?.uppercased() == "UIDVALIDITY", words.count == 2, let value = UInt32(words[1]) { uidValidity = value }
            case .data(let values) where values.count == 2 && values[1].keyword == "EXISTS":
                exists = values[0].number ?? exists
            default:
                break
            }
        }
        guard uidValidity != nil else { throw CollectionFailure("SELECT \(folder): the server gave no UIDVALIDITY (RFC 9051 requires it)") }
    }

    /// Every message's UID, size and whether it is flagged `\Deleted`.
    func listing() async throws -> [(uid: Int, size: Int, deleted: Bool)] {
        guard exists > 0 else { return [] }
        let answer = try await expectOK("UID FETCH 1:* (UID RFC822.SIZE FLAGS)", limit: 64 << 10)
        var entries: [(uid: Int, size: Int, deleted: Bool)] = []
        var seen = Set<Int>()
        for response in answer.data {
            guard let fetch = response.fetch, let uid = fetch.attributes["UID"]?.number, uid > 0,
                  let size = fetch.attributes["RFC822.SIZE"]?.number, size >= 0 else { continue }
            guard seen.insert(uid).inserted else { throw CollectionFailure("the server listed UID \(uid) twice") }
            var deleted = false
            if case .list(let flags)? = fetch.attributes["FLAGS"] { deleted = flags.contains { $0.keyword == "\\DELETED" } }
            entries.append((uid, size, deleted))
        }
        return entries.sorted { $0.uid < $1.uid }
    }

    /// A message's section by UID, without setting `\Seen`.
    private func section(_ uid: Int, _ section: String, limit: Int) async throws -> [UInt8]? {
        let answer = try await command("UID FETCH \(uid) (UID BODY.PEEK[\(section)])", limit: limit)
        guard answer.isOK else { throw CollectionFailure("UID FETCH \(uid): \(answer.status.rawValue) \(answer.text)") }
        for response in answer.data {
            guard let fetch = response.fetch, fetch.attributes["UID"]?.number == uid else { continue }
            for (name, value) in fetch.attributes where name.hasPrefix("BODY[") { return value.bytes ?? [] }
        }
        return nil
    }

    func header(of key: Int) async throws -> [UInt8] {
        try await section(key, "HEADER", limit: 256 << 10) ?? []
    }

    func message(_ key: Int, limit: Int) async throws -> [UInt8] {
        guard let message = try await section(key, "", limit: limit) else {
            throw CollectionFailure("UID FETCH \(key): the server sent no message (expunged meanwhile?)")
        }
        return message
    }

    /// Flags it `\Deleted`; `expunge` removes it.
    func delete(_ key: Int) async throws -> Bool {
        try await command("UID STORE \(key) +FLAGS.SILENT (\\Deleted)").isOK
    }

    func markSeen(_ keys: [Int]) async throws {
        for chunk in stride(from: 0, to: keys.count, by: 200) {
            let set = keys[chunk..<min(chunk + 200, keys.count)].map(String.init).joined(separator: ",")
            try await expectOK("UID STORE \(set) +FLAGS.SILENT (\\Seen)", shown: "UID STORE \\Seen")
        }
    }

    /// Removes the messages flagged `\Deleted`: only those named with UIDPLUS (RFC 4315), all of
    /// them otherwise (a message someone else flagged goes too, as their client would do).
    func expunge(_ keys: [Int]) async throws {
        guard !keys.isEmpty else { return }
        if capabilities.contains("UIDPLUS") {
            for chunk in stride(from: 0, to: keys.count, by: 200) {
                let set = keys[chunk..<min(chunk + 200, keys.count)].map(String.init).joined(separator: ",")
                try await expectOK("UID EXPUNGE \(set)", shown: "UID EXPUNGE")
            }
        } else {
            try await expectOK("EXPUNGE")
        }
    }

    func close() async {
        await connection.close()
    }
}
