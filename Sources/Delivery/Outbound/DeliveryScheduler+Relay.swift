import DNS
import EventLog
import Facts
import Foundation
import MailCore
import SMTPClient

extension DeliveryScheduler {
    /// One transaction through a relay sender: its servers in order until one answers. A
    /// server that cannot be reached (or whose TLS fails) passes to the next; one that answers
    /// with an SMTP refusal (greeting, login) ends the attempt with its words, as VPOP3 does.
    func relayAttempt(_ message: OutboundMessage, _ recipients: [OutboundMessage.Recipient], sender: MailSender,
                      password: SealedPassword, number: Int, policy: Policy, content: OutgoingContent) async -> DeliveryAttempted {
        let started = Date()
        let clock = ContinuousClock.now
        let domains = Set(recipients.map { Self.domain(of: $0.address) }).sorted().joined(separator: ",")
        var skipped: [String] = []
        func finish(_ replies: [RemoteReply], host: String?, ip: String?, tls: String?, dsn: Bool? = nil) -> DeliveryAttempted {
            let elapsed = (ContinuousClock.now - clock).components
            return DeliveryAttempted(
                messageID: message.accepted.messageID, attempt: number, route: sender.name, domain: domains, mxHost: host, ip: ip,
                tlsVersion: tls, tlsCipher: nil, serverOffersDSN: dsn,
                outcomes: zip(recipients, replies).map { .init(rcptid: $0.rcptid, address: $0.address, reply: $1) },
                skipped: skipped, startedAt: started, duration: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
        }
        func everyone(_ reply: RemoteReply, host: String? = nil) -> DeliveryAttempted {
            finish(Array(repeating: reply, count: recipients.count), host: host, ip: nil, tls: nil)
        }

        let options: OutboundSession.Options
        do {
            options = try await sessionOptions(sender, password: password)
        } catch {
            return everyone(RemoteReply(code: 451, enhanced: "4.7.0", text: "sender \(sender.name): \(error)", fromServer: false))
        }
        let envelope = envelope(message, recipients, content: content)
        var lastFailure = RemoteReply(code: 451, enhanced: "4.4.1", text: "no relay server of sender \(sender.name) could be reached",
                                      fromServer: false)
        for server in sender.relayServers {
            let addresses: [IPAddress]
            switch await self.addresses(of: server.host, policy: policy) {
            case .success(let found): addresses = found
            case .failure(let failure):
                skipped.append("\(server): \(failure)")
                lastFailure = failure.reply
                lastFailure.text = "relay \(server.host): " + lastFailure.text
                continue
            }
            for address in addresses {
                // Sessions are kept per sender and login: each logs in as its own account
                // (two inline LAN targets on one server may log in differently, or not at all).
                let key = "relay \(sender.name.lowercased()) \(sender.user.map { "as \($0)" } ?? "-") \(address):\(server.port)"
                let session: OutboundSession
                if let cached = sessions.take(key, maxTransactions: policy.maxMessagesPerSession, recipients: recipients.count,
                                              maxRecipients: policy.maxRecipientsPerSession) {
                    session = cached
                } else {
                    do {
                        session = try await OutboundSession.open(
                            host: server.host, address: address, port: server.port, ehloName: policy.ehloName(hostname),
                            connectTimeout: policy.connectTimeout, timeoutScale: policy.timeoutScale, options: options)
                    } catch {
                        skipped.append("\(server) [\(address)]: \(error)")
                        lastFailure = error.reply
                        switch error {
                        case .refused, .authentication:
                            // The relay answered: its answer stands.
                            return everyone(error.reply, host: server.host)
                        default:
                            continue
                        }
                    }
                }
                do {
                    let result = try await session.send(envelope, body: bodyWriter(message, content: content))
                    let tls = session.tlsVersion
                    await sessions.put(key, session, maxTransactions: policy.maxMessagesPerSession,
                                       maxRecipients: policy.maxRecipientsPerSession)
                    let replies = result.replies.map {
                        RemoteReply(code: $0.code, enhanced: $0.enhanced, text: $0.lines.joined(separator: " "))
                    }
                    return finish(replies, host: server.host, ip: address.description, tls: tls,
                                  dsn: session.capabilities?.dsn ?? false)
                } catch {
                    await session.close()
                    skipped.append("\(server) [\(address)]: \(error)")
                    lastFailure = error.reply
                    continue
                }
            }
        }
        return everyone(lastFailure, host: sender.relayServers.last?.host)
    }

    /// The encryption, verification and login of a relay sender's sessions; the password is
    /// opened from the vault for each new session and kept nowhere else.
    func sessionOptions(_ sender: MailSender, password sealed: SealedPassword) async throws -> OutboundSession.Options {
        var options = OutboundSession.Options()
        switch sender.encryption {
        case .none: options.encryption = .none
        case .ssl: options.encryption = .implicit
        case .starttls: options.encryption = .required
        case .starttlsIfAvailable: options.encryption = .whenOffered
        }
        options.verification = sender.verifyCertificate && sender.encryption != .none
            ? .full(extraTrust: sender.trustedCertificates) : .none
        if let user = sender.user {
            guard let secret = sender.passwordSecret else { throw RelayLoginProblem("a user but no password is set") }
            guard let vault else { throw RelayLoginProblem("the key directory that opens the password is not available") }
            guard let password = try await vault.open(secret, purpose: sealed.purpose, subject: sealed.subject, client: store.client)
            else { throw RelayLoginProblem("the sealed password is missing from the vault") }
            options.authentication = .init(user: user, password: String(decoding: password, as: UTF8.self),
                                           nonce: Self.newNonce(),
                                           passwordInClear: sender.passwordWithoutTLS || sender.encryption == .none)
        }
        return options
    }

    /// SCRAM's client nonce: 24 random letters and digits.
    static func newNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        return String(decoding: (0..<24).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }, as: UTF8.self)
    }

    /// Takes recipients from a sender's X per Y minutes, seeding its window from the recorded
    /// attempts the first time.
    func takeFromWindow(_ sender: MailSender, wanted: Int, limit: MailSender.RateLimit, now: Date) async -> (granted: Int, next: Date?) {
        if await !windows.isSeeded(sender.name) {
            var entries: [SendingWindows.Entry] = []
            let since = now.addingTimeInterval(-TimeInterval(limit.minutes * 60))
            do {
                let rows = try await store.client.query("""
                    SELECT started, coalesce(recipients, 0)::bigint FROM outqueue.sendattempts
                    WHERE lower(route) = \(sender.name.lowercased()) AND started > \(since)
                    """, logger: logger)
                for try await (at, count) in rows.decode((Date, Int64).self) { entries.append(.init(at: at, count: Int(count))) }
            } catch {
                logger.warning("could not read a sender's recent attempts; its window starts empty",
                               metadata: ["sender": "\(sender.name)", "error": "\(error)"])
            }
            await windows.seed(sender.name, entries)
        }
        return await windows.take(sender.name, wanted: wanted, limit: limit, now: now)
    }
}

/// Where a relay's password is sealed: the vault's purpose and subject for it.
struct SealedPassword: Sendable {
    var purpose: String
    var subject: String
}

extension DeliveryScheduler {
    /// A LAN target as a relay sender of its own: its rule as it stands now when the rule is
    /// still there, else the target as the message recorded it.
    static func lanShare(_ target: LANTarget, rules: LANForwarding, recipients: [OutboundMessage.Recipient]) -> SenderShare {
        var target = target
        if let name = target.rule, let rule = rules.named(name) { target = rule.target }
        let server = MailSender.RelayServer(host: target.server, port: target.port)
        // A LAN server's certificate is usually its own: not checked.
        let sender = MailSender(name: target.label, method: .relay, relays: [server.description], encryption: target.encryption,
                                verifyCertificate: false, user: target.user, passwordSecret: target.passwordSecret)
        let purpose = target.rule == nil ? InlineSMTPTarget.passwordPurpose : LANForwardRule.passwordPurpose
        return SenderShare(sender: sender, recipients: recipients,
                           password: SealedPassword(purpose: purpose, subject: target.vaultSubject ?? ""))
    }
}

struct RelayLoginProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
