import Foundation
import Synchronization

/// A real unbound server on loopback serving static test zones.
/// The zone is under `example.`: libunbound answers names under `test.` itself (one of its
/// default local zones, RFC 6761) and never asks the forwarder.
public final class TestDNSServer: Sendable {
    public let port: UInt16
    let process: Process
    let directory: String
    let lifeline: Pipe

    /// A file of the DNSSEC trust anchor for a signed zone's key (a DNSKEY record), for the
    /// resolver under test; nil for unsigned zones.
    public let trustAnchor: String?

    /// `localData`: unbound `local-data` records, e.g. `example. IN MX 10 mx.example.`; every
    /// zone named is served statically (a name without records is NXDOMAIN).
    public convenience init(zones: [String], localData: [String]) throws {
        try self.init { _ in
            var config = ""
            for zone in zones { config += "  local-zone: \"\(zone)\" static\n" }
            for record in localData { config += "  local-data: '\(record)'\n" }
            return (config, nil)
        }
    }

    /// One zone signed with DNSSEC (a new ECDSA P-256 key, by ldns-keygen and ldns-signzone
    /// from Debian's ldnsutils), served with its signatures; `trustAnchor` holds its key.
    /// `records` in zone-file form with absolute names.
    public convenience init(signedZone zone: String, records: [String]) throws {
        try self.init { directory in
            let zoneFile = directory + "/zone"
            try ([
                "$TTL 300",
                "\(zone) IN SOA ns.\(zone) hostmaster.\(zone) 1 3600 600 86400 300",
                "\(zone) IN NS ns.\(zone)",
                "ns.\(zone) IN A 127.0.0.1",
            ] + records).joined(separator: "\n").appending("\n").write(toFile: zoneFile, atomically: true, encoding: .utf8)
            let key = try Self.run("/usr/bin/ldns-keygen", ["-a", "ECDSAP256SHA256", "-k", zone], in: directory)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try Self.run("/usr/bin/ldns-signzone", [zoneFile, key], in: directory)
            let config = """
                auth-zone:
                  name: "\(zone)"
                  zonefile: "\(zoneFile).signed"
                  for-downstream: yes
                  for-upstream: no

                """
            return (config, directory + "/" + key + ".key")
        }
    }

    /// Starts unbound with the server section every test server has, then what `configure`
    /// adds for the directory it is given.
    private init(_ configure: (String) throws -> (config: String, trustAnchor: String?)) throws {
        let binary = "/usr/sbin/unbound"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw Missing(description: "\(binary) is missing: install Debian's unbound (make test-deps does)")
        }
        directory = NSTemporaryDirectory() + "pillarbox-dns-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (added, trustAnchor) = try configure(directory)
        self.trustAnchor = trustAnchor
        // A port no other server of this process was given, and that nothing holds now. A
        // socket may still take it before unbound does: then unbound exits, and another port
        // is tried.
        var started: (port: UInt16, process: Process, lifeline: Pipe)?
        for _ in 0..<5 {
            var port = try Self.freeUDPPort()
            while !Self.claim(port) || Self.isBound(port, anyAddress: true) { port = try Self.freeUDPPort() }
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

                """ + added + "remote-control:\n  control-enable: no\n"
            try config.write(toFile: directory + "/unbound.conf", atomically: true, encoding: .utf8)
            // unbound runs under a shell that holds the read end of a pipe whose write end only
            // this process holds: when the test process exits, however it exits, the shell stops
            // unbound; and the shell ends when unbound does.
            // A pipe per attempt: starting a process closes the parent's copy of its read end.
            let lifeline = Pipe()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", """
                "$0" -d -c "$1" & server=$!
                while kill -0 $server 2>/dev/null; do read -t 1 ignored; [ $? -gt 128 ] || break; done
                kill $server 2>/dev/null
                """, binary, directory + "/unbound.conf"]
            process.standardInput = lifeline
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Ready once the socket is bound: unbound lists it in /proc/net/udp.
            let deadline = ContinuousClock.now + .seconds(20)
            while !Self.isBound(port) && process.isRunning && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.02)
            }
            if Self.isBound(port) && process.isRunning {
                started = (port, process, lifeline)
                break
            }
            try? lifeline.fileHandleForWriting.close()
            process.terminate()
        }
        guard let started else { throw Missing(description: "unbound did not start on 127.0.0.1") }
        self.port = started.port
        self.process = started.process
        self.lifeline = started.lifeline
    }

    /// Runs a tool to its end in `directory`; its standard output, or an error naming it.
    static func run(_ tool: String, _ arguments: [String], in directory: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw Missing(description: "\(tool) is missing: install Debian's ldnsutils (make test-deps does)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Missing(description: "\(tool) \(arguments) failed") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Stops the server now (the process's exit stops it otherwise).
    public func stop() {
        try? lifeline.fileHandleForWriting.close()
    }

    deinit {
        try? lifeline.fileHandleForWriting.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    public static func freeUDPPort() throws -> UInt16 {
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

    private static let claimed = Mutex<Set<UInt16>>([])

    /// Whether `port` was not handed to a server of this process before (it is now).
    static func claim(_ port: UInt16) -> Bool {
        claimed.withLock { $0.insert(port).inserted }
    }

    /// Whether a UDP socket is bound to `port` on 127.0.0.1 or, with `anyAddress`, on any
    /// address (a resolver's query socket on 0.0.0.0 keeps unbound from binding the port too).
    static func isBound(_ port: UInt16, anyAddress: Bool = false) -> Bool {
        let hex = String(port, radix: 16, uppercase: true)
        let suffix = ":" + String(repeating: "0", count: 4 - hex.count) + hex
        for file in ["/proc/net/udp", "/proc/net/udp6"] {
            let table = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            for line in table.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 1 else { continue }
                let local = fields[1]
                if anyAddress ? local.hasSuffix(suffix) : local == "0100007F" + suffix { return true }
            }
        }
        return false
    }
}

