import Foundation
import TestSupport
import Testing

/// Connections and the connector schedule: a relay sender's mail waits for its connection,
/// which `connect now`, `CONNECT.NOW` and the schedule start.
@Suite("Connections and the connector schedule", .serialized)
struct ConnectionScheduleTests {
    /// The queue row of the message with `subject`: status and next try.
    func state(_ server: MailServerHarness, subject: String) async throws -> [String]? {
        try await server.query("""
            SELECT r.status, coalesce(r.nexttry::text, '') FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid)
            WHERE m.subject = '\(subject)'
            """).first
    }

    func reach(_ server: MailServerHarness, subject: String, _ status: String) async throws {
        _ = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "\(subject): \(status)") { () -> Bool? in
            try await state(server, subject: subject)?[0] == status ? true : nil
        }
    }

    func relayed(_ log: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["data"] as? String
        }
    }

    func send(_ server: MailServerHarness, subject: String) async throws {
        _ = try await server.python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            s.sendmail('alice@example.com', ['someone@far.example'], 'From: alice@example.com\\r\\nSubject: \(subject)\\r\\n\\r\\nbody\\r\\n')
            s.quit()
            print(json.dumps({}))
            """)
    }

    /// The connection's row in `outqueue.connections`: online, last trigger, last result, messages, next poll, paused.
    func connection(_ server: MailServerHarness) async throws -> [String] {
        try await server.query("""
            SELECT coalesce(online, false)::text, coalesce(lasttrigger, ''), coalesce(lastresult, ''), coalesce(lastmessages, 0)::text,
                   coalesce(to_char(nextpoll AT TIME ZONE 'UTC', 'HH24:MI'), ''), coalesce(paused, false)::text
            FROM outqueue.connections WHERE name = 'isp'
            """).first ?? []
    }

    @Test("mail waits for its connection: connect now, CONNECT.NOW, a scheduled time with a deny item, pause and resume")
    func schedule() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let log = server.dataDirectory + "/plain-relay.jsonl"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let (sink, port) = try await server.startPeer(plainRelay, [log])
            defer { sink.signal(SIGKILL) }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
            try await server.cli(["settings", "set", "connections.time_zone", "UTC"])
            try await server.cli(["sender", "set", "isp", "--method", "relay", "--relay", "127.0.0.5:\(port)", "--encryption", "none",
                                  "--default"])
            // A relay sender's connection does not send immediately: its mail waits for a run.
            try await server.cli(["connection", "set", "isp", "--sender", "isp", "--default", "true"])
            try await server.start()

            // Waiting, visibly, until asked for.
            try await send(server, subject: "first")
            try await reach(server, subject: "first", "waiting for connection isp")
            #expect(relayed(log).isEmpty)
            try await server.cli(["connect", "now", "isp"])
            try await reach(server, subject: "first", "delivered")
            _ = try await eventually(within: .seconds(30), "the run's end") { () -> [String]? in
                let row = try await connection(server)
                return row.first == "false" && row.count > 2 && row[2] == "ok" ? row : nil
            }
            #expect(try await connection(server)[1].hasPrefix("requested by"))
            #expect(try await connection(server)[3] == "1")

            // CONNECT.NOW starts the default connections, once, and is removed.
            try await send(server, subject: "second")
            try await reach(server, subject: "second", "waiting for connection isp")
            let trigger = server.dataDirectory + "/CONNECT.NOW"
            _ = FileManager.default.createFile(atPath: trigger, contents: nil)
            try await reach(server, subject: "second", "delivered")
            #expect(!FileManager.default.fileExists(atPath: trigger))
            _ = try await eventually(within: .seconds(30), "the file's run recorded") { () -> Bool? in
                try await connection(server)[1] == "CONNECT.NOW" ? true : nil
            }

            // The schedule: every minute over the next two, with a deny item on the first.
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let now = Date()
            let minute = calendar.dateInterval(of: .minute, for: now)!.start
            let (first, second) = (minute.addingTimeInterval(60), minute.addingTimeInterval(120))
            let utcCalendar = calendar
            let hhmm: @Sendable (Date) -> String = { date in
                let parts = utcCalendar.dateComponents([.hour, .minute], from: date)
                return String(format: "%02d:%02d", parts.hour!, parts.minute!)
            }
            // Not across midnight: the items would have to be split.
            try #require(calendar.component(.hour, from: second) != 0 || calendar.component(.minute, from: second) >= 2,
                         "too close to midnight for this test")
            try await send(server, subject: "third")
            try await reach(server, subject: "third", "waiting for connection isp")
            try await server.cli(["schedule", "set", "deny-first", "--action", "deny", "--at", hhmm(first)])
            try await server.cli(["schedule", "set", "soon", "--every", "1", "--from", hhmm(first), "--until", hhmm(second)])
            // The deny item takes the first time: the next poll is the second.
            _ = try await eventually(within: .seconds(30), "the next poll at \(hhmm(second))") { () -> Bool? in
                try await connection(server)[4] == hhmm(second) ? true : nil
            }
            // Paused: no next poll; resumed: the second again.
            try await server.cli(["connect", "pause"])
            _ = try await eventually(within: .seconds(30), "the schedule paused") { () -> Bool? in
                let row = try await connection(server)
                return row[5] == "true" && row[4].isEmpty ? true : nil
            }
            try await server.cli(["connect", "resume"])
            _ = try await eventually(within: .seconds(30), "the schedule resumed") { () -> Bool? in
                let row = try await connection(server)
                return row[5] == "false" && row[4] == hhmm(second) ? true : nil
            }
            #expect(try await state(server, subject: "third")?[0] == "waiting for connection isp")
            // Sent at the scheduled time and not before.
            _ = try await eventually(within: .seconds(200), pollingEvery: .milliseconds(200), "the scheduled run") { () -> Bool? in
                try await state(server, subject: "third")?[0] == "delivered" ? true : nil
            }
            let started = try await server.query("""
                SELECT (laststart >= '\(ISO8601DateFormatter().string(from: second))'::timestamptz)::text, lasttrigger FROM outqueue.connections
                WHERE name = 'isp'
                """).first
            #expect(started == ["true", "schedule"], "\(started ?? [])")
            #expect(relayed(log).count == 3)

            let listed = try await server.cli(["connection", "list"])
            #expect(listed.contains("isp") && listed.contains("schedule"))
            // The schedule's record rebuilds to the same rows.
            #expect(try await server.cli(["verify"]).contains("outqueue: ok"))
        }
    }
}
