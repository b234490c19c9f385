import DNS
import Foundation
import MailCore
import Testing

/// A real unbound server on loopback serving a static test zone, started once for the suite.
/// The zone is under `example.`: libunbound answers names under `test.` itself (one of its
/// default local zones, RFC 6761) and never asks the forwarder.
final class TestDNSServer: Sendable {
    let port: UInt16
    let process: Process
    let directory: String
    let lifeline = Pipe()

    static let shared: Result<TestDNSServer, any Error> = Result { try TestDNSServer() }

    init() throws {
        let binary = "/usr/sbin/unbound"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw Missing(description: "\(binary) is missing: install Debian's unbound (make test-deps does)")
        }
        directory = NSTemporaryDirectory() + "pillarbox-dns-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freeUDPPort()
        let config = """
            server:
              interface: 127.0.0.1
              port: \(port)
              do-daemonize: no
              chroot: ""
              username: ""
              directory: "\(directory)"
              pidfile: ""
              use-syslog: no
              logfile: ""
              do-ip6: no
              access-control: 127.0.0.0/8 allow
              module-config: "iterator"
              local-zone: "pillarbox.example." static
              local-data: "pillarbox.example. IN MX 10 mx1.pillarbox.example."
              local-data: "pillarbox.example. IN MX 20 mx2.pillarbox.example."
              local-data: "mx1.pillarbox.example. IN A 127.0.0.5"
              local-data: "mx2.pillarbox.example. IN A 127.0.0.6"
              local-data: "mx2.pillarbox.example. IN AAAA ::1"
              local-data: "nullmx.pillarbox.example. IN MX 0 ."
              local-data: 'pillarbox.example. IN TXT "v=spf1 " "-all"'
            remote-control:
              control-enable: no
            """
        try config.write(toFile: directory + "/unbound.conf", atomically: true, encoding: .utf8)
        // unbound runs under a shell that holds the read end of a pipe whose write end only this
        // process holds: when the test process exits, however it exits, the shell stops unbound.
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\"$0\" -d -c \"$1\" & server=$!; read ignored; kill $server", binary, directory + "/unbound.conf"]
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready once the socket is bound: unbound lists it in /proc/net/udp.
        let deadline = ContinuousClock.now + .seconds(20)
        while !Self.isBound(port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw Missing(description: "unbound did not start on 127.0.0.1:\(port)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    deinit {
        try? lifeline.fileHandleForWriting.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func freeUDPPort() throws -> UInt16 {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Missing(description: "no free UDP port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    static func isBound(_ port: UInt16) -> Bool {
        let table = (try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8)) ?? ""
        let hex = String(port, radix: 16, uppercase: true)
        return table.contains("0100007F:" + String(repeating: "0", count: 4 - hex.count) + hex)
    }
}

@Suite("Unbound resolver against a DNS server on loopback")
struct UnboundResolverTests {
    func resolver() throws -> UnboundResolver {
        let server = try TestDNSServer.shared.get()
        return try UnboundResolver(servers: ["127.0.0.1:\(server.port)"], timeout: .seconds(10))
    }

    @Test("MX, A, AAAA and TXT answers")
    func answers() async throws {
        let resolver = try resolver()
        let mx = try await resolver.mx("pillarbox.example").records
        #expect(Set(mx ?? []) == [.init(preference: 10, host: "mx1.pillarbox.example"), .init(preference: 20, host: "mx2.pillarbox.example")])
        #expect(try await resolver.addresses("mx2.pillarbox.example").records?.map(\.description) == ["127.0.0.6", "::1"])
        #expect(try await resolver.txt("pillarbox.example").records == [[Array("v=spf1 ".utf8), Array("-all".utf8)]])
    }

    @Test("no records, a name that does not exist, and the null MX")
    func absences() async throws {
        let resolver = try resolver()
        guard case .noRecords = try await resolver.mx("mx1.pillarbox.example") else { Issue.record("expected NODATA"); return }
        guard case .nonexistentDomain = try await resolver.mx("nothere.pillarbox.example") else { Issue.record("expected NXDOMAIN"); return }
        #expect(try await MailExchangers.destination(of: "nullmx.pillarbox.example", resolver: resolver) == .nullMX)
        #expect(try await MailExchangers.destination(of: "pillarbox.example", resolver: resolver)
                == .hosts(["mx1.pillarbox.example", "mx2.pillarbox.example"]))
    }

    @Test("a server that does not answer is a failure within the timeout, not a hang")
    func silentServer() async throws {
        let silent = try TestDNSServer.freeUDPPort()
        let resolver = try UnboundResolver(servers: ["127.0.0.1:\(silent)"], timeout: .seconds(3))
        await #expect(throws: DNSFailure.self) { try await resolver.mx("pillarbox.example") }
    }

    @Test("server addresses: IP, IP:PORT, [IPv6]:PORT; anything else is refused")
    func servers() {
        #expect(throws: Never.self) { try UnboundResolver(servers: ["192.0.2.1", "192.0.2.2:5353", "[2001:db8::1]:53", "2001:db8::2"]) }
        for bad in ["dns.example", "192.0.2.1:0", "192.0.2.1:x", "[2001:db8::1", "192.0.2.1:53:1"] {
            #expect(throws: UnboundResolver.ConfigurationError.self) { try UnboundResolver(servers: [bad]) }
        }
    }
}
