import Foundation
import TestSupport
import Testing

/// Message monitoring: incoming, outgoing and internal mail, all or selected users, a minimum
/// size, the random share, attribution by SMTP AUTH or by `From:`.
@Suite("Message monitoring")
struct MonitoringTests {
    /// Sends, in this order, mail of every kind; each line of argv is `from|to|subject|size|auth`.
    static let sendAll = #"""
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for spec in sys.argv[1:]:
    sender, to, subject, size, auth = spec.split('|')
    message = ('From: %s\r\nTo: %s\r\nSubject: %s\r\nDisposition-Notification-To: %s\r\nReturn-Receipt-To: %s\r\n\r\n%s\r\n'
               % (sender, to, subject, sender, sender, '\r\n'.join(['x' * 75] * (int(size) // 75)))).encode()
    if auth:
        s = smtplib.SMTP('127.0.0.1', PORTS['submission'], timeout=30)
        s.starttls(context=ctx)
        s.ehlo()
        s.login(auth, auth + '-pass')
    else:
        s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
    s.sendmail(sender, [to], message)
    s.quit()
print(json.dumps({'sent': len(sys.argv) - 1}))
"""#

    static func field(_ name: String, in message: [UInt8]) -> String? {
        String(decoding: message, as: UTF8.self).components(separatedBy: "\r\n")
            .first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    @Test("incoming of selected users, all outgoing by AUTH or From, internal of selected users; small mail skipped; the random share; receipt requests stripped")
    func monitoring() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["user", "add", "auditor", "--password-stdin"], input: "auditor-pass\n")
            try await server.cli(["user", "add", "sampler", "--password-stdin"], input: "sampler-pass\n")
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off",
                                  "smtp.relay_networks", #"["127.0.0.1"]"#, "outqueue.paused", "true",
                                  "monitoring.incoming", "selected", "monitoring.outgoing", "all", "monitoring.internal", "selected",
                                  "monitoring.users", #"["alice"]"#, "monitoring.target", "auditor", "monitoring.min_size_kib", "1",
                                  "monitoring.random_percent", "100", "monitoring.random_target", "sampler@example.com"])
            let refused = try await PillarboxBinary.run(["settings", "set", "monitoring.outgoing", "some"] + server.databaseArguments)
            #expect(refused.status != 0 && refused.errors.contains("all, selected or none"), "\(refused.errors)")
            try await server.start()

            let sent = try await server.python(Self.sendAll, [
                "friend@remote.example|bob@example.com|in to bob|1500|",          // bob is not selected
                "friend@remote.example|alice@example.com|tiny to alice|75|",      // under the minimum size
                "friend@remote.example|alice@example.com|in to alice|1500|",      // monitored: incoming
                "bob@example.com|carol@example.com|bob to carol|1500|",           // internal, nobody selected
                "bob@example.com|alice@example.com|bob to alice|1500|",           // monitored: internal (alice)
                "alice@example.com|friend@far.example|alice out|1500|alice",      // monitored: outgoing, by AUTH
                "bob@example.com|friend@far.example|bob out|1500|",               // monitored: outgoing, by From
            ])
            #expect(try sent.json["sent"] as? Int == 7)

            // The agent takes messages in log order: once the last copy is in, every one is.
            let copies = try await server.awaitInbox("auditor", count: 4)
            let bySubject = Dictionary(uniqueKeysWithValues: copies.map { (Self.field("Subject", in: $0) ?? "", $0) })
            #expect(bySubject.keys.sorted() == ["alice out", "bob out", "bob to alice", "in to alice"])
            let note = { (subject: String) in bySubject[subject].flatMap { Self.field("X-Pillarbox-Monitored", in: $0) } ?? "" }
            #expect(note("in to alice").hasPrefix("incoming; alice;"))
            #expect(note("bob to alice").hasPrefix("internal; alice, bob;"))
            #expect(note("alice out").hasPrefix("outgoing; alice;"))
            #expect(note("bob out").hasPrefix("outgoing; bob;"))
            for copy in copies {
                #expect(Self.field("Disposition-Notification-To", in: copy) == nil && Self.field("Return-Receipt-To", in: copy) == nil)
                #expect(Self.field("Return-Path", in: copy) == nil, "one Return-Path, the copy's own")
                #expect(String(decoding: copy, as: UTF8.self).contains(Array(repeating: String(repeating: "x", count: 75), count: 20).joined(separator: "\r\n")))
            }
            let sample = try await server.awaitInbox("sampler", count: 4)
            #expect(sample.count == 4)
            // The originals went where they were sent, receipt requests and all.
            let alice = try await server.awaitInbox("alice", count: 3)
            #expect(alice.allSatisfy { Self.field("Disposition-Notification-To", in: $0) != nil })
            let facts = try await server.query("SELECT count(*)::text FROM eventlog.events e JOIN eventlog.streams s USING (stream_id) WHERE s.category = 'monitoring'")
            #expect(facts.first?.first == "4")
            try await server.cli(["verify"])
        }
    }
}
