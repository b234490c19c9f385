import DNS
import Facts
import Foundation
import Logging
import MailAuth
import MailCore
import Projections
import Synchronization

/// The Public Suffix List of `dmarc.public_suffix_list`, read once per path.
final class PublicSuffixListCache: Sendable {
    private let cache = Mutex<(path: String, list: PublicSuffixList)?>(nil)

    func list(at path: String) throws -> PublicSuffixList {
        if let cached = cache.withLock({ $0 }), cached.path == path { return cached.list }
        let list = try PublicSuffixList(contentsOfFile: path)
        cache.withLock { $0 = (path, list) }
        return list
    }
}

extension SMTPIntake {
    func intakeResolver() throws -> any DNS.Resolver {
        let anchors = settings.value(SettingKey<String>.dnsTrustAnchors)
        return try resolvers.resolver(servers: settings.value(SettingKey<[String]>.dnsServers),
                                      timeoutSeconds: settings.value(SettingKey<Int>.dnsTimeoutSeconds),
                                      trustAnchors: anchors.isEmpty ? nil : anchors)
    }

    public func checkSPF(client: String, sender: String, helo: String) async -> SMTPSPFResult {
        let identity = sender.isEmpty ? "postmaster@\(helo)" : sender
        guard let address = IPAddress(client) else { return SMTPSPFResult(result: "none", identity: identity) }
        let resolver: any DNS.Resolver
        do {
            resolver = try intakeResolver()
        } catch {
            logger.warning("no resolver for SPF checks", metadata: ["error": "\(error)"])
            return SMTPSPFResult(result: "temperror", identity: identity)
        }
        var evaluator = SPFEvaluator(resolver: resolver)
        evaluator.receiver = hostname
        let outcome = await evaluator.check(client: address, sender: sender, helo: helo)
        return SMTPSPFResult(result: outcome.result.rawValue, identity: identity, explanation: outcome.explanation)
    }

    public func authenticate(_ body: SMTPMessageBody, clientStart: Int, spf: SMTPSPFResult?,
                             policy: SMTPPolicy) async -> SMTPAuthentication {
        let resolver: any DNS.Resolver
        do {
            resolver = try intakeResolver()
        } catch {
            logger.warning("no resolver for DKIM and DMARC checks", metadata: ["error": "\(error)"])
            resolver = StaticResolver()
        }
        var suffixes: PublicSuffixList?
        if policy.dmarcPolicy != "off" {
            let path = settings.value(SettingKey<String>.dmarcPublicSuffixList)
            do {
                suffixes = try suffixLists.list(at: path)
            } catch {
                logger.error("reading the Public Suffix List failed: DMARC is not checked", metadata: [
                    "path": "\(path)", "error": "\(error)",
                ])
            }
        }
        var authenticator = MessageAuthenticator(resolver: resolver, authservID: hostname, suffixes: suffixes)
        authenticator.verifyDKIM = policy.dkimVerify
        let checkedSPF = spf.flatMap { check in SPFResult(rawValue: check.result).map { MessageAuthenticator.SPFCheck(result: $0, identity: check.identity) } }
        let outcome: MessageAuthentication
        switch body {
        case .memory(let bytes):
            outcome = await authenticator.check(bytes[min(clientStart, bytes.count)...], spf: checkedSPF, at: clock())
        case .spooled(let path):
            do {
                let file = try MappedFile(path: path)
                let all = file.unsafeBytes
                outcome = await authenticator.check(UnsafeRawBufferPointer(rebasing: all[min(clientStart, all.count)...]),
                                                    spf: checkedSPF, at: clock())
                withExtendedLifetime(file) {}
            } catch {
                logger.error("reading a spooled message for its checks failed", metadata: ["error": "\(error)"])
                return SMTPAuthentication()
            }
        }
        return Self.authentication(outcome, dkimChecked: policy.dkimVerify)
    }

    /// The outcome as the gateway and the log keep it.
    static func authentication(_ outcome: MessageAuthentication, dkimChecked: Bool) -> SMTPAuthentication {
        let dkim = outcome.dkim.map { result in
            DKIMCheck(result: result.outcome.rawValue, domain: result.domain, selector: result.selector,
                      algorithm: result.algorithm, detail: result.detail)
        }
        let dmarc = outcome.dmarc.map { dmarc in
            DMARCCheck(result: dmarc.result.rawValue, fromDomain: dmarc.fromDomain,
                       published: dmarc.record.map { record in
                           DMARCCheck.Published(domain: dmarc.policyDomain ?? dmarc.fromDomain, p: record.policy.rawValue,
                                                sp: record.subdomainPolicy?.rawValue, adkim: record.dkimAlignment.rawValue,
                                                aspf: record.spfAlignment.rawValue, pct: record.percentage,
                                                rua: record.aggregateReports.map { report in
                                                    report.uri + (report.maximumSize.map { "!\($0)" } ?? "")
                                                })
                       },
                       disposition: dmarc.disposition.rawValue, applied: "none", spfAligned: dmarc.spfAligned,
                       dkimAligned: dmarc.dkimAligned, sampledOut: dmarc.sampledOut, detail: dmarc.detail)
        }
        let field = outcome.results.entries.isEmpty ? "" : outcome.results.field
        return SMTPAuthentication(field: field, forged: outcome.forged, dkim: dkimChecked ? dkim : nil,
                                  dmarc: dmarc, arc: outcome.arc?.outcome.rawValue)
    }
}
