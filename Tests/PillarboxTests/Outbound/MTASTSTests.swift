import Foundation
import TestSupport
import Testing

/// An HTTPS server on 127.0.0.9:443 serving MTA-STS policies by the request's host name:
/// argv[1] is JSON of host → [status, content type, body]; argv[2] and argv[3] its certificate
/// and key. What is posted to it is a JSON line (path, type, body in base64) in argv[4].
let policyServer = #"""
import base64, http.server, ssl
policies = json.loads(sys.argv[1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        with open(sys.argv[4], 'a') as log:
            log.write(json.dumps({'path': self.path, 'type': self.headers.get('Content-Type'),
                                  'body': base64.b64encode(body).decode()}) + '\n')
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def do_GET(self):
        host = (self.headers.get('Host') or '').split(':')[0].lower()
        entry = policies.get(host)
        if entry is None or self.path != '/.well-known/mta-sts.txt':
            self.send_response(404)
            self.end_headers()
            return
        status, content_type, body = entry
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        if status in (301, 302):
            self.send_header('Location', 'https://mta-sts.sts.example/.well-known/mta-sts.txt')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *arguments):
        pass

server = http.server.ThreadingHTTPServer(('127.0.0.9', 443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(json.dumps({'ready': True}), flush=True)
server.serve_forever()
"""#

/// A test CA (`ca.crt`, `ca.key` in the server's data directory) and, for each entry,
/// `<file>.crt` and `<file>.key` issued by it for the names given.
func issueCertificates(in server: MailServerHarness, _ certificates: [String: [String]]) async throws {
    let directory = server.dataDirectory
    var steps: [[String]] = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Pillarbox Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", directory + "/ca.key", "-out", directory + "/ca.crt"],
    ]
    for (file, names) in certificates.sorted(by: { $0.key < $1.key }) {
        steps += [
            ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(names.first ?? file)",
             "-addext", "subjectAltName=" + names.map { "DNS:" + $0 }.joined(separator: ","),
             "-keyout", directory + "/\(file).key", "-out", directory + "/\(file).csr"],
            ["x509", "-req", "-in", directory + "/\(file).csr", "-CA", directory + "/ca.crt", "-CAkey", directory + "/ca.key",
             "-CAcreateserial", "-days", "1", "-copy_extensions", "copyall", "-out", directory + "/\(file).crt"],
        ]
    }
    for arguments in steps {
        let result = try await server.tool("/usr/bin/openssl", arguments)
        #expect(result.status == 0, "openssl \(arguments.first ?? ""): \(result.errors)")
    }
}

/// What the transport security tests do with the sending server.
extension MailServerHarness {
    /// Sends one message from alice through the MX listener (the tests let 127.0.0.1 relay).
    func sendFromAlice(to recipient: String, subject: String) async throws {
        _ = try await python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            s.sendmail('alice@example.com', ['\(recipient)'], 'From: alice@example.com\\r\\nTo: \(recipient)\\r\\nSubject: \(subject)\\r\\n\\r\\nbody of \(subject)\\r\\n')
            s.quit()
            print(json.dumps({}))
            """)
    }

    /// The recipient's queue state and last reply, once it is `status`.
    func recipientStatus(subject: String, reaching status: String) async throws -> String {
        try await eventually(within: .seconds(60), "\(subject) \(status)") { () -> String? in
            let rows = try await query("""
                SELECT r.status, coalesce(r.lastreply, '') FROM outqueue.outrecipients r
                JOIN outqueue.outmessages m USING (msgid) WHERE m.subject = '\(subject)'
                """)
            guard let row = rows.first, row[0] == status else { return nil }
            return row[1]
        }
    }

    /// The `transportPolicy` of the message's last `delivery_attempted`, as JSON.
    func transportPolicy(subject: String) async throws -> [String: Any] {
        let id = try #require(try await query("SELECT msgid FROM outqueue.outmessages WHERE subject = '\(subject)'").first?.first)
        let line = try #require(try await cli(["log", "dump"]).split(separator: "\n")
            .last { $0.contains("\"delivery_attempted\"") && $0.contains(id) })
        let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return (event["data"] as? [String: Any])?["transportPolicy"] as? [String: Any] ?? [:]
    }
}

/// MTA-STS (RFC 8461) on outbound mail: policies served over HTTPS on loopback, MX hosts on
/// the STARTTLS receiving server of the delivery tests, certificates from a test CA.
@Suite("MTA-STS on outbound delivery", .serialized)
struct MTASTSTests {
    static let dns = Result {
        var records: [String] = []
        for domain in ["sts", "wrongmx", "testing", "untrusted", "redirect", "badtype"] {
            records += [
                "\(domain).example. IN MX 10 mx.\(domain).example.",
                "mx.\(domain).example. IN A 127.0.0.6",
                #"_mta-sts.\#(domain).example. IN TXT "v=STSv1; id=20261205T1;""#,
                "mta-sts.\(domain).example. IN A 127.0.0.9",
            ]
        }
        // Where TLS reports go: sts.example's by mail, wrongmx.example's posted over HTTPS.
        records += [
            #"_smtp._tls.sts.example. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@example.com""#,
            #"_smtp._tls.wrongmx.example. IN TXT "v=TLSRPTv1;rua=https://mta-sts.sts.example/tlsrpt""#,
        ]
        return try TestDNSServer(zones: ["example."], localData: records)
    }

    static func policy(_ mode: String, mx: [String]) -> String {
        (["version: STSv1", "mode: \(mode)"] + mx.map { "mx: \($0)" } + ["max_age: 86400"]).joined(separator: "\r\n") + "\r\n"
    }

    func failures(_ policy: [String: Any]) -> [String] {
        (policy["failures"] as? [[String: Any]] ?? []).compactMap { $0["result"] as? String }
    }

    @Test("enforce: a named MX with a valid certificate gets the mail; an MX the policy does not name or whose certificate is for another name does not; testing is recorded only")
    func policies() async throws {
        let dns = try Self.dns.get()
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            // The MX hosts' certificate does not name mx.untrusted.example.
            try await issueCertificates(in: server, [
                "mx": ["sts", "wrongmx", "testing", "redirect", "badtype"].map { "mx.\($0).example" },
                "policy": ["sts", "wrongmx", "testing", "untrusted", "redirect", "badtype"].map { "mta-sts.\($0).example" },
            ])
            let directory = server.dataDirectory
            let log = directory + "/sink.jsonl"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let (sink, port) = try await server.startPeer(receivingServers, [log, directory + "/mx.crt", directory + "/mx.key"])
            defer { sink.signal(SIGKILL) }
            let policies: [String: [Any]] = [
                "mta-sts.sts.example": [200, "text/plain", Self.policy("enforce", mx: ["mx.sts.example"])],
                "mta-sts.wrongmx.example": [200, "text/plain", Self.policy("enforce", mx: ["mx.elsewhere.example", "*.other.example"])],
                "mta-sts.testing.example": [200, "text/plain; charset=utf-8", Self.policy("testing", mx: ["mx.elsewhere.example"])],
                "mta-sts.untrusted.example": [200, "text/plain", Self.policy("enforce", mx: ["*.untrusted.example"])],
                "mta-sts.redirect.example": [302, "text/plain", ""],
                "mta-sts.badtype.example": [200, "text/html", Self.policy("enforce", mx: ["mx.elsewhere.example"])],
            ]
            let table = String(decoding: try JSONSerialization.data(withJSONObject: policies), as: UTF8.self)
            let posted = directory + "/posted.jsonl"
            let https = try server.startPython(policyServer, [table, directory + "/policy.crt", directory + "/policy.key", posted])
            defer { https.signal(SIGKILL) }
            _ = try await eventually(within: .seconds(30), "the policy server") { https.output.contains("ready") ? true : nil }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#, "dns.servers", #"["127.0.0.1:\#(dns.port)"]"#,
                                  "outqueue.remote_port", "\(port)", "outqueue.reply_timeout_percent", "1",
                                  "outqueue.connect_timeout_seconds", "3", "outqueue.trusted_certificates", directory + "/ca.crt"])
            try await server.start()

            // Enforced and met: over TLS, the certificate checked for mx.sts.example.
            try await server.sendFromAlice(to: "bob@sts.example", subject: "to-sts")
            _ = try await server.recipientStatus(subject: "to-sts", reaching: "delivered")
            let delivered = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { ($0["data"] as? String)?.contains("body of to-sts") == true }
            #expect(delivered.count == 1 && delivered.first?["tls"] as? Bool == true)
            let met = try await server.transportPolicy(subject: "to-sts")
            #expect(met["kind"] as? String == "sts" && met["mode"] as? String == "enforce" && met["id"] as? String == "20261205T1")
            #expect(met["successes"] as? Int == 1 && failures(met).isEmpty, "\(met)")
            #expect((met["policy"] as? [String])?.contains("mx: mx.sts.example") == true)

            // Enforced, the MX not named: not sent, deferred.
            try await server.sendFromAlice(to: "bob@wrongmx.example", subject: "to-wrongmx")
            let wrong = try await server.recipientStatus(subject: "to-wrongmx", reaching: "deferred")
            #expect(wrong.contains("4.7.5") && wrong.contains("MTA-STS"), "\(wrong)")
            #expect(failures(try await server.transportPolicy(subject: "to-wrongmx")) == ["validation-failure"])

            // Enforced, the certificate names other hosts: not sent, deferred.
            try await server.sendFromAlice(to: "bob@untrusted.example", subject: "to-untrusted")
            let untrusted = try await server.recipientStatus(subject: "to-untrusted", reaching: "deferred")
            #expect(untrusted.contains("4.7.5"), "\(untrusted)")
            let mismatch = try await server.transportPolicy(subject: "to-untrusted")
            #expect(failures(mismatch) == ["certificate-host-mismatch"], "\(mismatch)")
            #expect(mismatch["successes"] as? Int == 0)

            // Testing: the failure is recorded and the mail goes.
            try await server.sendFromAlice(to: "bob@testing.example", subject: "to-testing")
            _ = try await server.recipientStatus(subject: "to-testing", reaching: "delivered")
            let testing = try await server.transportPolicy(subject: "to-testing")
            #expect(testing["mode"] as? String == "testing" && failures(testing) == ["validation-failure"], "\(testing)")

            // A policy that cannot be had (a redirect, the wrong type): delivered as without one, recorded.
            try await server.sendFromAlice(to: "bob@redirect.example", subject: "to-redirect")
            _ = try await server.recipientStatus(subject: "to-redirect", reaching: "delivered")
            #expect(failures(try await server.transportPolicy(subject: "to-redirect")) == ["sts-policy-fetch-error"])
            try await server.sendFromAlice(to: "bob@badtype.example", subject: "to-badtype")
            _ = try await server.recipientStatus(subject: "to-badtype", reaching: "delivered")
            #expect(failures(try await server.transportPolicy(subject: "to-badtype")) == ["sts-policy-invalid"])

            // The day's TLS reports (RFC 8460).
            let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
            _ = try await eventually(within: .seconds(30), "the sessions in the tlsrpt projection") { () -> String? in
                let rows = try await server.cli(["tlsrpt", "policies", "--day", today])
                return rows.contains("wrongmx.example") && rows.contains("badtype.example") ? rows : nil
            }
            let sent = try await server.cli(["tlsrpt", "send", "--day", today])
            #expect(sent.contains("mailto:postmaster@example.com") && sent.contains("https://mta-sts.sts.example/tlsrpt"), "\(sent)")
            #expect(sent.contains("_smtp._tls.testing.example: no TLSRPT record"), "\(sent)")
            #expect(try await server.cli(["tlsrpt", "send", "--day", today]).split(separator: "\n").count == 1, "made once only")
            let mailed = try await eventually(within: .seconds(30), "the report in postmaster's INBOX") { () -> String? in
                guard try await server.cli(["mail", "list", "postmaster"]).contains("\n1 ") else { return nil }
                return try await server.cli(["mail", "show", "postmaster", "1"])
            }
            #expect(mailed.contains("Subject: Report Domain: sts.example Submitter: mx.test.example"), "\(mailed)")
            #expect(mailed.contains("TLS-Report-Domain: sts.example"))
            let path = directory + "/tlsrpt.eml"
            try mailed.write(toFile: path, atomically: true, encoding: .utf8)
            let mailedJSON = try await server.python("""
                import email, email.policy, gzip
                message = email.message_from_binary_file(open('\(path)', 'rb'), policy=email.policy.default)
                assert message.get_content_type() == 'multipart/report' and message.get_param('report-type') == 'tlsrpt'
                part = next(p for p in message.walk() if p.get_content_type() == 'application/tlsrpt+gzip')
                assert part.get_filename().startswith('mx.test.example!sts.example!') and part.get_filename().endswith('.json.gz')
                print(gzip.decompress(part.get_payload(decode=True)).decode(), end='')
                """).json
            let stsPolicy = try #require((mailedJSON["policies"] as? [[String: Any]])?.first)
            #expect((stsPolicy["policy"] as? [String: Any])?["policy-type"] as? String == "sts")
            #expect((stsPolicy["policy"] as? [String: Any])?["mx-host"] as? [String] == ["mx.sts.example"])
            #expect((stsPolicy["summary"] as? [String: Any])?["total-successful-session-count"] as? Int == 1, "\(mailedJSON)")
            #expect((stsPolicy["summary"] as? [String: Any])?["total-failure-session-count"] as? Int == 0)
            #expect((mailedJSON["date-range"] as? [String: Any])?["start-datetime"] as? String == "\(today)T00:00:00Z")
            let postedLine = try #require(try String(contentsOfFile: posted, encoding: .utf8).split(separator: "\n").first)
            let postedRequest = try #require(try JSONSerialization.jsonObject(with: Data(postedLine.utf8)) as? [String: Any])
            #expect(postedRequest["path"] as? String == "/tlsrpt" && postedRequest["type"] as? String == "application/tlsrpt+gzip")
            try Data(base64Encoded: postedRequest["body"] as? String ?? "")?.write(to: URL(fileURLWithPath: directory + "/posted.json.gz"))
            let postedJSON = try await server.python("""
                import gzip
                print(gzip.decompress(open('\(directory)/posted.json.gz', 'rb').read()).decode(), end='')
                """).json
            let wrongPolicy = try #require((postedJSON["policies"] as? [[String: Any]])?.first)
            let detail = try #require((wrongPolicy["failure-details"] as? [[String: Any]])?.first)
            #expect(detail["result-type"] as? String == "validation-failure" && detail["receiving-mx-hostname"] as? String == "mx.wrongmx.example",
                    "\(postedJSON)")
            #expect((wrongPolicy["summary"] as? [String: Any])?["total-successful-session-count"] as? Int == 0)

            // The fetched policies are facts; a restarted server holds them without fetching again.
            let fetched = try await server.cli(["log", "dump"]).split(separator: "\n").filter { $0.contains("\"mta_sts_policy_fetched\"") }
            #expect(fetched.count == 4, "sts, wrongmx, untrusted, testing")
            https.signal(SIGKILL)
            await server.stop()
            try await server.start()
            try await server.sendFromAlice(to: "carol@wrongmx.example", subject: "after-restart")
            let held = try await server.recipientStatus(subject: "after-restart", reaching: "deferred")
            #expect(held.contains("MTA-STS"), "the held policy still applies with its server gone: \(held)")
        }
    }
}
