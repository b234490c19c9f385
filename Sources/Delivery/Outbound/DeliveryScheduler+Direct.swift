import DNS
import Facts
import Foundation

/// One attempt at one domain's recipients sent directly to its MX hosts: the hosts in order,
/// each under the domain's transport policy, until one takes the transaction.
extension DeliveryScheduler {
    /// Tries the destination's hosts and addresses in order until one takes the transaction
    /// (whatever it answers) or none is left. A domain's MTA-STS policy (RFC 8461) leaves out
    /// MX hosts it does not name and asks for TLS with a checked certificate; when enforced,
    /// a host that fails either is not sent to.
    func attempt(_ message: OutboundMessage, _ recipients: [OutboundMessage.Recipient], domain: String, number: Int,
                         policy: Policy, content: OutgoingContent) async -> DeliveryAttempted {
        let started = Date()
        let clock = ContinuousClock.now
        var skipped: [String] = []
        var security = TransportSecurity()
        func finish(_ replies: [RemoteReply], host: String?, ip: String?, tls: String?, dsn: Bool? = nil) -> DeliveryAttempted {
            let elapsed = (ContinuousClock.now - clock).components
            return DeliveryAttempted(
                messageID: message.accepted.messageID, attempt: number, route: policy.senderName, domain: domain, mxHost: host, ip: ip,
                tlsVersion: tls, tlsCipher: nil, serverOffersDSN: dsn,
                outcomes: zip(recipients, replies).map { .init(rcptid: $0.rcptid, address: $0.address, reply: $1) },
                skipped: skipped, startedAt: started, duration: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18,
                transportPolicy: security.check)
        }
        func everyone(_ reply: RemoteReply, host: String? = nil) -> DeliveryAttempted {
            finish(Array(repeating: reply, count: recipients.count), host: host, ip: nil, tls: nil)
        }

        let destination: MailDestination
        let literal = domain.hasPrefix("[") && domain.hasSuffix("]") ? IPAddress(String(domain.dropFirst().dropLast())) : nil
        if let literal {
            destination = .hosts([literal.description])
        } else {
            do {
                destination = try await MailExchangers.destination(of: domain, resolver: resolver(policy), overrides: policy.overrides)
            } catch {
                return everyone(RemoteReply(code: 451, enhanced: "4.4.3", text: "DNS: \(error)", fromServer: false))
            }
        }
        let hosts: [String]
        switch destination {
        case .nullMX:
            return everyone(RemoteReply(code: 556, enhanced: "5.1.10", text: "the domain \(domain) accepts no mail (null MX)",
                                        fromServer: false))
        case .nonexistentDomain:
            return everyone(RemoteReply(code: 550, enhanced: "5.1.2", text: "the domain \(domain) does not exist", fromServer: false))
        case .hosts(let list):
            hosts = list
        }
        if literal == nil { security = await transportSecurity(for: domain, hosts: hosts, policy: policy) }
        let envelope = envelope(message, recipients, content: content)
        var lastFailure = RemoteReply(code: 451, enhanced: "4.4.4", text: "no server could be reached for \(domain)", fromServer: false)
        for host in hosts {
            let verification: RemoteConnection.Verification, enforced: Bool
            switch security.demand(for: host) {
            case .opportunistic: (verification, enforced) = (.none, false)
            case .verified(let how, let enforce): (verification, enforced) = (how, enforce)
            case .refused(let reply, let detail):
                skipped.append("\(host): \(detail)")
                lastFailure = reply
                continue
            }
            let addresses: [IPAddress]
            switch await self.addresses(of: host, policy: policy) {
            case .success(let found): addresses = found
            case .failure(let failure):
                skipped.append("\(host): \(failure)")
                if case .dns = failure { lastFailure = failure.reply }
                continue
            }
            for address in addresses {
                let opened: OutboundSession
                switch await session(to: host, address: address, policy: policy, verification: verification,
                                     recipients: recipients.count) {
                case .success(let session):
                    opened = session
                    if verification != .none { security.check?.successes += 1 }
                case .failure(let failure):
                    skipped.append("\(host) [\(address)]: \(failure)")
                    lastFailure = failure.reply
                    guard verification != .none,
                          security.recordFailure(failure, host: host, address: address, verification: verification) else { continue }
                    if enforced { continue }
                    // MTA-STS `testing`: recorded, then sent as without the policy.
                    switch await session(to: host, address: address, policy: policy, verification: .none, recipients: recipients.count) {
                    case .success(let session): opened = session
                    case .failure(let failure):
                        skipped.append("\(host) [\(address)]: \(failure)")
                        lastFailure = failure.reply
                        continue
                    }
                }
                let session = opened
                // RFC 5321 §5.1: a server that names itself as this one is this one: a loop.
                if let name = session.capabilities?.serverName, name == policy.ehloName(hostname).lowercased() {
                    await session.quit()
                    return finish(Array(repeating: RemoteReply(code: 554, enhanced: "5.4.6",
                                                               text: "mail for \(domain) loops back to this server",
                                                               fromServer: false), count: recipients.count),
                                  host: host, ip: address.description, tls: nil)
                }
                do {
                    let result = try await session.send(envelope, body: bodyWriter(message, content: content))
                    let tls = session.tlsVersion
                    await sessions.put(session.cacheKey, session, maxTransactions: policy.maxMessagesPerSession,
                                       maxRecipients: policy.maxRecipientsPerSession)
                    let replies = result.replies.map {
                        RemoteReply(code: $0.code, enhanced: $0.enhanced, text: $0.lines.joined(separator: " "))
                    }
                    return finish(replies, host: host, ip: address.description, tls: tls, dsn: session.capabilities?.dsn ?? false)
                } catch {
                    await session.close()
                    skipped.append("\(host) [\(address)]: \(error)")
                    lastFailure = error.reply
                    continue
                }
            }
        }
        return everyone(lastFailure, host: hosts.last)
    }

    /// A session with one MX address: one kept from an earlier message, or a new one. One
    /// with a `verification` insists on STARTTLS checked so (MTA-STS, DANE) and is kept apart
    /// from unchecked ones.
    private func session(to host: String, address: IPAddress, policy: Policy, verification: RemoteConnection.Verification,
                         recipients: Int) async -> Result<OutboundSession, TransferFailure> {
        let key: String
        switch verification {
        case .none: key = "\(address):\(policy.port)"
        case .full: key = "\(address):\(policy.port) checked \(host)"
        case .dane: key = "\(address):\(policy.port) dane \(host)"
        }
        if let cached = sessions.take(key, maxTransactions: policy.maxMessagesPerSession, recipients: recipients,
                                      maxRecipients: policy.maxRecipientsPerSession) {
            return .success(cached)
        }
        let options = verification == .none ? .opportunistic : OutboundSession.Options(encryption: .required, verification: verification)
        do {
            let session = try await OutboundSession.open(
                host: host, address: address, port: policy.port, ehloName: policy.ehloName(hostname),
                connectTimeout: policy.connectTimeout, timeoutScale: policy.timeoutScale, options: options)
            session.cacheKey = key
            return .success(session)
        } catch {
            return .failure(error)
        }
    }

    /// TLS-RPT's result type (RFC 8460 §4.3) for a session that failed a policy's TLS demands;
    /// nil for a failure that has nothing to do with TLS (no connection, a refusal).
    static func tlsReportResult(_ failure: TransferFailure) -> String? {
        guard case .tlsFailed(let detail) = failure else { return nil }
        let text = detail.lowercased()
        if text.contains("does not offer starttls") { return "starttls-not-supported" }
        if text.contains("expired") { return "certificate-expired" }
        if text.contains("hostname") || text.contains("host name") || text.contains("mismatch") { return "certificate-host-mismatch" }
        if text.contains("certificate") || text.contains("verify") { return "certificate-not-trusted" }
        return "validation-failure"
    }

    enum AddressFailure: Error, CustomStringConvertible {
        case noAddress
        case dns(String)

        var description: String {
            switch self {
            case .noAddress: "no address"
            case .dns(let detail): "DNS: \(detail)"
            }
        }

        var reply: RemoteReply { RemoteReply(code: 451, enhanced: "4.4.3", text: description, fromServer: false) }
    }

    /// A host's addresses: itself when it is an IP address, else its A and AAAA records.
    func addresses(of host: String, policy: Policy) async -> Result<[IPAddress], AddressFailure> {
        if let literal = IPAddress(host) { return .success([literal]) }
        do {
            switch try await resolver(policy).addresses(host) {
            case .records(let found, _): return .success(found)
            case .noRecords, .nonexistentDomain: return .failure(.noAddress)
            }
        } catch {
            return .failure(.dns("\(error)"))
        }
    }
}
