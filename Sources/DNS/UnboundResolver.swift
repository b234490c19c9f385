import CUnbound
import Foundation
import MailCore
import NIOPosix
import Synchronization

/// The resolver on libunbound: a validating, caching recursive resolver in the process, or a
/// caching stub forwarding to `servers` (VPOP3's "DNS Servers to use"). Lookups run on a
/// small pool of threads of their own (`ub_resolve` blocks) and give up after `timeout`.
public final class UnboundResolver: Resolver, Sendable {
    private let context: Context
    private let pool: NIOThreadPool
    private let answers = AnswerCache()
    let timeout: Duration

    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `servers` as `IP` or `IP:PORT` (`[IPv6]:PORT`); empty uses the system's resolvers from
    /// /etc/resolv.conf. With `trustAnchors` (a file of DS or DNSKEY records, such as the
    /// root's in Debian's dns-root-data) answers are validated with DNSSEC: those that fail
    /// are failures, those that pass are `secure`. The servers must then pass DNSSEC records on.
    public init(servers: [String] = [], timeout: Duration = .seconds(30), threads: Int = 4,
                trustAnchors: String? = nil) throws(ConfigurationError) {
        guard let created = ub_ctx_create() else { throw ConfigurationError(description: "libunbound could not make a context") }
        let context = Context(pointer: created)
        self.context = context
        self.timeout = timeout
        self.pool = NIOThreadPool(numberOfThreads: threads)
        if servers.isEmpty {
            let status = ub_ctx_resolvconf(created, nil)
            if status != 0 { throw Self.problem("reading /etc/resolv.conf", status) }
        } else {
            for server in servers {
                guard let address = Self.forwarder(server) else {
                    throw ConfigurationError(description: "not an IP[:PORT] DNS server: \(server)")
                }
                let status = ub_ctx_set_fwd(created, address)
                if status != 0 { throw Self.problem("using DNS server \(server)", status) }
            }
        }
        if let trustAnchors {
            let status = ub_ctx_add_ta_file(created, trustAnchors)
            if status != 0 { throw Self.problem("reading the trust anchors in \(trustAnchors)", status) }
        }
        pool.start()
    }

    deinit {
        // A query given up on may still run on a pool thread: the threads stop when it ends,
        // and the context goes with the last query holding it.
        pool.shutdownGracefully { _ in }
    }

    /// libunbound's context, deleted when nothing holds it. `@unchecked`: it is configured only
    /// before the first query, and libunbound allows concurrent `ub_resolve` calls on one
    /// context after that (they share its cache under its own locks).
    private final class Context: @unchecked Sendable {
        let pointer: OpaquePointer

        init(pointer: OpaquePointer) {
            self.pointer = pointer
        }

        deinit {
            ub_ctx_delete(pointer)
        }
    }

    private static func problem(_ what: String, _ status: Int32) -> ConfigurationError {
        ConfigurationError(description: "\(what): \(String(cString: ub_strerror(status)))")
    }

    /// libunbound's `IP@PORT` form of `IP`, `IP:PORT` or `[IPv6]:PORT`.
    static func forwarder(_ text: String) -> String? {
        let text = text.trimmingCharacters(in: .whitespaces)
        var host = text, port: String?
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                port = String(rest.dropFirst())
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            port = String(text[text.index(after: colon)...])
        }
        guard IPAddress(host) != nil else { return nil }
        if let port {
            guard let number = UInt16(port), number > 0 else { return nil }
            return "\(host)@\(number)"
        }
        return host
    }

    // RFC 1035 §3.2.2 and RFC 3596: the record types asked for.
    static let typeA: Int32 = 1, typePTR: Int32 = 12, typeMX: Int32 = 15, typeTXT: Int32 = 16, typeAAAA: Int32 = 28
    static let typeTLSA: Int32 = 52
    static let classIN: Int32 = 1

    public func mx(_ domain: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.MX]> {
        try await lookup(domain, type: Self.typeMX) { try DNSRecordData.mx($0) }
    }

    public func addresses(_ host: String) async throws(DNSFailure) -> DNSAnswer<[IPAddress]> {
        async let v4 = lookup(host, type: Self.typeA) { IPAddress(bytes: try DNSRecordData.ipv4($0))! }
        async let v6 = lookup(host, type: Self.typeAAAA) { IPAddress(bytes: try DNSRecordData.ipv6($0))! }
        let answers: (DNSAnswer<[IPAddress]>, DNSAnswer<[IPAddress]>)
        do { answers = try await (v4, v6) } catch let failure as DNSFailure { throw failure } catch {
            throw DNSFailure(name: host, reason: "\(error)")
        }
        switch answers {
        case (.nonexistentDomain, _), (_, .nonexistentDomain): return .nonexistentDomain
        case (.noRecords, .noRecords): return .noRecords
        default:
            let secure: Bool
            switch answers {
            case (.records(_, let a), .records(_, let b)): secure = a && b
            case (.records(_, let a), _), (_, .records(_, let a)): secure = a
            default: secure = false
            }
            return .records((answers.0.records ?? []) + (answers.1.records ?? []), secure: secure)
        }
    }

    public func tlsa(_ name: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.TLSA]> {
        try await lookup(name, type: Self.typeTLSA) { try DNSRecordData.tlsa($0) }
    }

    public func txt(_ name: String) async throws(DNSFailure) -> DNSAnswer<[[[UInt8]]]> {
        try await lookup(name, type: Self.typeTXT) { try DNSRecordData.txt($0) }
    }

    public func ptr(_ name: String) async throws(DNSFailure) -> DNSAnswer<[String]> {
        try await lookup(name, type: Self.typePTR) { try DNSRecordData.ptr($0) }
    }

    public func addresses(_ host: String, ipv6: Bool) async throws(DNSFailure) -> DNSAnswer<[IPAddress]> {
        if ipv6 { return try await lookup(host, type: Self.typeAAAA) { IPAddress(bytes: try DNSRecordData.ipv6($0))! } }
        return try await lookup(host, type: Self.typeA) { IPAddress(bytes: try DNSRecordData.ipv4($0))! }
    }

    /// One query, its record data decoded by `decode`; a record that does not decode fails
    /// the lookup rather than being skipped.
    private func lookup<Record: Sendable>(_ name: String, type: Int32,
                                          decode: @escaping @Sendable ([UInt8]) throws -> Record) async throws(DNSFailure)
        -> DNSAnswer<[Record]> {
        guard !name.isEmpty, name.utf8.count <= 253, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw DNSFailure(name: name, reason: "not a domain name")
        }
        let key = "\(type) " + name.lowercased()
        let raw: Raw
        if let cached = answers.answer(key) {
            raw = cached
        } else {
            raw = try await query(name, type: type)
            answers.keep(raw, for: key)
        }
        switch raw {
        case .nonexistentDomain: return .nonexistentDomain
        case .noRecords: return .noRecords
        case .records(let data, let secure, _):
            var records: [Record] = []
            for bytes in data {
                do { records.append(try decode(bytes)) } catch {
                    throw DNSFailure(name: name, reason: "\(error)")
                }
            }
            return .records(records, secure: secure)
        }
    }

    /// An answer as libunbound gave it, with how long it may be kept.
    enum Raw: Sendable {
        case nonexistentDomain(ttl: UInt32)
        case noRecords(ttl: UInt32)
        case records([[UInt8]], secure: Bool, ttl: UInt32)

        var ttl: UInt32 {
            switch self {
            case .nonexistentDomain(let ttl), .noRecords(let ttl), .records(_, _, let ttl): ttl
            }
        }
    }

    private func query(_ name: String, type: Int32) async throws(DNSFailure) -> Raw {
        let context = self.context
        let timeout = self.timeout
        // The query runs on a pool thread and cannot be interrupted: whichever comes first, its
        // answer or the timeout, is taken, and a query given up on finishes by itself.
        let result: Result<Raw, DNSFailure> = await withCheckedContinuation { continuation in
            let once = Once(continuation)
            pool.submit { state in
                guard case .active = state else {
                    once.resume(.failure(DNSFailure(name: name, reason: "the resolver is shutting down")))
                    return
                }
                once.resume(Result { () throws(DNSFailure) in
                    try Self.resolve(context.pointer, name: name, type: type)
                })
            }
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                once.resume(.failure(DNSFailure(name: name, reason: "no answer within \(timeout)")))
            }
        }
        return try result.get()
    }

    /// Resumes a continuation with the first result given, ignoring later ones.
    private final class Once<Value: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<Value, Never>?>

        init(_ continuation: CheckedContinuation<Value, Never>) {
            self.continuation = Mutex(continuation)
        }

        func resume(_ value: Value) {
            continuation.withLock { stored in
                stored?.resume(returning: value)
                stored = nil
            }
        }
    }

    /// Runs on a pool thread: the blocking query and the reading of its result.
    private static func resolve(_ context: OpaquePointer, name: String, type: Int32) throws(DNSFailure) -> Raw {
        var result: UnsafeMutablePointer<ub_result>?
        let status = ub_resolve(context, name, type, classIN, &result)
        guard status == 0, let result else {
            throw DNSFailure(name: name, reason: String(cString: ub_strerror(status)))
        }
        defer { ub_resolve_free(result) }
        let answer = result.pointee
        if answer.bogus != 0 {
            let why = answer.why_bogus.map { String(cString: $0) } ?? "DNSSEC validation failed"
            throw DNSFailure(name: name, reason: why)
        }
        let ttl = UInt32(clamping: answer.ttl)
        if answer.nxdomain != 0 { return .nonexistentDomain(ttl: ttl) }
        // RFC 1035 §4.1.1: anything but NOERROR (and NXDOMAIN, above) is no answer.
        guard answer.rcode == 0 else { throw DNSFailure(name: name, reason: "the server answered with rcode \(answer.rcode)") }
        guard answer.havedata != 0, let data = answer.data, let lengths = answer.len else { return .noRecords(ttl: ttl) }
        var records: [[UInt8]] = []
        var index = 0
        while let item = data[index] {
            let length = Int(lengths[index])
            records.append(Array(UnsafeRawBufferPointer(start: item, count: max(0, length))))
            index += 1
        }
        return records.isEmpty ? .noRecords(ttl: ttl) : .records(records, secure: answer.secure != 0, ttl: ttl)
    }
}

/// Answers kept for their TTL (at most an hour), so a burst of mail to one domain asks
/// libunbound once: each of its blocking lookups builds a worker, even for a cached answer.
/// Bounded: when full, expired answers go first, then the oldest half. Failures are not kept.
final class AnswerCache: Sendable {
    private struct Entry {
        let raw: UnboundResolver.Raw
        let expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func answer(_ key: String) -> UnboundResolver.Raw? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.raw
        }
    }

    func keep(_ raw: UnboundResolver.Raw, for key: String) {
        let ttl = min(raw.ttl, 3_600)
        guard ttl > 0 else { return }
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity {
                    let oldest = entries.sorted { $0.value.expires < $1.value.expires }.prefix(entries.count / 2)
                    for (key, _) in oldest { entries[key] = nil }
                }
            }
            entries[key] = Entry(raw: raw, expires: now + .seconds(Int64(ttl)))
        }
    }
}

/// The resolver for the DNS settings as they stand (`dns.servers`, `dns.timeout_seconds`):
/// made once and kept until the settings change, so its cache lasts.
public final class UnboundResolverCache: Sendable {
    private let cache = Mutex<(key: String, resolver: UnboundResolver)?>(nil)

    public init() {}

    public func resolver(servers: [String], timeoutSeconds: Int,
                         trustAnchors: String? = nil) throws(UnboundResolver.ConfigurationError) -> UnboundResolver {
        let key = servers.joined(separator: ",") + "|\(timeoutSeconds)|\(trustAnchors ?? "")"
        if let cached = cache.withLock({ $0 }), cached.key == key { return cached.resolver }
        let resolver = try UnboundResolver(servers: servers, timeout: .seconds(timeoutSeconds), trustAnchors: trustAnchors)
        cache.withLock { $0 = (key, resolver) }
        return resolver
    }
}
