import Foundation
import TestSupport
import Testing

/// Transmission receipts: a local user's outgoing mail with a receipt request gets its sender a
/// receipt when it leaves, through an aiosmtpd relay on 127.0.0.5.
@Suite("Transmission receipts")
struct ReceiptTests {
    @Test("a receipt when mail asking for one leaves, none for mail that does not ask or for outsiders' mail")
    func receipts() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (log, sink) = try await server.relayingToSink()
            defer { sink.signal(SIGKILL) }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
            try await server.start()

            _ = try await server.python("""
                import smtplib, ssl
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                def send(sender, subject, request, auth):
                    extra = 'Disposition-Notification-To: %s\\r\\n' % sender if request else ''
                    message = ('From: %s\\r\\nTo: friend@far.example\\r\\nSubject: %s\\r\\nMessage-ID: <%s@example.com>\\r\\n%s\\r\\nbody\\r\\n'
                               % (sender, subject, subject.replace(' ', '-'), extra)).encode()
                    if auth:
                        s = smtplib.SMTP('127.0.0.1', PORTS['submission'], timeout=30)
                        s.starttls(context=ctx)
                        s.ehlo()
                        s.login('alice', 'alice-pass')
                    else:
                        s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                    s.sendmail(sender, ['friend@far.example'], message)
                    s.quit()
                send('alice@example.com', 'no request', False, True)
                send('outsider@remote.example', 'outsider asks', True, False)
                send('alice@example.com', 'please confirm', True, True)
                """)
            let receipts = try await server.awaitInbox("alice", count: 1)
            let text = String(decoding: receipts[0], as: UTF8.self)
            #expect(text.contains("Subject: Transmission receipt: please confirm") && text.contains("friend@far.example")
                    && text.contains("Message-ID: <please-confirm@example.com>") && text.contains("the receiving server 127.0.0.5"), "\(text)")
            // All three left; only the one asking, from a local user, got a receipt.
            _ = try await eventually(within: .seconds(60), "the three at the sink") { () -> Bool? in
                ForwardingTests.relayed(log).count == 3 ? true : nil
            }
            #expect(try await server.inbox("alice").count == 1)
            let facts = try await server.query("SELECT count(*)::text FROM eventlog.events e JOIN eventlog.streams s USING (stream_id) WHERE s.category = 'receipts'")
            #expect(facts.first?.first == "1")
            try await server.cli(["verify"])
        }
    }
}
