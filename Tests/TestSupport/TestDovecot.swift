import Foundation

/// A private Dovecot POP3 server playing an ISP for the collector tests: plain POP3 with STLS
/// and POP3S on loopback ports (and IMAP with STARTTLS and IMAPS when asked for), users from a passwd-file with plain-text passwords (so USER/PASS,
/// APOP, CRAM-MD5 and SASL PLAIN all work), maildirs under a temporary directory that a test
/// fills and reads. Stopped when the value goes (or the test process ends).
public final class TestDovecot: @unchecked Sendable {
    public let directory: String
    public let port: Int
    public let sslPort: Int
    /// IMAP (STARTTLS) and IMAPS, when started with `imap`.
    public private(set) var imapPort = 0
    public private(set) var imapsPort = 0
    /// The self-signed certificate the server presents (for `trusted_certificates`).
    public let certificate: String
    private let process: Process
    private let lifeline: Pipe
    private var delivered = 0

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// `users`: name → password.
    public init(users: [String: String], imap: Bool = false) async throws {
        let binary = "/usr/sbin/dovecot"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw Missing(description: "\(binary) is missing: install Debian's dovecot-pop3d (make test-deps does)")
        }
        directory = "/tmp/pbx-dovecot-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory + "/run", withIntermediateDirectories: true)
        certificate = directory + "/cert.pem"
        _ = try TestDNSServer.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pop.isp.example",
            "-addext", "subjectAltName=DNS:pop.isp.example,DNS:localhost,IP:127.0.0.1",
            "-keyout", directory + "/key.pem", "-out", certificate,
        ], in: directory)
        var passwd = ""
        for (user, password) in users.sorted(by: { $0.key < $1.key }) {
            passwd += "\(user):{PLAIN}\(password)::::::\n"
            for folder in ["new", "cur", "tmp"] {
                try FileManager.default.createDirectory(atPath: "\(directory)/home/\(user)/Maildir/\(folder)", withIntermediateDirectories: true)
            }
        }
        try passwd.write(toFile: directory + "/passwd", atomically: true, encoding: .utf8)
        let root = getuid() == 0
        let owner = root ? "dovecot" : String(cString: getpwuid(getuid())!.pointee.pw_name)
        let uid = root ? "dovecot" : "\(getuid())", gid = root ? "dovecot" : "\(getgid())"
        if imap && !FileManager.default.fileExists(atPath: "/usr/lib/dovecot/imap") {
            throw Missing(description: "Dovecot's IMAP server is missing: install Debian's dovecot-imapd (make test-deps does)")
        }
        var started: (Int, Int, Process, Pipe)?
        for _ in 0..<5 {
            let port = try Self.freeTCPPort(), sslPort = try Self.freeTCPPort()
            let imapPorts = imap ? (try Self.freeTCPPort(), try Self.freeTCPPort()) : (0, 0)
            let imapService = imap ? """
                service imap-login {
                  chroot =
                  inet_listener imap {
                    port = \(imapPorts.0)
                  }
                  inet_listener imaps {
                    port = \(imapPorts.1)
                    ssl = yes
                  }
                }
                """ : ""
            let config = """
                base_dir = \(directory)/run
                log_path = \(directory)/log
                protocols = pop3\(imap ? " imap" : "")
                listen = 127.0.0.1
                ssl = yes
                ssl_cert = <\(directory)/cert.pem
                ssl_key = <\(directory)/key.pem
                disable_plaintext_auth = no
                auth_mechanisms = plain login cram-md5 apop
                default_internal_user = \(owner)
                default_login_user = \(owner)
                passdb {
                  driver = passwd-file
                  args = \(directory)/passwd
                }
                userdb {
                  driver = static
                  args = uid=\(uid) gid=\(gid) home=\(directory)/home/%u
                }
                mail_location = maildir:~/Maildir
                first_valid_uid = 1
                service pop3-login {
                  chroot =
                  inet_listener pop3 {
                    port = \(port)
                  }
                  inet_listener pop3s {
                    port = \(sslPort)
                    ssl = yes
                  }
                }
                service anvil {
                  chroot =
                }
                \(imapService)

                """
            try config.write(toFile: directory + "/dovecot.conf", atomically: true, encoding: .utf8)
            if root { _ = try TestDNSServer.run("/bin/chown", ["-R", "dovecot:dovecot", directory + "/home"], in: directory) }
            let lifeline = Pipe()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", """
                "$0" -F -c "$1" > /dev/null 2>&1 & server=$!
                while kill -0 $server 2>/dev/null; do read -t 1 ignored; [ $? -gt 128 ] || break; done
                pkill -KILL -P $server 2>/dev/null; kill -KILL $server 2>/dev/null
                """, binary, directory + "/dovecot.conf"]
            process.standardInput = lifeline
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Ready once both listeners take connections; a Dovecot that did not start (a port
            // taken meanwhile) is stopped and another pair of ports tried.
            let listening = try? await eventually(within: .seconds(20), "dovecot listening on \(port) and \(sslPort)") {
                Self.accepts(port) && Self.accepts(sslPort) && (!imap || Self.accepts(imapPorts.0) && Self.accepts(imapPorts.1)) ? true : nil
            }
            if listening == true {
                started = (port, sslPort, process, lifeline)
                (imapPort, imapsPort) = imapPorts
                break
            }
            try? lifeline.fileHandleForWriting.close()
            process.terminate()
        }
        guard let started else {
            let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
            throw Missing(description: "dovecot did not start: \(log.suffix(2_000))")
        }
        (port, sslPort, process, lifeline) = started
    }

    /// Puts a message in `user`'s mailbox, as a maildir file; the file's name is returned.
    @discardableResult
    public func deliver(_ message: String, to user: String) throws -> String {
        delivered += 1
        let name = "\(Int(Date().timeIntervalSince1970)).M\(delivered)P\(getpid()).isp"
        // Written in tmp/ and renamed into new/, as Maildir delivery does: a session in IDLE may
        // move a file from new/ to cur/ the moment it shows there.
        let maildir = "\(directory)/home/\(user)/Maildir"
        let staged = "\(maildir)/tmp/\(name)"
        FileManager.default.createFile(atPath: staged, contents: Data(message.utf8))
        if getuid() == 0 { _ = try TestDNSServer.run("/bin/chown", ["dovecot:dovecot", staged], in: directory) }
        guard rename(staged, "\(maildir)/new/\(name)") == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return name
    }

    /// How many messages `user`'s mailbox holds.
    public func count(_ user: String) -> Int {
        ["new", "cur"].reduce(0) { total, folder in
            total + ((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/home/\(user)/Maildir/\(folder)"))?
                .filter { !$0.hasPrefix(".") }.count ?? 0)
        }
    }

    public var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    public func stop() {
        try? lifeline.fileHandleForWriting.close()
    }

    deinit {
        try? lifeline.fileHandleForWriting.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func freeTCPPort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw Missing(description: "no free TCP port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
