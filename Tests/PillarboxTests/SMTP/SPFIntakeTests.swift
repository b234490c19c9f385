import Foundation
import TestSupport
import Testing

/// SPF on incoming mail, against a DNS server on loopback with the senders' records.
@Suite("SPF on incoming mail", .serialized)
struct SPFIntakeTests {
    static let dns = Result {
        try TestDNSServer(zones: ["example."], localData: [
            #"bank.example. IN TXT "v=spf1 ip4:192.0.2.0/24 -all""#,
            #"good.example. IN TXT "v=spf1 ip4:127.0.0.0/8 -all""#,
        ])
    }

    /// The reply to MAIL FROM, and to DATA when the sender got past it.
    func send(_ server: MailServerHarness, from: String, subject: String) async throws -> [String: Any] {
        try await server.python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            s.ehlo('client.good.example')
            code, text = s.mail('\(from)')
            out = {'mail': code, 'text': text.decode()}
            if code == 250:
                s.rcpt('alice@example.com')
                out['data'] = s.data('From: \(from)\\r\\nSubject: \(subject)\\r\\n\\r\\nbody\\r\\n')[0]
            s.quit()
            print(json.dumps(out))
            """).json
    }

    @Test("reject-fail refuses a forged sender with 550 5.7.23 and an IDS event; a passing one gets Authentication-Results")
    func rejectAndTag() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "dns.servers", #"["127.0.0.1:\#(try Self.dns.get().port)"]"#])
            try await server.cli(["settings", "set", "smtp.spf_policy", "reject-fail"])
            try await server.cli(["settings", "set", "ips.never_block", #"["127.0.0.1"]"#])
            try await server.start()

            let forged = try await send(server, from: "ceo@bank.example", subject: "forged")
            #expect(forged["mail"] as? Int == 550, "\(forged)")
            #expect((forged["text"] as? String)?.hasPrefix("5.7.23 SPF check failed for ceo@bank.example") == true, "\(forged)")
            let ids = try await eventually(within: .seconds(30), "the IDS event") { () -> String? in
                let events = try await server.cli(["ids", "list"])
                return events.contains("ceo@bank.example") ? events : nil
            }
            #expect(ids.contains("ceo@bank.example"))

            let good = try await send(server, from: "news@good.example", subject: "genuine")
            #expect(good["data"] as? Int == 250, "\(good)")
            let stored = try await eventually(within: .seconds(30), "alice's copy") { () -> String? in
                guard try await server.cli(["mail", "list", "alice"]).contains("\n1 ") else { return nil }
                let text = try await server.cli(["mail", "show", "alice", "1"])
                return text.contains("genuine") ? text : nil
            }
            #expect(stored.contains("Authentication-Results: mx.test.example;\r\n\tspf=pass\r\n\t\tsmtp.mailfrom=news@good.example\r\nReceived:"),
                    "\(stored)")
            #expect(try await server.cli(["log", "dump"]).contains(#""spf":"pass""#))
        }
    }
}
