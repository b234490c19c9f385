import Foundation
import TestSupport
import Testing

/// Error reports to the main administrator: collectors that cannot reach their server, one
/// with a suppression rule.
@Suite("Error reports")
struct ErrorReportTests {
    @Test("every error of a component without a rule is reported; a rule holds back repeats; each error is noted")
    func errorReports() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            for name in ["broken", "other"] {
                try await server.cli(["collector", "set", name, "--server", "127.0.0.1:1", "--user", "office", "--password-stdin",
                                      "--encryption", "none", "--all-to", "alice", "--poll-minutes", "0"], input: "isp-pass\n")
            }
            try await server.cli(["settings", "set", "admin.error_suppression", #"["collector:broken~0~3600~86400~*"]"#])
            let bad = try await PillarboxBinary.run(["settings", "set", "admin.error_suppression", #"["sometimes"]"#] + server.databaseArguments)
            #expect(bad.status != 0 && bad.errors.contains("not a rule: sometimes"), "\(bad.errors)")
            try await server.start()

            for round in 0..<3 {
                try await server.cli(["collect", "now", "broken"])
                _ = try await CollectionTests.run(server, "broken", after: round)
            }
            for round in 0..<2 {
                try await server.cli(["collect", "now", "other"])
                _ = try await CollectionTests.run(server, "other", after: round)
            }
            _ = try await eventually(within: .seconds(60), "five errors noted") { () -> Bool? in
                let rows = try await server.query("""
                    SELECT count(*)::text FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                    WHERE s.stream_key = 'errors-main' AND e.type = 'component_error_noted'
                    """)
                return rows.first?.first == "5" ? true : nil
            }
            let reports = try await server.awaitInbox("postmaster", count: 3).map { String(decoding: $0, as: UTF8.self) }
            #expect(reports.count == 3)
            #expect(reports.filter { $0.contains("Subject: Pillarbox error: mail collector broken") }.count == 1)
            let other = reports.filter { $0.contains("Subject: Pillarbox error: mail collector other") }
            #expect(other.count == 2)
            #expect(other.contains { $0.contains("This is its first error since it last worked.") })
            #expect(other.contains { $0.contains("It has been failing since") && $0.contains("0 errors were held back") })
            #expect(reports.allSatisfy { $0.contains("127.0.0.1:1") }, "\(reports)")
            let listed = try await server.cli(["errors"])
            #expect(listed.contains("held back in the last 24 hours: 2"), "\(listed)")
            try await server.cli(["verify"])
        }
    }
}

/// The daily usage summary from the LogDB tables.
@Suite("Daily usage summary")
struct DailySummaryTests {
    @Test("a day's messages, recipients, sessions and per-user activity; idle accounts; sent once, as HTML with a text part")
    func summary() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off",
                                  "admin.daily_summary_html", "true", "admin.daily_summary_idle_accounts", "true"])
            try await server.start()
            _ = try await server.python("""
                import smtplib, ssl
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                s.sendmail('friend@remote.example', ['alice@example.com'], b'Subject: in\\r\\n\\r\\nx\\r\\n')
                s.quit()
                s = smtplib.SMTP('127.0.0.1', PORTS['submission'], timeout=30)
                s.starttls(context=ctx)
                s.ehlo()
                s.login('alice', 'alice-pass')
                s.sendmail('alice@example.com', ['bob@example.com'], b'From: alice@example.com\\r\\nSubject: internal\\r\\n\\r\\nx\\r\\n')
                s.quit()
                """)
            let day = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
            let shown = try await eventually(within: .seconds(60), "the day in the LogDB tables") { () -> String? in
                let text = try await server.cli(["summary", "show", "--day", day, "--idle-accounts"])
                // The sessions table is projected apart from the messages: await both.
                return text.contains("Messages accepted: 2") && text.contains("bob ") && text.contains("submission 1") ? text : nil
            }
            let lines = shown.split(separator: "\n").map(String.init)
            let alice = try #require(lines.first { $0.hasPrefix("alice ") }, "\(shown)")
            #expect(alice.split(separator: " ", omittingEmptySubsequences: true).prefix(3) == ["alice", "1", "1"], "\(alice)")
            #expect(alice.contains("submission 1"), "\(alice)")
            #expect(lines.first { $0.hasPrefix("bob ") }?.split(separator: " ").prefix(3) == ["bob", "1", "0"], "\(shown)")
            #expect(shown.contains("Idle accounts (no logins, no mail): carol, postmaster"), "\(shown)")

            let sent = try await server.cli(["summary", "send", "--day", day])
            #expect(sent.contains("sent the summary of \(day) to postmaster@example.com"), "\(sent)")
            let again = try await server.cli(["summary", "send", "--day", day])
            #expect(again.contains("was sent already"), "\(again)")
            let mail = try await server.awaitInbox("postmaster", count: 1).map { String(decoding: $0, as: UTF8.self) }
            #expect(mail[0].contains("Subject: Pillarbox Daily usage Summary for \(day)") && mail[0].contains("multipart/alternative")
                    && mail[0].contains("<td>alice</td><td>1</td><td>1</td>"), "\(mail[0])")
            let bad = try await PillarboxBinary.run(["summary", "show", "--day", "2026-13-45"] + server.databaseArguments)
            #expect(bad.status != 0)
            try await server.cli(["verify"])
        }
    }
}
