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
            try await server.cli(["verify"])
        }
    }
}
