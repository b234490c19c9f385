import DNS
import Foundation
import MailCore

/// An SPF result (RFC 7208 §2.6), as RFC 8601's `spf` method names them.
public enum SPFResult: String, Sendable, Equatable {
    case none, neutral, pass, fail, softfail, temperror, permerror
}

/// check_host() (RFC 7208 §4) over a resolver, with §4.6.4's limits: 10 terms that query DNS,
/// 2 lookups that find nothing, 10 names per MX or PTR lookup.
public struct SPFEvaluator: Sendable {
    public let resolver: any Resolver
    /// Names the receiving host in `%{r}` of explanations.
    public var receiver = "unknown"

    public init(resolver: any Resolver) {
        self.resolver = resolver
    }

    public struct Outcome: Sendable, Equatable {
        public var result: SPFResult
        /// For `fail`: the domain's explanation (its `exp=`), when it has one.
        public var explanation: String?
        public var detail: String?
    }

    /// The MAIL FROM identity, or HELO's when the reverse-path is empty (§2.4): `sender` is the
    /// reverse-path without brackets.
    public func check(client: IPAddress, sender: String, helo: String) async -> Outcome {
        var sender = sender
        if sender.isEmpty { sender = "postmaster@" + helo }
        guard let at = sender.lastIndex(of: "@") else { return Outcome(result: .none, detail: "no domain") }
        let domain = String(sender[sender.index(after: at)...])
        if sender[..<at].isEmpty { sender = "postmaster@" + domain }
        return await checkHost(client: client, domain: domain, sender: sender, helo: helo)
    }

    /// check_host() itself.
    public func checkHost(client: IPAddress, domain: String, sender: String, helo: String) async -> Outcome {
        var state = State()
        // An IPv4-mapped IPv6 address is its IPv4 address (§5).
        var client = client
        if client.isIPv6, client.bytes[0..<10].allSatisfy({ $0 == 0 }), client.bytes[10] == 0xFF, client.bytes[11] == 0xFF {
            client = IPAddress(bytes: Array(client.bytes[12...]))!
        }
        let context = SPFMacro.Context(sender: sender, domain: domain, client: client, helo: helo)
        do {
            return try await evaluate(domain: domain, context: context, state: &state, depth: 0)
        } catch let stop as Stop {
            return Outcome(result: stop.result, detail: stop.detail)
        } catch {
            return Outcome(result: .temperror, detail: "\(error)")
        }
    }

    struct State {
        var lookups = 0
        var voidLookups = 0
        var validatedName: String?
    }

    struct Stop: Error {
        var result: SPFResult
        var detail: String
    }

    /// §4.3: a domain that is not a usable name gives none at the top, permerror below.
    static func isUsable(_ domain: String) -> Bool {
        let name = domain.hasSuffix(".") ? String(domain.dropLast()) : domain
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && name.utf8.count <= 253 && labels.allSatisfy { !$0.isEmpty && $0.utf8.count <= 63 }
    }

    private func evaluate(domain: String, context: SPFMacro.Context, state: inout State, depth: Int) async throws -> Outcome {
        guard Self.isUsable(domain) else {
            if depth == 0 { return Outcome(result: .none, detail: "\(domain) is not a domain name") }
            throw Stop(result: .permerror, detail: "\(domain) is not a domain name")
        }
        guard depth < 20 else { throw Stop(result: .permerror, detail: "includes nested too deep") }
        var context = context
        context.domain = domain
        let record: SPFRecord
        switch try await lookupRecord(domain) {
        case .none: return Outcome(result: .none, detail: "no SPF record for \(domain)")
        case .some(let found): record = found
        }
        for directive in record.directives {
            if try await matches(directive.mechanism, context: context, state: &state, depth: depth) {
                let result: SPFResult = switch directive.qualifier {
                case .pass: .pass
                case .fail: .fail
                case .softfail: .softfail
                case .neutral: .neutral
                }
                var outcome = Outcome(result: result)
                if result == .fail, let exp = record.explanation {
                    outcome.explanation = await explanation(exp, context: context, state: &state)
                }
                return outcome
            }
        }
        if let redirect = record.redirect {
            try count(&state)
            let target = try await expandDomain(redirect, context: context, state: &state)
            let outcome = try await evaluate(domain: target, context: context, state: &state, depth: depth + 1)
            if outcome.result == .none { throw Stop(result: .permerror, detail: "redirect to \(target), which has no SPF record") }
            return outcome
        }
        return Outcome(result: .neutral)
    }

    /// The domain's one SPF record; nil when it has none.
    private func lookupRecord(_ domain: String) async throws -> SPFRecord? {
        let answer: DNSAnswer<[[[UInt8]]]>
        do {
            answer = try await resolver.txt(domain)
        } catch {
            throw Stop(result: .temperror, detail: "DNS: \(error.reason)")
        }
        let spf = (answer.records ?? []).map { Array($0.joined()) }.filter(SPFRecord.isSPF)
        guard !spf.isEmpty else { return nil }
        guard spf.count == 1 else { throw Stop(result: .permerror, detail: "\(domain) has more than one SPF record") }
        do {
            return try SPFRecord(parsing: String(decoding: spf[0], as: UTF8.self))
        } catch {
            throw Stop(result: .permerror, detail: "\(domain): \(error)")
        }
    }

    private func count(_ state: inout State) throws {
        state.lookups += 1
        if state.lookups > 10 { throw Stop(result: .permerror, detail: "more than 10 DNS-querying terms") }
    }

    private func void(_ state: inout State) throws {
        state.voidLookups += 1
        if state.voidLookups > 2 { throw Stop(result: .permerror, detail: "more than 2 lookups found nothing") }
    }

    private func expandDomain(_ spec: String?, context: SPFMacro.Context, state: inout State) async throws -> String {
        guard let spec else { return context.domain }
        var name: String
        let validated = spec.lowercased().contains("%{p") ? await validatedName(context, state: &state) : "unknown"
        do {
            name = try SPFMacro.expand(spec, context: context, explanation: false) { validated }
        } catch {
            throw Stop(result: .permerror, detail: "\(error)")
        }
        if name.hasSuffix(".") { name.removeLast() }
        // §7.3: longer than 253 bytes: labels dropped from the left.
        while name.utf8.count > 253, let dot = name.firstIndex(of: ".") { name = String(name[name.index(after: dot)...]) }
        return name
    }

    private func matches(_ mechanism: SPFRecord.Mechanism, context: SPFMacro.Context, state: inout State, depth: Int) async throws -> Bool {
        let client = context.client
        switch mechanism {
        case .all:
            return true
        case .ip4(let network, let length):
            return !client.isIPv6 && Self.contains(network, length, client.bytes)
        case .ip6(let network, let length):
            return client.isIPv6 && Self.contains(network, length, client.bytes)
        case .include(let spec):
            try count(&state)
            let target = try await expandDomain(spec, context: context, state: &state)
            let outcome = try await evaluate(domain: target, context: context, state: &state, depth: depth + 1)
            switch outcome.result {
            case .pass: return true
            case .fail, .softfail, .neutral: return false
            case .temperror: throw Stop(result: .temperror, detail: outcome.detail ?? "include \(target)")
            case .permerror, .none: throw Stop(result: .permerror, detail: outcome.detail ?? "include \(target) has no SPF record")
            }
        case .a(let spec, let v4, let v6):
            try count(&state)
            let target = try await expandDomain(spec, context: context, state: &state)
            let addresses = try await lookupAddresses(target, ipv6: client.isIPv6, state: &state)
            return addresses.contains { Self.contains($0.bytes, client.isIPv6 ? v6 : v4, client.bytes) }
        case .mx(let spec, let v4, let v6):
            try count(&state)
            let target = try await expandDomain(spec, context: context, state: &state)
            let exchangers: [DNSRecordData.MX]
            do {
                switch try await resolver.mx(target) {
                case .records(let found, _): exchangers = found
                case .noRecords, .nonexistentDomain:
                    try void(&state)
                    exchangers = []
                }
            } catch let failure as DNSFailure {
                throw Stop(result: .temperror, detail: "DNS: \(failure.reason)")
            }
            guard exchangers.count <= 10 else { throw Stop(result: .permerror, detail: "\(target) has more than 10 MX records") }
            for exchanger in exchangers where !exchanger.host.isEmpty {
                let addresses = try await lookupAddresses(exchanger.host, ipv6: client.isIPv6, state: &state, countsVoid: false)
                if addresses.contains(where: { Self.contains($0.bytes, client.isIPv6 ? v6 : v4, client.bytes) }) { return true }
            }
            return false
        case .ptr(let spec):
            try count(&state)
            let target = try await expandDomain(spec, context: context, state: &state).lowercased()
            let names = await validatedNames(client, state: &state)
            return names.contains { $0 == target || $0.hasSuffix("." + target) }
        case .exists(let spec):
            try count(&state)
            let target = try await expandDomain(spec, context: context, state: &state)
            // §5.7: an A lookup, whatever the client's family.
            return !(try await lookupAddresses(target, ipv6: false, state: &state)).isEmpty
        }
    }

    private func lookupAddresses(_ name: String, ipv6: Bool, state: inout State, countsVoid: Bool = true) async throws -> [IPAddress] {
        do {
            switch try await resolver.addresses(name, ipv6: ipv6) {
            case .records(let found, _): return found
            case .noRecords, .nonexistentDomain:
                if countsVoid { try void(&state) }
                return []
            }
        } catch let failure as DNSFailure {
            throw Stop(result: .temperror, detail: "DNS: \(failure.reason)")
        }
    }

    /// The client's names that resolve back to it (§5.5): at most 10 PTR names tried; lookup
    /// failures only drop names.
    private func validatedNames(_ client: IPAddress, state: inout State) async -> [String] {
        guard let names = try? await resolver.ptr(Self.reverseName(client)).records else { return [] }
        var valid: [String] = []
        for name in names.prefix(10) {
            if let addresses = try? await resolver.addresses(name, ipv6: client.isIPv6).records, addresses.contains(client) {
                valid.append(name.lowercased())
            }
        }
        return valid
    }

    /// `%{p}` (§7.3): a validated name of the client, the domain itself or a subdomain of it
    /// when there is one; "unknown" when none validates.
    private func validatedName(_ context: SPFMacro.Context, state: inout State) async -> String {
        if let known = state.validatedName { return known }
        let names = await validatedNames(context.client, state: &state)
        let domain = context.domain.lowercased()
        let chosen = names.first { $0 == domain } ?? names.first { $0.hasSuffix("." + domain) } ?? names.first ?? "unknown"
        state.validatedName = chosen
        return chosen
    }

    static func reverseName(_ address: IPAddress) -> String {
        if address.isIPv6 {
            return address.bytes.reversed().flatMap { [String($0 & 0x0F, radix: 16), String($0 >> 4, radix: 16)] }.joined(separator: ".") + ".ip6.arpa"
        }
        return address.bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa"
    }

    /// The explanation for a fail (§6.2): the TXT at the expanded `exp=` domain, expanded
    /// again; any problem means no explanation.
    private func explanation(_ spec: String, context: SPFMacro.Context, state: inout State) async -> String? {
        guard let target = try? await expandDomain(spec, context: context, state: &state),
              let records = try? await resolver.txt(target).records, records.count == 1 else { return nil }
        let text = String(decoding: records[0].joined(), as: UTF8.self)
        let name = text.lowercased().contains("%{p") ? await validatedName(context, state: &state) : "unknown"
        return try? SPFMacro.expand(text, context: context, explanation: true) { name }
    }

    static func contains(_ network: [UInt8], _ length: Int, _ address: [UInt8]) -> Bool {
        guard network.count == address.count else { return false }
        var remaining = length
        for (a, b) in zip(network, address) {
            if remaining <= 0 { return true }
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> bits)
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }
}
