import Foundation
import Testing
import TestSupport

/// PostgreSQL goes away for 90 seconds under SMTP, IMAP and POP3 traffic: nothing is
/// acknowledged that did not commit, the server stays up, and it serves normally again by
/// itself once the database is back.
@Suite("Database outage", .serialized)
struct DatabaseOutageTests {
    /// Rounds of each protocol, one after the other, until the file argv[1] exists (at most 900 s
    /// and 3 000 rounds); a line of JSON per round. A round paces itself: while the database is
    /// away, its clients wait for the server's transient replies.
    static let traffic = """
        import os, smtplib, poplib, imaplib, socket, time, json, ssl, sys
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        stop, deadline = sys.argv[1], time.time() + 900
        rounds = 0
        while not os.path.exists(stop) and time.time() < deadline and rounds < 3000:
            rounds += 1
            row = {'round': rounds, 'start': time.time()}
            try:
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=150)
                s.ehlo()
                s.mail('load@remote.test')
                s.rcpt('alice@example.com')
                code, text = s.data(b'Subject: outage round %d\\r\\n\\r\\nbody\\r\\n' % rounds)
                row['smtp'] = [code, text.decode(errors='replace')]
                s.quit()
            except Exception as e:
                row['smtp'] = [0, repr(e)]
            try:
                p = poplib.POP3('127.0.0.1', PORTS['pop3'], timeout=150)
                p.stls(context=ctx)
                p.user('bob')
                row['pop3'] = p.pass_('bob-pass').decode(errors='replace')
                p.quit()
            except Exception as e:
                row['pop3'] = repr(e)
            try:
                m = imaplib.IMAP4('127.0.0.1', PORTS['imap'], timeout=150)
                m.starttls(ssl_context=ctx)
                m.login('bob', 'bob-pass')
                typ, data = m.select('INBOX')
                row['imap'] = [typ, repr(data)]
                m.logout()
            except Exception as e:
                row['imap'] = ['error', repr(e)]
            row['end'] = time.time()
            print(json.dumps(row), flush=True)
        """

    @Test("90 seconds without PostgreSQL: transient replies, no acknowledgement without commit, service back by itself")
    func outage() async throws {
        try await MailServerHarness.withEmbedded { server in
            try await server.createStandardDirectory()
            // Loopback only: no SPF, DKIM or DMARC lookups in the system's DNS.
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.start(pop3: true, imap: true)
            let stopFile = server.dataDirectory + "/traffic.stop"
            let traffic = try server.startPython(Self.traffic, [stopFile])
            // Traffic flows before the outage.
            _ = try await eventually(within: .seconds(60), "traffic before the outage") {
                traffic.output.contains("\"smtp\": [250") ? true : nil
            }
            let pidText = try String(contentsOfFile: server.dataDirectory + "/pg/postmaster.pid", encoding: .utf8)
            let postmaster = try #require(Int32(pidText.split(separator: "\n")[0]))
            kill(postmaster, SIGINT)
            _ = try await eventually(within: .seconds(60), "PostgreSQL to stop") { kill(postmaster, 0) != 0 ? true : nil }
            let stopped = Date()
            // The outage itself: the database stays away for 90 seconds, and rounds of traffic
            // run meanwhile.
            let roundsBefore = traffic.output.split(separator: "\n").count
            _ = try await eventually(within: .seconds(240), pollingEvery: .seconds(1), "90 seconds of outage under traffic") {
                Date().timeIntervalSince(stopped) >= 90 && traffic.output.split(separator: "\n").count > roundsBefore ? true : nil
            }
            let serverProcess = try #require(server.process)
            var status: Int32 = 0
            #expect(waitpid(serverProcess.pid, &status, WNOHANG) == 0, "the server is still running after 90 s without its database")
            let restarted = try await PillarboxBinary.run(["db", "start", "--data-dir", server.dataDirectory])
            #expect(restarted.status == 0, "\(restarted.errors)")
            let back = Date()

            // Traffic goes on until rounds have run well after the database's return. A round
            // caught by the outage may wait out its three clients' timeouts (150 s each) before
            // the next one starts.
            _ = try await eventually(within: .seconds(700), pollingEvery: .seconds(1), "rounds after the database came back") {
                traffic.output.split(separator: "\n").compactMap { line -> Double? in
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["start"] as? Double
                }.filter { $0 > back.addingTimeInterval(30).timeIntervalSince1970 }.count >= 3 ? true : nil
            }
            FileManager.default.createFile(atPath: stopFile, contents: nil)
            _ = try await traffic.wait(timeout: .seconds(600))
            let rows = traffic.output.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            func started(_ row: [String: Any]) -> Date { Date(timeIntervalSince1970: row["start"] as? Double ?? 0) }
            func ended(_ row: [String: Any]) -> Date { Date(timeIntervalSince1970: row["end"] as? Double ?? 0) }
            let during = rows.filter { started($0) > stopped.addingTimeInterval(5) && ended($0) < back }
            #expect(!during.isEmpty, "rounds ran while the database was away")
            for row in during {
                let smtp = row["smtp"] as? [Any]
                let code = smtp?.first as? Int ?? 0
                #expect(code == 0 || (400..<500).contains(code), "SMTP during the outage: \(row)")
                #expect((row["pop3"] as? String).map { !$0.hasPrefix("+OK") && $0.contains("-ERR") } ?? false
                        || (row["pop3"] as? String)?.contains("Error") == true, "POP3 during the outage: \(row)")
            }
            // Within 30 s of the database's return, every protocol works again.
            let recovered = rows.filter { started($0) > back.addingTimeInterval(30) }
            #expect(!recovered.isEmpty, "rounds ran after the database came back")
            for row in recovered {
                #expect((row["smtp"] as? [Any])?.first as? Int == 250, "SMTP after the outage: \(row)\nserver log:\n\(server.log.suffix(4_000))")
                #expect((row["pop3"] as? String)?.hasPrefix("+OK") == true, "POP3 after the outage: \(row)")
                #expect((row["imap"] as? [Any])?.first as? String == "OK", "IMAP after the outage: \(row)")
            }
            // Every message acknowledged with 250 is in the log.
            let acknowledged = rows.compactMap { row -> String? in
                guard let smtp = row["smtp"] as? [Any], smtp.first as? Int == 250, let text = smtp.last as? String else { return nil }
                return text.components(separatedBy: "queued as ").last
            }
            let dump = try await server.cli(["log", "dump", "--category", "message"])
            for id in acknowledged { #expect(dump.contains(id), "acknowledged message \(id) is in the log") }
            // Each follower said once that it lost the database, not once per attempt.
            let complaints = server.log.split(separator: "\n").filter { $0.contains("retrying until it works") }
            #expect(complaints.count < 40, "\(complaints.count) outage messages")
            #expect(server.log.contains("works again"))
        }
    }
}
