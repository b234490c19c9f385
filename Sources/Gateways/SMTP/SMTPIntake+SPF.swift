import DNS
import Facts
import Foundation
import Logging
import MailAuth
import Projections
import Synchronization

/// The resolver SPF checks ask, built from `dns.servers` and `dns.timeout_seconds` and made
/// again when they change.
final class SPFResolverCache: Sendable {
    private let cache = Mutex<(key: String, resolver: any DNS.Resolver)?>(nil)

    func resolver(servers: [String], timeout: Int) throws -> any DNS.Resolver {
        let key = servers.joined(separator: ",") + "|\(timeout)"
        return try cache.withLock { cache in
            if let cache, cache.key == key { return cache.resolver }
            let resolver = try UnboundResolver(servers: servers, timeout: .seconds(timeout))
            cache = (key, resolver)
            return resolver
        }
    }
}

extension SMTPIntake {
    public func checkSPF(client: String, sender: String, helo: String) async -> SMTPSPFResult {
        let identity = sender.isEmpty ? "postmaster@\(helo)" : sender
        guard let address = IPAddress(client) else { return SMTPSPFResult(result: "none", identity: identity) }
        let resolver: any DNS.Resolver
        do {
            resolver = try spfResolvers.resolver(servers: settings.value(SettingKey<[String]>.dnsServers),
                                                               timeout: settings.value(SettingKey<Int>.dnsTimeoutSeconds))
        } catch {
            logger.warning("no resolver for SPF checks", metadata: ["error": "\(error)"])
            return SMTPSPFResult(result: "temperror", identity: identity)
        }
        var evaluator = SPFEvaluator(resolver: resolver)
        evaluator.receiver = hostname
        let outcome = await evaluator.check(client: address, sender: sender, helo: helo)
        return SMTPSPFResult(result: outcome.result.rawValue, identity: identity, explanation: outcome.explanation)
    }
}
