import Foundation
import TestSupport
import Testing

/// Global header modifiers: mail from local users leaves with its header rewritten and signed
/// over the rewrite; mail passed on for outside senders leaves as it came.
@Suite("Global header modifiers for outgoing mail")
struct HeaderModifierTests {
    @Test("a local user's mail leaves with fields added, removed and replaced, signed with DKIM over the new header; an outsider's forwarded mail untouched")
    func modifiers() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (log, sink) = try await server.relayingToSink()
            defer { sink.signal(SIGKILL) }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
            try await server.cli(["settings", "set", "outqueue.header_modifiers", #"""
                ["remove X-Originating-*", "remove x-mailer", "replace Organization: Example Ltd", "add X-Company-Policy: checked"]
                """#])
            try await server.cli(["dkim", "keygen", "example.com", "sel2026"])
            try await server.cli(["user", "forward", "bob", "friend@far.example"])
            let keys = try #require(try JSONSerialization.jsonObject(with: Data(try await server.cli(["settings", "get", "dkim.keys"]).utf8))
                as? [[String: Any]])
            let record = try #require(keys.first?["record"] as? String)
            // A bad line is refused, naming it.
            let refused = try await PillarboxBinary.run(["settings", "set", "outqueue.header_modifiers", #"["remove From"]"#]
                + server.databaseArguments)
            #expect(refused.status != 0 && refused.errors.contains("needs its From"), "\(refused.errors)")
            try await server.start()

            _ = try await server.python("""
                import smtplib
                def send(sender, recipient, subject, source):
                    message = ('From: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\nX-Mailer: Client 9\\r\\nX-Originating-IP: [192.0.2.7]\\r\\n'
                               'Organization: Old Name,\\r\\n folded\\r\\n\\r\\nbody of %s\\r\\n' % (sender, recipient, subject, subject)).encode()
                    s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30, source_address=(source, 0))
                    s.sendmail(sender, [recipient], message)
                    s.quit()
                send('alice@example.com', 'friend@far.example', 'from alice', '127.0.0.1')
                send('someone@remote.example', 'bob@example.com', 'from outside', '127.0.0.9')
                print(json.dumps({}))
                """)
            let output = try await eventually(within: .seconds(60), "both at the sink") { () -> String? in
                let verified = try await server.python("""
                    import dkim
                    entries = [json.loads(line) for line in open('\(log)')]
                    def dns(name, timeout=5):
                        return b'\(record)' if name.decode() == 'sel2026._domainkey.example.com.' else None
                    found = {}
                    for e in entries:
                        data = e['data'].encode()
                        key = 'alice' if b'body of from alice' in data else 'outside'
                        found[key] = {'data': e['data'], 'from': e['from'], 'dkim': bool(dkim.verify(data, dnsfunc=dns))}
                    print(json.dumps(found))
                    """)
                return try verified.json.count == 2 ? verified.output : nil
            }
            let result = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let alice = try #require(result["alice"] as? [String: Any])
            let aliceData = try #require(alice["data"] as? String)
            #expect(!aliceData.contains("X-Mailer") && !aliceData.contains("X-Originating-IP") && !aliceData.contains("Old Name"), "\(aliceData)")
            #expect(aliceData.contains("Organization: Example Ltd\r\n") && aliceData.contains("X-Company-Policy: checked\r\n"), "\(aliceData)")
            #expect(aliceData.contains("DKIM-Signature:") && alice["dkim"] as? Bool == true, "\(aliceData)")
            let outside = try #require(result["outside"] as? [String: Any])
            let outsideData = try #require(outside["data"] as? String)
            #expect(outsideData.contains("X-Mailer: Client 9") && outsideData.contains("Organization: Old Name,\r\n folded")
                    && !outsideData.contains("X-Company-Policy"), "\(outsideData)")
            try await server.cli(["verify"])
        }
    }
}
