import Foundation
import TestSupport
import Testing

/// Mail collection from an ISP mailbox, with a private Dovecot playing the ISP.
@Suite("Collection from ISP mailboxes")
struct CollectionTests {
    static func message(_ n: Int, to: String = "office@isp.example", extra: String = "") -> String {
        "From: sender\(n)@remote.example\r\nTo: \(to)\r\n\(extra)Subject: collected \(n)\r\nMessage-ID: <c\(n)@remote.example>\r\n\r\nbody \(n)\r\n"
    }

    /// The last run's result of `collector`, once a run newer than `after` has ended.
    static func run(_ server: MailServerHarness, _ collector: String, after count: Int) async throws -> String {
        try await eventually(within: .seconds(60), "collector \(collector)'s run") { () -> String? in
            let rows = try await server.query("""
                SELECT (SELECT count(*) FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                        WHERE s.stream_key = 'collector-\(collector)' AND e.type = 'collector_run_ended')::text,
                       coalesce((SELECT lastresult FROM collection.runs WHERE collector = '\(collector)'), '')
                """)
            guard let row = rows.first, let runs = Int(row[0]), runs > count else { return nil }
            return row[1]
        }
    }

    static func subjects(_ messages: [[UInt8]]) -> [String] {
        messages.compactMap { message in
            String(decoding: message, as: UTF8.self).split(separator: "\r\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) }
        }.sorted()
    }

    @Test("STLS with USER/PASS: every message once into the user's mailbox, deleted from the server after the commit; the next run takes nothing")
    func stlsDeleteAfterDownload() async throws {
        let isp = try TestDovecot(users: ["office": "isp-pass"])
        for n in 1...3 { try isp.deliver(Self.message(n), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "stls", "--trusted-certificates", isp.certificate, "--all-to", "alice",
                                  "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now", "isp"])
            let result1 = try await Self.run(server, "isp", after: 0)
            #expect(result1 == "ok: 3 collected, 3 deleted", "\(result1)")
            let inbox = try await eventually(within: .seconds(30), "three messages in alice's INBOX") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count == 3 ? messages : nil
            }
            #expect(Self.subjects(inbox) == ["collected 1", "collected 2", "collected 3"])
            #expect(isp.count("office") == 0)
            // The password never shows.
            let listed = try await server.cli(["collector", "list"])
            #expect(listed.contains("(sealed)") && !listed.contains("isp-pass"))

            try isp.deliver(Self.message(4), to: "office")
            try await server.cli(["collect", "now"])
            let result2 = try await Self.run(server, "isp", after: 1)
            #expect(result2 == "ok: 1 collected, 1 deleted", "\(result2)")
            _ = try await eventually(within: .seconds(30), "the fourth in alice's INBOX") {
                try await server.inbox("alice").count == 4 ? true : nil
            }
            try await server.cli(["verify"])
        }
    }

    @Test("POP3S with APOP, CRAM-MD5 and SASL PLAIN; left on the server, the UIDLs remembered across a restart; redownload fetches again")
    func leaveOnServer() async throws {
        let isp = try TestDovecot(users: ["office": "isp-pass"])
        for n in 1...2 { try isp.deliver(Self.message(n), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.sslPort)", "--user", "office", "--password-stdin",
                                  "--encryption", "ssl", "--trusted-certificates", isp.certificate, "--auth", "apop", "--all-to", "bob",
                                  "--leave-days", "7", "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now", "isp"])
            let result3 = try await Self.run(server, "isp", after: 0)
            #expect(result3 == "ok: 2 collected, 0 deleted", "\(result3)")
            #expect(isp.count("office") == 2)

            // After a restart the same messages are not taken again; a new one is, by each way
            // of logging in.
            await server.stop()
            try await server.start()
            var runs = 1
            for (n, method) in [(3, "cram-md5"), (4, "sasl-plain"), (5, "plain")] {
                try await server.cli(["collector", "set", "isp", "--auth", method])
                try isp.deliver(Self.message(n), to: "office")
                try await server.cli(["collect", "now", "isp"])
                let result4 = try await Self.run(server, "isp", after: runs)
                #expect(result4 == "ok: 1 collected, 0 deleted", "\(result4)")
                runs += 1
            }
            _ = try await eventually(within: .seconds(30), "five messages in bob's INBOX") {
                try await server.inbox("bob").count == 5 ? true : nil
            }
            #expect(isp.count("office") == 5)

            let forgotten = try await server.cli(["collect", "redownload", "isp"])
            #expect(forgotten.contains("5 messages"), "\(forgotten)")
            try await server.cli(["collect", "now", "isp"])
            let result5 = try await Self.run(server, "isp", after: runs)
            #expect(result5 == "ok: 5 collected, 0 deleted", "\(result5)")
            _ = try await eventually(within: .seconds(30), "ten messages in bob's INBOX") {
                try await server.inbox("bob").count == 10 ? true : nil
            }
            try await server.cli(["verify"])
        }
    }

    @Test("routing by header fields: accepted domains, a special field with its pattern, user mappings; nobody recognised goes to the administrator")
    func headerRouting() async throws {
        let isp = try TestDovecot(users: ["catchall": "isp-pass"])
        try isp.deliver(Self.message(1, to: "alice@isp.example"), to: "catchall")
        try isp.deliver(Self.message(2, to: "someone@elsewhere.example", extra: "X-Envelope: for bob@isp.example via isp\r\n"), to: "catchall")
        try isp.deliver(Self.message(3, to: "Team <alice@isp.example>, carol@isp.example"), to: "catchall")
        try isp.deliver(Self.message(4, to: "nobody@isp.example"), to: "catchall")
        try isp.deliver(Self.message(5, to: "bob@other.example"), to: "catchall")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "catch", "--server", "127.0.0.1:\(isp.port)", "--user", "catchall", "--password-stdin",
                                  "--encryption", "none", "--accepted-domain", "isp.example", "--special-header", "X-Envelope: for * ~",
                                  "--poll-minutes", "0"], input: "isp-pass\n")
            try await server.start()
            try await server.cli(["collect", "now"])
            let result6 = try await Self.run(server, "catch", after: 0)
            #expect(result6 == "ok: 5 collected, 5 deleted", "\(result6)")
            let alice = try await eventually(within: .seconds(30), "alice's two") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count == 2 ? messages : nil
            }
            #expect(Self.subjects(alice) == ["collected 1", "collected 3"])
            #expect(Self.subjects(try await server.inbox("bob")) == ["collected 2"])
            #expect(Self.subjects(try await server.inbox("carol")) == ["collected 3"])
            // Neither nobody@ nor an address of another domain is ours: the administrator gets them.
            _ = try await eventually(within: .seconds(30), "postmaster's two") {
                Self.subjects(try await server.inbox("postmaster")) == ["collected 4", "collected 5"] ? true : nil
            }
        }
    }

    @Test("a server without STLS gets no password when STLS is required; a wrong password is the run's result; oversize left on the server")
    func refusals() async throws {
        let isp = try TestDovecot(users: ["office": "isp-pass"])
        try isp.deliver(Self.message(1), to: "office")
        try isp.deliver(Self.message(2, extra: "X-Padding: " + String(repeating: "x", count: 4_000) + "\r\n"), to: "office")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "stls", "--verify-certificate", "true", "--all-to", "alice", "--poll-minutes", "0"],
                                 input: "wrong-pass\n")
            try await server.start()
            // The certificate is not trusted: the TLS failure is the result, nothing is sent.
            try await server.cli(["collect", "now", "isp"])
            let untrusted = try await Self.run(server, "isp", after: 0)
            #expect(untrusted.contains("TLS"), "\(untrusted)")
            try await server.cli(["collector", "set", "isp", "--trusted-certificates", isp.certificate])
            try await server.cli(["collect", "now", "isp"])
            let refused = try await Self.run(server, "isp", after: 1)
            #expect(refused.hasPrefix("PASS") || refused.hasPrefix("USER"), "\(refused)")
            try await server.cli(["collector", "set", "isp", "--password-stdin", "--max-size-kib", "2"], input: "isp-pass\n")
            try await server.cli(["collect", "now", "isp"])
            let result7 = try await Self.run(server, "isp", after: 2)
            #expect(result7 == "ok: 1 collected, 1 deleted", "\(result7)")
            #expect(isp.count("office") == 1)
            #expect(try await server.query("SELECT count(*)::text FROM collection.left WHERE collector = 'isp'") == [["1"]])
            // Taken again next time only once the limit allows it (and redownload forgets it).
            try await server.cli(["collector", "set", "isp", "--max-size-kib", "0"])
            try await server.cli(["collect", "redownload", "isp"])
            try await server.cli(["collect", "now", "isp"])
            let result8 = try await Self.run(server, "isp", after: 3)
            #expect(result8 == "ok: 1 collected, 1 deleted", "\(result8)")
            #expect(isp.count("office") == 0)
        }
    }
}

/// The exactly-once guarantee under crashes.
@Suite("Collection: exactly once across crashes")
struct CollectionCrashTests {
    /// 300 messages; the server SIGKILLed five times while it collects, at different points;
    /// then a run to the end. Every message is in alice's INBOX once (by body), and the ISP
    /// mailbox holds what it should: nothing with `leave` 0, everything with days to keep.
    @Test("SIGKILL five times during a collection of 300 messages: each arrives once", arguments: [0, 7])
    func killed(leaveDays: Int) async throws {
        let isp = try TestDovecot(users: ["office": "isp-pass"])
        for n in 1...300 { try isp.deliver(CollectionTests.message(n) + String(repeating: "line \(n)\r\n", count: n % 40), to: "office") }
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["collector", "set", "isp", "--server", "127.0.0.1:\(isp.port)", "--user", "office", "--password-stdin",
                                  "--encryption", "none", "--all-to", "alice", "--leave-days", "\(leaveDays)", "--poll-minutes", "0"],
                                 input: "isp-pass\n")
            let collected = { @Sendable () async throws -> Int in
                Int(try await server.query("SELECT count(*)::text FROM collection.uidls WHERE collector = 'isp'").first?.first ?? "0") ?? 0
            }
            for round in 1...5 {
                try await server.start()
                try await server.cli(["collect", "now", "isp"])
                // A different moment each time: after a few more messages are recorded.
                let before = try await collected()
                let target = min(299, before + 5 + round * 7)
                _ = try await eventually(within: .seconds(120), "\(target) messages recorded before kill \(round)") {
                    try await collected() >= target ? true : nil
                }
                try await server.kill()
            }
            try await server.start()
            try await server.cli(["collect", "now", "isp"])
            _ = try await eventually(within: .seconds(180), "all 300 recorded") { try await collected() == 300 ? true : nil }
            let inbox = try await eventually(within: .seconds(120), "300 messages in alice's INBOX") { () -> [[UInt8]]? in
                let messages = try await server.inbox("alice")
                return messages.count >= 300 ? messages : nil
            }
            #expect(inbox.count == 300)
            #expect(Set(CollectionTests.subjects(inbox)).count == 300)
            if leaveDays == 0 {
                // The last run's deletions, and those of runs killed after their commits.
                _ = try await eventually(within: .seconds(60), "the ISP mailbox emptied") { isp.count("office") == 0 ? true : nil }
            } else {
                #expect(isp.count("office") == 300)
            }
            try await server.cli(["verify"])
        }
    }
}
