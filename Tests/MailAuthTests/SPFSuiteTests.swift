import DNS
import Foundation
import MailAuth
import MailCore
import Testing

/// A resolver over one scenario's zone data from the RFC 7208 test suite: records by name and
/// type; `TIMEOUT` makes every query of a type the name has no records of fail.
struct ZoneResolver: Resolver {
    enum Value: Sendable {
        case text(String)
        case strings([String])
        case mx(Int, String)

        init?(_ any: Any) {
            if let text = any as? String { self = .text(text) }
            else if let pair = any as? [Any], pair.count == 2, let preference = pair[0] as? Int, let host = pair[1] as? String {
                self = .mx(preference, host)
            } else if let parts = any as? [String] { self = .strings(parts) }
            else { return nil }
        }
    }

    var records: [String: [String: [Value]]] = [:]
    var timeouts: Set<String> = []

    private func find(_ name: String, _ type: String) throws(DNSFailure) -> [Value]? {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        // CNAMEs followed (a few steps).
        for _ in 0..<5 {
            if case .text(let target) = records[name]?["CNAME"]?.first, records[name]?[type] == nil {
                name = target.lowercased()
                continue
            }
            break
        }
        // A TXT of "NONE" is the suite's way of saying there is none.
        if let found = records[name]?[type]?.filter({ if case .text("NONE") = $0 { false } else { true } }), !found.isEmpty {
            return found
        }
        if timeouts.contains(name) { throw DNSFailure(name: name, reason: "timeout") }
        return records[name] == nil ? nil : []
    }

    private func answer<T>(_ name: String, _ type: String, _ map: (Value) -> T?) throws(DNSFailure) -> DNSAnswer<[T]> {
        guard let found = try find(name, type) else { return .nonexistentDomain }
        let mapped = found.compactMap(map)
        return mapped.isEmpty ? .noRecords : .records(mapped, secure: false)
    }

    func mx(_ domain: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.MX]> {
        try answer(domain, "MX") { value in
            guard case .mx(let preference, let host) = value else { return nil }
            var name = host.lowercased()
            if name.hasSuffix(".") { name.removeLast() }
            return DNSRecordData.MX(preference: UInt16(preference), host: name)
        }
    }

    func addresses(_ host: String) async throws(DNSFailure) -> DNSAnswer<[IPAddress]> {
        let v4 = try await addresses(host, ipv6: false), v6 = try await addresses(host, ipv6: true)
        let all = (v4.records ?? []) + (v6.records ?? [])
        if all.isEmpty, case .nonexistentDomain = v4 { return .nonexistentDomain }
        return all.isEmpty ? .noRecords : .records(all, secure: false)
    }

    func addresses(_ host: String, ipv6: Bool) async throws(DNSFailure) -> DNSAnswer<[IPAddress]> {
        try answer(host, ipv6 ? "AAAA" : "A") { value in
            guard case .text(let text) = value else { return nil }
            return IPAddress(text)
        }
    }

    func txt(_ name: String) async throws(DNSFailure) -> DNSAnswer<[[[UInt8]]]> {
        try answer(name, "TXT") { value in
            switch value {
            case .text(let text): return text == "NONE" ? nil : [Array(text.utf8)]
            case .strings(let parts): return parts.map { Array($0.utf8) }
            case .mx: return nil
            }
        }
    }

    func ptr(_ name: String) async throws(DNSFailure) -> DNSAnswer<[String]> {
        try answer(name, "PTR") { value in
            guard case .text(let text) = value else { return nil }
            return text.hasSuffix(".") ? String(text.dropLast()) : text
        }
    }

    /// SPF's suite has no TLSA records.
    func tlsa(_ name: String) async throws(DNSFailure) -> DNSAnswer<[DNSRecordData.TLSA]> { .noRecords }
}

/// RFC 7208's test suite (the openspf.org YAML that Debian's python3-spf ships), every case
/// run against the evaluator with its zone data.
@Suite("SPF: the RFC 7208 test suite")
struct SPFSuiteTests {
    static let suite = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"

    /// The suite as JSON, by python3's yaml module.
    static func scenarios() throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", """
            import gzip, json, sys, yaml
            print(json.dumps(list(yaml.safe_load_all(gzip.open(sys.argv[1], 'rt')))))
            """, suite]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "reading \(suite) (python3-spf and python3-yaml installed?)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    static func resolver(_ zone: [String: Any]) -> ZoneResolver {
        var resolver = ZoneResolver()
        for (rawName, entries) in zone {
            let name = rawName.lowercased().hasSuffix(".") ? String(rawName.lowercased().dropLast()) : rawName.lowercased()
            var byType: [String: [ZoneResolver.Value]] = resolver.records[name] ?? [:]
            for entry in entries as? [Any] ?? [] {
                if let marker = entry as? String, marker == "TIMEOUT" {
                    resolver.timeouts.insert(name)
                    continue
                }
                guard let record = entry as? [String: Any] else { continue }
                for (type, value) in record {
                    // A list of addresses is several records; a list of strings is one TXT.
                    if !["TXT", "SPF", "MX"].contains(type), let list = value as? [Any] {
                        byType[type, default: []] += list.compactMap(ZoneResolver.Value.init)
                    } else if let parsed = ZoneResolver.Value(value) {
                        byType[type, default: []].append(parsed)
                    }
                }
            }
            // As the suite's drivers do: SPF-type records stand for TXT ones where a name lists
            // no TXT (a TXT of "NONE" says it has none).
            if let spf = byType.removeValue(forKey: "SPF"), byType["TXT"] == nil { byType["TXT"] = spf }
            resolver.records[name] = byType
        }
        return resolver
    }

    @Test("every case gives one of its expected results")
    func suite() async throws {
        var failures: [String] = []
        var explained = 0, total = 0
        for scenario in try Self.scenarios() {
            let resolver = Self.resolver(scenario["zonedata"] as? [String: Any] ?? [:])
            var evaluator = SPFEvaluator(resolver: resolver)
            evaluator.receiver = "receiver.example"
            for (name, test) in (scenario["tests"] as? [String: [String: Any]] ?? [:]).sorted(by: { $0.key < $1.key }) {
                total += 1
                let expected = (test["result"] as? [String]) ?? [(test["result"] as? String) ?? "?"]
                guard let client = IPAddress(test["host"] as? String ?? "") else {
                    failures.append("\(name): bad host")
                    continue
                }
                let outcome = await evaluator.check(client: client, sender: test["mailfrom"] as? String ?? "",
                                                    helo: test["helo"] as? String ?? "")
                if !expected.contains(outcome.result.rawValue) {
                    failures.append("\(name): \(outcome.result.rawValue) (\(outcome.detail ?? "")), expected \(expected)")
                }
                // "DEFAULT" is whatever the implementation says by default; hex digits of IPv6
                // nibbles may come in either case.
                if let explanation = test["explanation"] as? String, explanation != "DEFAULT", outcome.result == .fail {
                    if outcome.explanation?.lowercased() == explanation.lowercased() { explained += 1 } else {
                        failures.append("\(name): explanation \(outcome.explanation ?? "none"), expected \(explanation)")
                    }
                }
            }
        }
        #expect(total > 200)
        #expect(explained > 10)
        #expect(failures.isEmpty, "\(failures.count) of \(total):\n\(failures.joined(separator: "\n"))")
    }
}

