import SMTPWire
import WireCore

/// The SMTP client's side of a session (RFC 5321 §3 and §4.1), as a pure state machine: replies
/// and events in, actions out. It greets with EHLO (HELO when EHLO is refused), upgrades with
/// STARTTLS whenever the server offers it, and runs one transaction per message: MAIL, RCPT for
/// each recipient and DATA, pipelined in one group when the server offers PIPELINING (RFC
/// 2920), with SIZE, BODY=8BITMIME, SMTPUTF8 and the DSN parameters where the server supports
/// them. It does no I/O and keeps no clock; `timeout` says how long the glue should wait.
public struct SMTPClientStateMachine: Sendable {
    public struct Configuration: Sendable {
        /// The name given with EHLO and HELO.
        public var ehloName: String
        /// Upgrade with STARTTLS when the server offers it.
        public var useTLS: Bool
        /// Fail the session unless it runs over TLS (a policy such as MTA-STS demands it).
        public var requireTLS: Bool
        /// The connection is TLS from its first byte (RFC 8314 implicit TLS): no STARTTLS.
        public var implicitTLS: Bool
        /// Log in with SMTP AUTH (RFC 4954) before the first message; nil sends without.
        public var authentication: Authentication?

        public init(ehloName: String, useTLS: Bool = true, requireTLS: Bool = false, implicitTLS: Bool = false,
                    authentication: Authentication? = nil) {
            self.ehloName = ehloName
            self.useTLS = useTLS
            self.requireTLS = requireTLS
            self.implicitTLS = implicitTLS
            self.authentication = authentication
        }
    }

    /// A relay account: who to log in as, and whether the password may cross a connection
    /// without TLS (PLAIN and LOGIN; SCRAM and CRAM-MD5 never send it).
    public struct Authentication: Sendable {
        public var user: String
        public var password: String
        /// Fresh random text for SCRAM's client nonce.
        public var nonce: String
        public var passwordInClear: Bool

        public init(user: String, password: String, nonce: String, passwordInClear: Bool = false) {
            self.user = user
            self.password = password
            self.nonce = nonce
            self.passwordInClear = passwordInClear
        }
    }

    public enum Action: Sendable, Equatable {
        /// Write these bytes (one or more command lines).
        case send([UInt8])
        /// The server agreed to STARTTLS: shake hands now, then call `tlsEstablished()` or `tlsFailed(_:)`.
        case startTLS
        /// Write the message body, dot-stuffed and ended with CRLF.CRLF, then call `bodySent()`.
        case sendBody
        /// The session is open: call `send(_:)` with a message or `quit()`.
        case ready(SMTPServerCapabilities)
        /// A transaction ended; the session is ready for the next message (or `quit()`).
        case finished(TransactionResult)
        /// The session cannot go on: send QUIT if the connection still stands, then close it.
        case failed(SessionFailure)
        /// The session is over: close the connection.
        case close
        /// Wait for the next reply.
        case wait
    }

    enum Expected: Equatable {
        case reset, mail, recipient(Int), data, dataAbort, endOfData
    }

    struct Transaction {
        var envelope: OutboundEnvelope
        var expected: [Expected]
        var mailReply: SMTPReply?
        var recipientReplies: [SMTPReply?]
        var accepted: [Int] { recipientReplies.indices.filter { recipientReplies[$0]?.isPositive == true } }
    }

    enum State {
        case greeting
        case hello(usedHELO: Bool)
        case startingTLS
        case handshaking
        case authenticating(SASLClient)
        case ready
        case transaction(Transaction)
        case sendingBody(Transaction)
        case quitting
        case closed
    }

    public let configuration: Configuration
    private var state = State.greeting
    private var capabilities = SMTPServerCapabilities(ehloReply: SMTPReply(250, nil, ""))
    private(set) public var isTLS = false
    /// The SASL mechanism the session logged in with, once it has.
    private(set) public var authenticatedWith: SASLClient.Mechanism?
    /// Set after a transaction that did not reach the end of its data: the next MAIL goes after RSET.
    private var needsReset = false

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.isTLS = configuration.implicitTLS
    }

    /// How long the glue should wait for what comes next (RFC 5321 §4.5.3.2).
    public var timeout: Duration {
        switch state {
        case .greeting: SMTPClientTimeouts.greeting
        case .transaction(let transaction):
            switch transaction.expected.first {
            case .mail: SMTPClientTimeouts.mail
            case .recipient: SMTPClientTimeouts.recipient
            case .data: SMTPClientTimeouts.dataInitiation
            case .endOfData, .dataAbort: SMTPClientTimeouts.dataTermination
            case .reset, nil: SMTPClientTimeouts.command
            }
        case .sendingBody: SMTPClientTimeouts.dataBlock
        case .hello, .startingTLS, .handshaking, .authenticating, .ready, .quitting, .closed: SMTPClientTimeouts.command
        }
    }

    // MARK: Events

    /// A whole reply from the server.
    public mutating func received(_ reply: SMTPReply) -> Action {
        switch state {
        case .greeting:
            // RFC 5321 §4.2: 220 opens the session; 554 (or anything else) refuses it.
            guard reply.code == 220 else { return fail(.refused(reply, stage: "the session")) }
            state = .hello(usedHELO: false)
            return .send(line("EHLO \(configuration.ehloName)"))
        case .hello(let usedHELO):
            guard reply.code == 250 else {
                // RFC 5321 §3.2: a server that does not know EHLO is greeted with HELO.
                if !usedHELO && reply.code >= 500 {
                    state = .hello(usedHELO: true)
                    return .send(line("HELO \(configuration.ehloName)"))
                }
                return fail(.refused(reply, stage: usedHELO ? "HELO" : "EHLO"))
            }
            capabilities = usedHELO ? SMTPServerCapabilities(ehloReply: SMTPReply(250, nil, "")) : SMTPServerCapabilities(ehloReply: reply)
            if !isTLS && configuration.useTLS && capabilities.startTLS {
                state = .startingTLS
                return .send(line("STARTTLS"))
            }
            if !isTLS && configuration.requireTLS { return fail(.tlsUnavailable) }
            return logInOrReady()
        case .startingTLS:
            guard reply.code == 220 else {
                // Opportunistic TLS: a refused STARTTLS leaves the session in plain text.
                if configuration.requireTLS { return fail(.refused(reply, stage: "STARTTLS")) }
                return logInOrReady()
            }
            state = .handshaking
            return .startTLS
        case .authenticating(var client):
            return receivedInAuthentication(reply, &client)
        case .transaction(var transaction):
            return receivedInTransaction(reply, &transaction)
        case .quitting:
            state = .closed
            return .close
        case .handshaking, .ready, .sendingBody, .closed:
            return fail(.protocolViolation("a reply nothing asked for: \(reply)"))
        }
    }

    // MARK: Authentication (RFC 4954)

    /// After the last EHLO: AUTH when an account is configured, else ready.
    private mutating func logInOrReady() -> Action {
        guard let account = configuration.authentication else {
            state = .ready
            return .ready(capabilities)
        }
        let offered = capabilities.authMechanisms
        guard let mechanism = SASLClient.Mechanism.choose(from: offered, passwordInClear: isTLS || account.passwordInClear) else {
            let detail = offered.isEmpty ? "the server offers no AUTH"
                : "none of the server's AUTH mechanisms (\(offered.joined(separator: " "))) can be used\(isTLS ? "" : " without TLS")"
            return fail(.authenticationUnavailable(detail))
        }
        var client = SASLClient(mechanism: mechanism, user: account.user, password: account.password, nonce: account.nonce)
        var command = "AUTH \(mechanism.rawValue)"
        // RFC 4954 §4: an empty initial response is sent as "=".
        if let initial = client.initialResponse() { command += " " + (initial.isEmpty ? "=" : Base64.encode(initial)) }
        state = .authenticating(client)
        return .send(line(command))
    }

    private mutating func receivedInAuthentication(_ reply: SMTPReply, _ client: inout SASLClient) -> Action {
        switch reply.code {
        case 235:
            // RFC 5802 §5: the client checks the server's signature before trusting the session.
            if client.mechanism == .scramSHA256 && !client.serverVerified {
                return fail(.authenticationFailed(reply, detail: SASLClient.Failure.serverNotVerified.description))
            }
            authenticatedWith = client.mechanism
            state = .ready
            return .ready(capabilities)
        case 334:
            let text = (reply.enhanced.map { $0 + " " } ?? "") + (reply.lines.first ?? "")
            guard let challenge = Base64.decode(Array(text.utf8.filter { $0 != 0x20 })) else {
                state = .closed
                return .failed(.protocolViolation("an AUTH challenge that is not base64"))
            }
            do {
                let response = try client.respond(to: challenge)
                state = .authenticating(client)
                return .send(line(Base64.encode(response)))
            } catch {
                // RFC 4954 §4: "*" cancels the exchange; the session is not used after it.
                state = .closed
                return .failed(.authenticationFailed(reply, detail: error.description))
            }
        default:
            return fail(.authenticationFailed(reply, detail: nil))
        }
    }

    /// The TLS handshake after STARTTLS succeeded: RFC 3207 §4.2, everything known before it
    /// is forgotten and the session starts again with EHLO.
    public mutating func tlsEstablished() -> Action {
        guard case .handshaking = state else { return fail(.protocolViolation("TLS established out of turn")) }
        isTLS = true
        capabilities = SMTPServerCapabilities(ehloReply: SMTPReply(250, nil, ""))
        state = .hello(usedHELO: false)
        return .send(line("EHLO \(configuration.ehloName)"))
    }

    public mutating func tlsFailed(_ reason: String) -> Action {
        state = .closed
        return .failed(.tlsFailed(reason))
    }

    /// Starts a transaction for `envelope`. A message the server cannot take as it stands
    /// (SMTPUTF8 or size) ends at once with a permanent failure for every recipient.
    public mutating func send(_ envelope: OutboundEnvelope) -> Action {
        guard case .ready = state else { return fail(.protocolViolation("a message handed over while the session was busy")) }
        if let refusal = localRefusal(envelope) {
            return .finished(TransactionResult(replies: Array(repeating: refusal, count: envelope.recipients.count)))
        }
        var transaction = Transaction(envelope: envelope, expected: [], mailReply: nil,
                                      recipientReplies: Array(repeating: nil, count: envelope.recipients.count))
        var output: [UInt8] = []
        if needsReset {
            output += line("RSET")
            transaction.expected.append(.reset)
            needsReset = false
        }
        output += mailCommand(envelope)
        transaction.expected.append(.mail)
        if capabilities.pipelining {
            // RFC 2920 §3.1: MAIL, every RCPT and DATA in one group; replies come back in order.
            for index in envelope.recipients.indices {
                output += recipientCommand(envelope.recipients[index])
                transaction.expected.append(.recipient(index))
            }
            output += line("DATA")
            transaction.expected.append(.data)
        }
        state = .transaction(transaction)
        return .send(output)
    }

    /// The body has been written, up to and including the final CRLF.CRLF.
    public mutating func bodySent() -> Action {
        guard case .sendingBody(var transaction) = state else { return fail(.protocolViolation("a body sent out of turn")) }
        transaction.expected = [.endOfData]
        state = .transaction(transaction)
        return .wait
    }

    /// Ends the session politely (RFC 5321 §4.1.1.10).
    public mutating func quit() -> Action {
        switch state {
        case .closed, .quitting: return .wait
        default:
            state = .quitting
            return .send(line("QUIT"))
        }
    }

    // MARK: Transactions

    private mutating func receivedInTransaction(_ reply: SMTPReply, _ transaction: inout Transaction) -> Action {
        guard let expected = transaction.expected.first else { return fail(.protocolViolation("a reply nothing asked for: \(reply)")) }
        transaction.expected.removeFirst()
        let pipelined = capabilities.pipelining
        switch expected {
        case .reset:
            guard reply.code == 250 else { return fail(.refused(reply, stage: "RSET")) }
            state = .transaction(transaction)
            return .wait
        case .mail:
            transaction.mailReply = reply
            if !reply.isPositive && !pipelined {
                return finish(transaction, reached: false)
            }
            if !pipelined {
                transaction.expected = [.recipient(0)]
                state = .transaction(transaction)
                return .send(recipientCommand(transaction.envelope.recipients[0]))
            }
            state = .transaction(transaction)
            return .wait
        case .recipient(let index):
            transaction.recipientReplies[index] = reply
            if pipelined {
                state = .transaction(transaction)
                return .wait
            }
            if index + 1 < transaction.envelope.recipients.count {
                transaction.expected = [.recipient(index + 1)]
                state = .transaction(transaction)
                return .send(recipientCommand(transaction.envelope.recipients[index + 1]))
            }
            guard !transaction.accepted.isEmpty else { return finish(transaction, reached: false) }
            transaction.expected = [.data]
            state = .transaction(transaction)
            return .send(line("DATA"))
        case .data:
            let mailAccepted = transaction.mailReply?.isPositive == true
            if reply.code == 354 {
                guard mailAccepted, !transaction.accepted.isEmpty else {
                    // RFC 2920 §3.1: DATA accepted with no recipient accepted: end it at once
                    // with a lone dot, and read (and ignore) the reply to that.
                    transaction.expected = [.dataAbort]
                    state = .transaction(transaction)
                    return .send(Array(".\r\n".utf8))
                }
                state = .sendingBody(transaction)
                return .sendBody
            }
            // DATA refused: every accepted recipient gets that reply.
            for index in transaction.accepted { transaction.recipientReplies[index] = reply }
            return finish(transaction, reached: false)
        case .dataAbort:
            return finish(transaction, reached: true)
        case .endOfData:
            for index in transaction.accepted { transaction.recipientReplies[index] = reply }
            return finish(transaction, reached: true)
        }
    }

    /// Every recipient's reply: its own refusal, else MAIL's refusal, else the data's outcome.
    private mutating func finish(_ transaction: Transaction, reached endOfData: Bool) -> Action {
        needsReset = !endOfData
        state = .ready
        let mailRefusal = transaction.mailReply.flatMap { $0.isPositive ? nil : $0 }
        let replies = transaction.recipientReplies.map { reply -> SMTPReply in
            if let mailRefusal { return mailRefusal }
            return reply ?? SMTPReply(451, "4.4.0", "no reply for this recipient")
        }
        return .finished(TransactionResult(replies: replies))
    }

    private func localRefusal(_ envelope: OutboundEnvelope) -> SMTPReply? {
        // RFC 6531 §3.5: a message that needs SMTPUTF8 is not sent to a server without it.
        if envelope.needsSMTPUTF8 && !capabilities.smtpUTF8 {
            return SMTPReply(553, "5.6.7", "the receiving server does not support SMTPUTF8, which this message needs")
        }
        // RFC 1870 §6: a message larger than the server's declared maximum is not offered.
        if let maximum = capabilities.maximumSize, envelope.size > maximum {
            return SMTPReply(552, "5.3.4", "the message is larger than the receiving server takes (\(maximum) bytes)")
        }
        let addresses = [envelope.sender] + envelope.recipients.map(\.address)
        if let bad = addresses.first(where: { !Self.isSafePath($0) }) {
            return SMTPReply(553, "5.1.3", "not an address that can be sent: \(bad.prefix(80))")
        }
        if envelope.recipients.isEmpty { return SMTPReply(554, "5.5.1", "no recipients") }
        return nil
    }

    /// Nothing that could end or extend a command line, or close the angle brackets early.
    static func isSafePath(_ address: String) -> Bool {
        address.utf8.count <= 320 && address.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7f && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
    }

    // MARK: Commands

    private func mailCommand(_ envelope: OutboundEnvelope) -> [UInt8] {
        var command = "MAIL FROM:<\(envelope.sender)>"
        if capabilities.supports("SIZE") { command += " SIZE=\(envelope.size)" }
        if envelope.eightBit && capabilities.eightBitMIME { command += " BODY=8BITMIME" }
        if envelope.needsSMTPUTF8 { command += " SMTPUTF8" }
        if capabilities.dsn {
            if let ret = envelope.returnContent, ["FULL", "HDRS"].contains(ret.uppercased()) { command += " RET=\(ret.uppercased())" }
            if let id = envelope.envelopeID { command += " ENVID=\(XText.encode(id))" }
        }
        return line(command)
    }

    private func recipientCommand(_ recipient: OutboundEnvelope.Recipient) -> [UInt8] {
        var command = "RCPT TO:<\(recipient.address)>"
        if capabilities.dsn {
            if let notify = recipient.notify, !notify.isEmpty { command += " NOTIFY=\(notify.joined(separator: ","))" }
            if let original = recipient.originalRecipient, let semicolon = original.firstIndex(of: ";") {
                command += " ORCPT=\(original[..<semicolon]);\(XText.encode(String(original[original.index(after: semicolon)...])))"
            }
        }
        return line(command)
    }

    private func line(_ text: String) -> [UInt8] {
        Array(text.utf8) + [0x0D, 0x0A]
    }

    private mutating func fail(_ failure: SessionFailure) -> Action {
        state = .closed
        return .failed(failure)
    }
}
