import AsyncHTTPClient
import DNS
import EventLog
import Facts
import Foundation
import Logging
import MailAuth
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Recipient domains' MTA-STS policies (RFC 8461): the `_mta-sts` record asked for on each
/// delivery, the policy fetched over HTTPS when the record names an id not held or the held
/// policy has expired, and kept for its `max_age`. A fetched policy is a fact
/// (`mta_sts_policy_fetched`), read back after a restart.
final class MTASTSPolicies: Sendable {
    /// A policy held, with when it stops counting.
    struct Held: Sendable {
        var id: String
        var policy: MTASTSPolicy
        var lines: [String]
        var expires: Date
    }

    /// What a delivery goes by.
    enum Found: Sendable {
        /// No record and no policy held: delivery as without MTA-STS.
        case none
        case policy(Held)
        /// A record names a policy that could not be had, and none is held: delivery goes on
        /// as without one (§5.1); TLS-RPT hears of it.
        case unavailable(result: String, detail: String)
    }

    /// Why a fetch failed, as TLS-RPT names it.
    struct FetchFailure: Error, CustomStringConvertible {
        var result: String
        var detail: String
        var description: String { detail }
    }

    let store: EventStore
    let logger: Logger
    private let held = Mutex<[String: Held]>([:])
    /// Domains whose stream has been read since start.
    private let read = Mutex<Set<String>>([])

    init(store: EventStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// The policy for `domain` now. `port` is the HTTPS port (443 but in tests).
    func policy(for domain: String, resolver: any DNS.Resolver, trust: String?, timeout: Duration,
                now: Date = Date()) async -> Found {
        let domain = domain.lowercased()
        let current = await heldPolicy(domain, now: now)
        let id: String
        do {
            guard let record = try await Self.record(of: domain, resolver: resolver) else {
                return current.map { .policy($0) } ?? .none
            }
            id = record.id
        } catch {
            // §5.1: a failed lookup leaves a policy held in force.
            return current.map { .policy($0) } ?? .none
        }
        if let current, current.id == id { return .policy(current) }
        do {
            let (policy, lines) = try await Self.fetch(domain, resolver: resolver, trust: trust, timeout: timeout)
            let fresh = Held(id: id, policy: policy, lines: lines, expires: now.addingTimeInterval(TimeInterval(policy.maxAge)))
            held.withLock { $0[domain] = fresh }
            let fact = MTASTSPolicyFetched(domain: domain, id: id, policy: lines, mode: policy.mode.rawValue, mx: policy.mx,
                                           maxAge: policy.maxAge, fetchedAt: now)
            do {
                _ = try await store.append([StreamAppend(stream: MTASTSPolicyFetched.stream(domain: domain),
                                                         events: [EventData(fact)])])
            } catch {
                logger.warning("recording a fetched MTA-STS policy failed", metadata: ["domain": "\(domain)", "error": "\(error)"])
            }
            logger.info("MTA-STS policy fetched", metadata: [
                "domain": "\(domain)", "id": "\(id)", "mode": "\(policy.mode.rawValue)", "max_age": "\(policy.maxAge)",
            ])
            return .policy(fresh)
        } catch {
            logger.warning("fetching an MTA-STS policy failed", metadata: ["domain": "\(domain)", "error": "\(error.detail)"])
            return current.map { .policy($0) } ?? .unavailable(result: error.result, detail: error.detail)
        }
    }

    /// The policy held for `domain` and not expired, from memory or, the first time, its stream.
    private func heldPolicy(_ domain: String, now: Date) async -> Held? {
        if read.withLock({ !$0.insert(domain).inserted }) {
            return held.withLock { $0[domain] }.flatMap { $0.expires > now ? $0 : nil }
        }
        do {
            let stream = try MTASTSPolicyFetched.stream(domain: domain)
            if let version = try await store.version(of: stream),
               let last = try await store.read(stream: stream, from: version, limit: 1).last,
               let fact = try? EventCoding.decode(MTASTSPolicyFetched.self, from: last.json),
               let mode = MTASTSPolicy.Mode(rawValue: fact.mode) {
                let restored = Held(id: fact.id, policy: MTASTSPolicy(mode: mode, mx: fact.mx, maxAge: fact.maxAge), lines: fact.policy,
                                    expires: fact.fetchedAt.addingTimeInterval(TimeInterval(fact.maxAge)))
                held.withLock { held in
                    if held[domain] == nil { held[domain] = restored }
                }
            }
        } catch {
            read.withLock { _ = $0.remove(domain) }
            logger.warning("reading a held MTA-STS policy failed", metadata: ["domain": "\(domain)", "error": "\(error)"])
        }
        return held.withLock { $0[domain] }.flatMap { $0.expires > now ? $0 : nil }
    }

    /// §3.1: the one `v=STSv1` record at `_mta-sts.<domain>`; nil when there is none, or more
    /// than one, or it does not parse.
    static func record(of domain: String, resolver: any DNS.Resolver) async throws(DNSFailure) -> MTASTSRecord? {
        guard case .records(let records, _) = try await resolver.txt("_mta-sts.\(domain)") else { return nil }
        let texts = records.map { strings in String(decoding: strings.joined(), as: UTF8.self) }
            .filter { $0.hasPrefix("v=STSv1") }
        guard texts.count == 1 else { return nil }
        return MTASTSRecord(parsing: texts[0])
    }

    /// §3.3: `https://mta-sts.<domain>/.well-known/mta-sts.txt`, the host's address from
    /// `resolver`, its certificate checked against the system's roots and `trust`; no
    /// redirects, a 200 answer of `text/plain`, at most 64 KiB.
    static func fetch(_ domain: String, resolver: any DNS.Resolver, trust: String?,
                      timeout: Duration) async throws(FetchFailure) -> (MTASTSPolicy, [String]) {
        let host = "mta-sts.\(domain)"
        do {
            return try await HTTPS.withClient(for: host, resolver: resolver, trust: trust, timeout: timeout) { client in
                var request = HTTPClientRequest(url: "https://\(host)/.well-known/mta-sts.txt")
                request.headers.add(name: "User-Agent", value: "Pillarbox")
                let response = try await client.execute(request, timeout: .init(timeout))
                guard response.status == .ok else {
                    throw FetchFailure(result: "sts-policy-fetch-error", detail: "\(host) answered \(response.status.code)")
                }
                let type = response.headers.first(name: "content-type")?.lowercased() ?? ""
                guard type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "text/plain" else {
                    throw FetchFailure(result: "sts-policy-invalid",
                                       detail: "the policy is of type \(type.isEmpty ? "none" : type), not text/plain")
                }
                let body: ByteBuffer
                do {
                    body = try await response.body.collect(upTo: MTASTSPolicy.maximumSize)
                } catch is NIOTooManyBytesError {
                    throw FetchFailure(result: "sts-policy-invalid", detail: MTASTSPolicy.Failure.tooLarge.description)
                }
                let bytes = Array(body.readableBytesView)
                do {
                    let policy = try MTASTSPolicy(parsing: bytes)
                    let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
                        .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    return (policy, lines)
                } catch {
                    throw FetchFailure(result: "sts-policy-invalid", detail: "\(error)")
                }
            }
        } catch let failure as FetchFailure {
            throw failure
        } catch {
            throw FetchFailure(result: HTTPS.isTLS(error) ? "sts-webpki-invalid" : "sts-policy-fetch-error",
                               detail: "\(host): \(error)")
        }
    }
}
