import Foundation
import TestSupport
import Testing

/// Users' forwarding, sent straight to the outside: a test DNS names an aiosmtpd sink on
/// 127.0.0.5 as the MX of the outside domains and publishes SPF records for ours and the
/// original sender's.
@Suite("Forwarding", .serialized)
struct ForwardingTests {
    static let dns = Result {
        try TestDNSServer(zones: ["example.", "example.com."], localData: [
            "far.example. IN MX 10 mx.far.example.",
            "remote.example. IN MX 10 mx.far.example.",
            "mx.far.example. IN A 127.0.0.5",
            #"example.com. IN TXT "v=spf1 ip4:127.0.0.0/8 -all""#,
            #"remote.example. IN TXT "v=spf1 ip4:192.0.2.0/24 -all""#,
        ])
    }

    /// SPF as the sink would check it (pyspf, asking the test DNS): for the envelope sender the
    /// forward arrived with, and for the original sender had the message kept it.
    static let checkSPF = #"""
import spf, dns.resolver
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ['127.0.0.1']
resolver.port = int(sys.argv[1])
dns.resolver.default_resolver = resolver
peer, sender, helo = sys.argv[2], sys.argv[3], sys.argv[4]
print(json.dumps({'forwarded': spf.check2(i=peer, s=sender, h=helo)[0],
                  'original': spf.check2(i=peer, s='sender@remote.example', h=helo)[0]}))
"""#

    /// Signs a message with DKIM (dkimpy, a fresh RSA key) and sends it over SMTP; prints the
    /// public key record so the receiving side can check the signature.
    static let signAndSend = #"""
import smtplib, subprocess, base64, dkim
key = subprocess.run(['openssl', 'genrsa', '2048'], capture_output=True, check=True).stdout
public = subprocess.run(['openssl', 'rsa', '-pubout', '-outform', 'DER'], input=key, capture_output=True, check=True).stdout
message = (b'From: Sender <sender@remote.example>\r\nTo: bob@example.com\r\nSubject: signed and forwarded\r\n'
           b'Message-ID: <fw1@remote.example>\r\n\r\nThe body, signed.\r\n')
signature = dkim.sign(message, b'sel', b'remote.example', key, include_headers=[b'from', b'to', b'subject', b'message-id'])
s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
s.sendmail('sender@remote.example', ['bob@example.com'], signature + message)
s.quit()
print(json.dumps({'record': 'v=DKIM1; k=rsa; p=' + base64.b64encode(public).decode()}))
"""#

    /// Checks the DKIM signature of the message in argv[1] with the key record in argv[2].
    static let verify = #"""
import dkim
message = open(sys.argv[1], 'rb').read()
record = sys.argv[2].encode()
print(json.dumps({'ok': bool(dkim.verify(message, dnsfunc=lambda name, timeout=5: record))}))
"""#

    static func relayed(_ log: String) -> [[String: Any]] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
    }

    @Test("forwarded outside with an SRS sender that passes SPF at the destination and the DKIM signature intact; a bounce to the SRS address reaches the sender; forged SRS refused; to a local user; off again")
    func forwarding() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let log = server.dataDirectory + "/sink.jsonl"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let (sink, port) = try await server.startPeer(plainRelay, [log])
            defer { sink.signal(SIGKILL) }
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            let dns = try Self.dns.get()
            try await server.cli(["settings", "set", "dns.servers", #"["127.0.0.1:\#(dns.port)"]"#, "outqueue.remote_port", "\(port)"])
            try await server.cli(["user", "forward", "bob", "friend@far.example"])
            try await server.cli(["user", "forward", "carol", "alice"])
            try await server.start()

            let sent = try await server.python(Self.signAndSend)
            let record = try #require(try sent.json["record"] as? String)
            let forwarded = try await eventually(within: .seconds(60), "the forward at the sink") { () -> [String]? in
                Self.relayed(log).first { ($0["to"] as? [String]) == ["friend@far.example"] }
                    .map { [$0["from"] as? String ?? "", $0["data"] as? String ?? "", $0["peer"] as? String ?? "", $0["helo"] as? String ?? ""] }
            }
            let sender = forwarded[0]
            #expect(sender.hasPrefix("SRS0=") && sender.hasSuffix("=remote.example=sender@example.com"), "\(sender)")
            let spf = try await server.python(Self.checkSPF, ["\(dns.port)", forwarded[2], sender, forwarded[3]]).json
            #expect(spf["forwarded"] as? String == "pass" && spf["original"] as? String == "fail",
                    "SPF passes at the destination for the SRS sender, where the original sender's fails: \(spf)")
            let data = forwarded[1]
            #expect(data.contains("The body, signed.") && data.contains("DKIM-Signature:"))
            let file = server.dataDirectory + "/forwarded.eml"
            try data.write(toFile: file, atomically: true, encoding: .utf8)
            #expect(try await server.python(Self.verify, [file, record]).json["ok"] as? Bool == true, "the signature still verifies")
            #expect(try await server.inbox("bob").isEmpty)

            // A bounce to the SRS address goes on to the original sender; a forged one is refused.
            let bounce = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                s.ehlo()
                s.mail('<>')
                good = s.rcpt(sys.argv[1])[0]
                forged = s.rcpt('SRS0=AAAA=' + sys.argv[1].split('=')[2] + '=remote.example=sender@example.com')[0]
                s.data(b'From: MAILER-DAEMON@far.example\\r\\nSubject: Undelivered\\r\\n\\r\\nbounced\\r\\n')
                s.quit()
                print(json.dumps({'good': good, 'forged': forged}))
                """, [sender])
            #expect(try bounce.json["good"] as? Int == 250 && bounce.json["forged"] as? Int == 550, "\(bounce.output)")
            let returned = try await eventually(within: .seconds(60), "the bounce at the sink") { () -> String? in
                Self.relayed(log).first { ($0["to"] as? [String]) == ["sender@remote.example"] }.map { $0["from"] as? String ?? "?" }
            }
            #expect(returned == "<>" || returned.isEmpty, "\(returned)")

            // To a local user; then off.
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                s.sendmail('someone@remote.example', ['carol@example.com'], b'Subject: for carol\\r\\n\\r\\nx\\r\\n')
                s.quit()
                """)
            let alice = try await server.awaitInbox("alice", count: 1)
            #expect(String(decoding: alice[0], as: UTF8.self).contains("Subject: for carol"))
            // The running server applies the change when it follows the directory stream: until
            // then a message may still be forwarded. Each try waits for its message to land at
            // the sink or in bob's INBOX.
            try await server.cli(["user", "forward", "bob", "--off"])
            var kept = false
            for attempt in 1...10 where !kept {
                let subject = "kept \(attempt)"
                _ = try await server.python("""
                    import smtplib
                    s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                    s.sendmail('someone@remote.example', ['bob@example.com'], ('Subject: ' + sys.argv[1] + '\\r\\n\\r\\nx\\r\\n').encode())
                    s.quit()
                    """, [subject])
                kept = try await eventually(within: .seconds(60), "\(subject) at the sink or in bob's INBOX") { () -> Bool? in
                    if try await server.inbox("bob").contains(where: { String(decoding: $0, as: UTF8.self).contains("Subject: \(subject)") }) {
                        return true
                    }
                    return Self.relayed(log).contains { ($0["data"] as? String ?? "").contains("Subject: \(subject)") } ? false : nil
                }
            }
            #expect(kept, "forwarding still on after ten messages")
            try await server.cli(["verify"])
        }
    }
}
