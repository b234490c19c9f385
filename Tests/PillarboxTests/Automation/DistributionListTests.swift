import Foundation
import TestSupport
import Testing

/// Distribution lists: expanded at intake, members as BCC, remote members' copies marked with
/// `X-Loop:` so a member passing the message back to the list ends the round.
@Suite("Distribution lists")
struct DistributionListTests {
    @Test("no member sees another; the remote member's copy leaves from the list with X-Loop; passed back to the list, it is not expanded again")
    func distribution() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (log, sink) = try await server.relayingToSink()
            defer { sink.signal(SIGKILL) }
            try await server.cli(["list", "add", "team", "--public"])
            for member in ["alice", "bob", "friend@far.example"] { try await server.cli(["list", "member", "add", "team", member]) }
            try await server.start()

            try await MailingListTests.send(server, from: "someone@remote.example", to: "team@example.com", subject: "team news",
                                            body: "first round")
            let alice = try await MailingListTests.awaitMessage(server, "alice", containing: "first round")
            let bob = try await MailingListTests.awaitMessage(server, "bob", containing: "first round")
            for copy in [alice, bob] {
                #expect(!copy.contains("friend@far.example") && !copy.contains("X-Loop"), "\(copy)")
            }
            #expect(!alice.contains("bob@") && !bob.contains("alice@"))
            let relayed = try await eventually(within: .seconds(60), "the remote member's copy") { () -> String? in
                guard let entry = ForwardingTests.relayed(log).first else { return nil }
                return String(data: try JSONSerialization.data(withJSONObject: entry), encoding: .utf8)
            }
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(relayed.utf8)) as? [String: Any])
            let data = try #require(entry["data"] as? String)
            #expect(entry["from"] as? String == "team@example.com")
            #expect(data.hasPrefix("X-Loop: team@example.com\r\n") && !data.contains("alice@") && !data.contains("bob@"), "\(data)")

            // The member's server passes it back to the list as it came.
            _ = try await server.python("""
                import smtplib
                entry = [json.loads(line) for line in open('\(log)')][0]
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                s.sendmail('friend@far.example', ['team@example.com', 'carol@example.com'], entry['data'].encode())
                s.quit()
                print(json.dumps({}))
                """)
            // Carol, also addressed, gets it; the list does not expand it again.
            _ = try await MailingListTests.awaitMessage(server, "carol", containing: "first round")
            let refused = try await eventually(within: .seconds(30), "the loop in the LogDB tables") { () -> [[String]]? in
                let rows = try await server.query("SELECT name, result FROM logdb.recipients WHERE result LIKE '%mail loop%'")
                return rows.isEmpty ? nil : rows
            }
            #expect(refused.first?.first == "team@example.com", "\(refused)")
            #expect(try await server.inbox("alice").count == 1)
            #expect(try await server.inbox("bob").count == 1)
            #expect(ForwardingTests.relayed(log).count == 1)
            try await server.cli(["verify"])
        }
    }
}
