import Foundation
import TestSupport
import Testing

/// Receiving servers for the delivery tests: aiosmtpd on 127.0.0.5 (plain) and 127.0.0.6 (with
/// STARTTLS), and on 127.0.0.8 a server that accepts connections and never says a word, all on
/// one port. Every message accepted is one JSON line in the file named by argv[1]. Recipients
/// whose local part starts with `reject` are refused with 550; `tempfail` ones get 451 the first
/// time they are offered.
let receivingServers = #"""
import asyncio, json, socket, ssl, sys, threading, time
from aiosmtpd.controller import Controller

log_path, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
offered = set()
lock = threading.Lock()

class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split('@')[0]
        if local.startswith('reject'):
            return '550 5.1.1 <%s>: no such user here' % address
        if local.startswith('tempfail'):
            with lock:
                first = address not in offered
                offered.add(address)
            if first:
                return '451 4.3.0 try again later'
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        with lock, open(log_path, 'a') as log:
            log.write(json.dumps({
                'from': envelope.mail_from, 'to': envelope.rcpt_tos, 'tls': session.ssl is not None,
                'server': server.hostname, 'data': envelope.original_content.decode('utf-8', 'replace'),
            }) + '\n')
        return '250 2.0.0 queued as %d' % int(time.time() * 1000)

probe = socket.socket()
probe.bind(('127.0.0.5', 0))
port = probe.getsockname()[1]
probe.close()

plain = Controller(Sink(), hostname='127.0.0.5', port=port, server_hostname='sink.test')
plain.start()
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
secure = Controller(Sink(), hostname='127.0.0.6', port=port, server_hostname='tls-sink.test', tls_context=context)
secure.start()
silent = socket.socket()
silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
silent.bind(('127.0.0.8', port))
silent.listen(16)
held = []
print(json.dumps({'port': port}), flush=True)
while True:
    connection, _ = silent.accept()
    held.append(connection)
"""#

@Suite("Outbound delivery to real receiving servers through a test DNS", .serialized)
struct OutboundDeliveryTests {
    static let dns = Result {
        try TestDNSServer(zones: ["example."], localData: [
            "good.example. IN MX 10 mx.good.example.",
            "mx.good.example. IN A 127.0.0.5",
            "tls.example. IN MX 10 mx.tls.example.",
            "mx.tls.example. IN A 127.0.0.6",
            "backup.example. IN MX 10 mx1.backup.example.",
            "backup.example. IN MX 20 mx2.backup.example.",
            "mx1.backup.example. IN A 127.0.0.7",
            "mx2.backup.example. IN A 127.0.0.5",
            "nullmx.example. IN MX 0 .",
            "stall.example. IN MX 10 mx.stall.example.",
            "mx.stall.example. IN A 127.0.0.8",
            "implicit.example. IN A 127.0.0.5",
        ])
    }

    /// A server with the standard directory, its queue pointed at the test DNS and servers.
    struct Setup {
        let server: MailServerHarness
        let sinkPort: Int
        let sinkLog: String
    }

    func withSetup(_ body: @Sendable (Setup) async throws -> Void) async throws {
        let dns = try Self.dns.get()
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let directory = server.dataDirectory
            let certificate = try await server.tool("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=tls-sink.test",
                "-keyout", directory + "/sink.key", "-out", directory + "/sink.crt",
            ])
            #expect(certificate.status == 0, "\(certificate.errors)")
            let log = directory + "/sink.jsonl"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let sink = try server.startPython(receivingServers, [log, directory + "/sink.crt", directory + "/sink.key"])
            defer { sink.signal(SIGKILL) }
            let port = try await eventually(within: .seconds(30), "the receiving servers") { () -> Int? in
                guard let line = sink.output.split(separator: "\n").first,
                      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return object["port"] as? Int
            }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
            try await server.cli(["settings", "set", "dns.servers", #"["127.0.0.1:\#(dns.port)"]"#])
            try await server.cli(["settings", "set", "outqueue.remote_port", "\(port)"])
            try await server.cli(["settings", "set", "outqueue.reply_timeout_percent", "1"])
            try await server.cli(["settings", "set", "outqueue.connect_timeout_seconds", "3"])
            try await server.start()
            try await body(Setup(server: server, sinkPort: port, sinkLog: log))
            #expect(try await server.cli(["verify", "outqueue"]).contains("outqueue: ok"))
        }
    }

    /// Sends one message from alice through the MX listener (the relay networks let 127.0.0.1 relay).
    func send(_ server: MailServerHarness, to recipients: [String], subject: String, options: [String] = [],
              rcptOptions: [String] = []) async throws {
        let list = recipients.map { "'\($0)'" }.joined(separator: ", ")
        let mailOptions = options.map { "'\($0)'" }.joined(separator: ", ")
        let rcpt = rcptOptions.map { "'\($0)'" }.joined(separator: ", ")
        _ = try await server.python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            body = 'From: alice@example.com\\r\\nTo: someone\\r\\nSubject: \(subject)\\r\\n\\r\\n.a line starting with a dot\\r\\nbody of \(subject)\\r\\n'
            bad = s.sendmail('alice@example.com', [\(list)], body, mail_options=[\(mailOptions)], rcpt_options=[\(rcpt)])
            s.quit()
            print(json.dumps({'refused': len(bad)}))
            """)
    }

    /// The sink's messages whose data contains `text`.
    func received(_ setup: Setup, containing text: String) -> [[String: Any]] {
        let lines = ((try? String(contentsOfFile: setup.sinkLog, encoding: .utf8)) ?? "").split(separator: "\n")
        return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { ($0["data"] as? String)?.contains(text) == true }
    }

    /// Recipient rows of the queue: address → (status, last reply, attempts).
    func recipients(_ server: MailServerHarness, subject: String) async throws -> [String: (String, String, String)] {
        let rows = try await server.query("""
            SELECT r.address, r.status, coalesce(r.lastreply, ''), r.attempts::text
            FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid) WHERE m.subject = '\(subject)'
            """)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0], ($0[1], $0[2], $0[3])) })
    }

    func waitForStates(_ server: MailServerHarness, subject: String, _ expected: [String: String],
                       within timeout: Duration = .seconds(60)) async throws -> [String: (String, String, String)] {
        try await eventually(within: timeout, "recipients of \(subject) reaching \(expected)") {
            let rows = try await recipients(server, subject: subject)
            return expected.allSatisfy { rows[$0.key]?.0 == $0.value } ? rows : nil
        }
    }

    /// Alice's delivery status notifications about `subject`, parsed by Python's email package.
    func reports(_ server: MailServerHarness, about subject: String) async throws -> [[String: Any]] {
        let messages = try await server.inbox("alice").filter { String(decoding: $0, as: UTF8.self).contains(subject) }
        var parsed: [[String: Any]] = []
        for message in messages {
            let path = server.dataDirectory + "/report-\(UUID().uuidString.prefix(8)).eml"
            try Data(message).write(to: URL(fileURLWithPath: path))
            let result = try await server.python("""
                import email
                from email import policy
                report = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)
                parts = report.get_payload()
                status = parts[1].get_payload()
                fields = [dict(block.items()) for block in status]
                print(json.dumps({
                    'type': report.get_content_type(), 'report_type': report.get_param('report-type'),
                    'from': report['From'], 'subject': report['Subject'],
                    'human': parts[0].get_payload(), 'per_message': fields[0], 'recipients': fields[1:],
                    'returned': parts[2].get_content_type(),
                }))
                """, [path])
            parsed.append(try result.json)
        }
        return parsed
    }

    @Test("delivered with 250, mixed replies in one transaction, and a DSN for the refused recipient")
    func deliveredAndRefused() async throws {
        try await withSetup { setup in
            let server = setup.server
            try await send(server, to: ["one@good.example", "two@good.example", "reject-me@good.example"], subject: "mixed",
                           options: ["RET=HDRS", "ENVID=env-1"], rcptOptions: [])
            let rows = try await waitForStates(server, subject: "mixed", [
                "one@good.example": "delivered", "two@good.example": "delivered", "reject-me@good.example": "failed",
            ])
            #expect(rows["reject-me@good.example"]?.1.contains("550 5.1.1") == true)
            let got = received(setup, containing: "body of mixed")
            #expect(got.count == 1)
            let message = try #require(got.first)
            #expect(Set(message["to"] as? [String] ?? []) == ["one@good.example", "two@good.example"])
            #expect(message["from"] as? String == "alice@example.com")
            let data = message["data"] as? String ?? ""
            #expect(data.contains("\r\n.a line starting with a dot\r\n"))
            #expect(!data.hasPrefix("Return-Path:"))

            _ = try await eventually(within: .seconds(30), "the DSN in alice's INBOX") {
                try await server.inbox("alice").isEmpty ? nil : true
            }
            let report = try #require(try await reports(server, about: "mixed").first)
            #expect(report["type"] as? String == "multipart/report")
            #expect(report["report_type"] as? String == "delivery-status")
            #expect((report["from"] as? String)?.contains("MAILER-DAEMON@mx.test.example") == true)
            #expect(report["returned"] as? String == "text/rfc822-headers")
            let perMessage = report["per_message"] as? [String: String] ?? [:]
            #expect(perMessage["Reporting-MTA"] == "dns; mx.test.example")
            #expect(perMessage["Original-Envelope-Id"] == "env-1")
            let recipients = report["recipients"] as? [[String: String]] ?? []
            #expect(recipients.count == 1)
            #expect(recipients.first?["Final-Recipient"] == "rfc822; reject-me@good.example")
            #expect(recipients.first?["Action"] == "failed")
            #expect(recipients.first?["Status"] == "5.1.1")
            #expect(recipients.first?["Remote-MTA"] == "dns; mx.good.example")
            #expect(recipients.first?["Diagnostic-Code"]?.contains("550 5.1.1") == true)
            #expect(recipients.first?["Last-Attempt-Date"] != nil)
        }
    }

    @Test("STARTTLS used and recorded; the first MX refusing connections leaves the second; the implicit MX")
    func tlsBackupAndImplicit() async throws {
        try await withSetup { setup in
            let server = setup.server
            try await send(server, to: ["secure@tls.example"], subject: "secure")
            try await send(server, to: ["spare@backup.example"], subject: "spare")
            try await send(server, to: ["plain@implicit.example"], subject: "implicit")
            _ = try await waitForStates(server, subject: "secure", ["secure@tls.example": "delivered"])
            _ = try await waitForStates(server, subject: "spare", ["spare@backup.example": "delivered"])
            _ = try await waitForStates(server, subject: "implicit", ["plain@implicit.example": "delivered"])
            #expect(received(setup, containing: "body of secure").first?["tls"] as? Bool == true)
            let attempts = try await server.query("""
                SELECT m.subject, a.mxhost, a.ip, coalesce(a.tls, ''), a.result FROM outqueue.sendattempts a
                JOIN outqueue.outmessages m USING (msgid) ORDER BY m.subject
                """)
            let bySubject = Dictionary(uniqueKeysWithValues: attempts.map { ($0[0], $0) })
            #expect(bySubject["secure"]?[1] == "mx.tls.example")
            #expect(bySubject["secure"]?[3].hasPrefix("TLSv1.") == true)
            #expect(bySubject["spare"]?[1] == "mx2.backup.example")
            #expect(bySubject["spare"]?[4].contains("mx1.backup.example [127.0.0.7]") == true)
            #expect(bySubject["implicit"]?[2] == "127.0.0.5")
        }
    }

    @Test("null MX and a domain that does not exist fail at once; NOTIFY=NEVER sends no report")
    func permanentDestinations() async throws {
        try await withSetup { setup in
            let server = setup.server
            try await send(server, to: ["someone@nullmx.example", "someone@nothere.example"], subject: "nowhere")
            let rows = try await waitForStates(server, subject: "nowhere", [
                "someone@nullmx.example": "failed", "someone@nothere.example": "failed",
            ])
            #expect(rows["someone@nullmx.example"]?.1.contains("5.1.10") == true)
            #expect(rows["someone@nothere.example"]?.1.contains("5.1.2") == true)
            _ = try await eventually(within: .seconds(30), "the DSN") { try await server.inbox("alice").isEmpty ? nil : true }
            let report = try #require(try await reports(server, about: "nowhere").first)
            let statuses = Set((report["recipients"] as? [[String: String]] ?? []).compactMap { $0["Status"] })
            #expect(statuses == ["5.1.10", "5.1.2"])
            // One round, two domains: two attempts, numbered in turn.
            let numbers = try await server.query("""
                SELECT a.attempt::text FROM outqueue.sendattempts a JOIN outqueue.outmessages m USING (msgid)
                WHERE m.subject = 'nowhere' ORDER BY a.attempt
                """).map { $0[0] }
            #expect(numbers == ["1", "2"])

            try await send(server, to: ["quiet@nullmx.example"], subject: "quiet", rcptOptions: ["NOTIFY=NEVER"])
            _ = try await waitForStates(server, subject: "quiet", ["quiet@nullmx.example": "failed"])
            let quietID = try #require(try await server.query("SELECT msgid FROM outqueue.outmessages WHERE subject = 'quiet'").first?[0])
            let stream = try await server.cli(["log", "dump", "--stream", "message-\(quietID)"])
            #expect(stream.contains("delivery_failed") && !stream.contains("dsnMessageID"))
        }
    }

    @Test("4xx defers; a retry from the CLI delivers. A stalled server defers after its timeout; hold, release and delete")
    func retriesAndQueueCommands() async throws {
        try await withSetup { setup in
            let server = setup.server
            try await send(server, to: ["tempfail-1@good.example"], subject: "later")
            let deferred = try await waitForStates(server, subject: "later", ["tempfail-1@good.example": "deferred"])
            #expect(deferred["tempfail-1@good.example"]?.1.contains("451 4.3.0") == true)
            let id = try #require(try await server.query("SELECT msgid FROM outqueue.outmessages WHERE subject = 'later'").first?[0])
            let listed = try await server.cli(["mail", "queue"])
            #expect(listed.contains(id) && listed.contains("deferred"))
            try await server.cli(["mail", "queue", "retry", id])
            let rows = try await waitForStates(server, subject: "later", ["tempfail-1@good.example": "delivered"])
            #expect(rows["tempfail-1@good.example"]?.2 == "2")
            #expect(received(setup, containing: "body of later").count == 1)

            try await send(server, to: ["nobody@stall.example"], subject: "stalled")
            let stalled = try await waitForStates(server, subject: "stalled", ["nobody@stall.example": "deferred"])
            #expect(stalled["nobody@stall.example"]?.1.contains("no reply from the server") == true)
            let stalledID = try #require(try await server.query(
                "SELECT msgid FROM outqueue.outmessages WHERE subject = 'stalled'").first?[0])
            try await server.cli(["mail", "queue", "hold", stalledID])
            _ = try await eventually(within: .seconds(30), "held") {
                try await server.cli(["mail", "queue"]).split(separator: "\n").contains { $0.contains(stalledID) && $0.contains("held") }
                    ? true : nil
            }
            let again = try await PillarboxBinary.run(["mail", "queue", "hold", stalledID] + server.databaseArguments)
            #expect(again.status != 0 && again.errors.contains("already held"))
            try await server.cli(["mail", "queue", "release", stalledID])
            try await server.cli(["mail", "queue", "delete", stalledID])
            _ = try await waitForStates(server, subject: "stalled", ["nobody@stall.example": "deleted"])
            #expect(!(try await server.cli(["mail", "queue"]).contains(stalledID)))
            let log = try await server.cli(["log", "dump", "--stream", "message-\(stalledID)"])
            for type in ["message_accepted", "delivery_attempted", "delivery_deferred", "queue_held", "queue_released", "queue_deleted"] {
                #expect(log.contains(type), "\(type) missing from the stream")
            }
        }
    }

    /// The transit holder's wraps: body address (hex) → how many.
    func transitWraps(_ server: MailServerHarness) async throws -> [String: Int] {
        let rows = try await server.query("""
            SELECT encode(m.blob, 'hex'), count(w.sha256)::text FROM outqueue.outmessages m
              LEFT JOIN keystore.blob_keys w ON w.sha256 = m.blob
                    AND w.key_id IN (SELECT key_id FROM keystore.holder_keys WHERE holder = 'transit')
             GROUP BY m.blob
            """)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0], Int($0[1]) ?? 0) })
    }

    @Test("the server lets go of its copy of sent mail: erasing the sender leaves a body only it held unreadable, one a local user holds stays theirs; Outqueue retention does the same for old mail")
    func sentMailLetGo() async throws {
        try await withSetup { setup in
            let server = setup.server
            let gone = "GONE-\(UUID().uuidString.prefix(8))", shared = "SHARED-\(UUID().uuidString.prefix(8))"
            try await send(server, to: ["one@good.example"], subject: gone)
            try await send(server, to: ["bob@example.com", "two@good.example"], subject: shared)
            _ = try await waitForStates(server, subject: gone, ["one@good.example": "delivered"])
            _ = try await waitForStates(server, subject: shared, ["two@good.example": "delivered"])
            _ = try await server.awaitInbox("bob", count: 1)
            let blobs = try await server.query("SELECT subject, encode(blob, 'hex') FROM outqueue.outmessages")
            let goneBlob = try #require(blobs.first { $0[0] == gone }?[1])
            let sharedBlob = try #require(blobs.first { $0[0] == shared }?[1])
            #expect(try await transitWraps(server) == [goneBlob: 1, sharedBlob: 1])

            // A dry run counts both once every agent has read them, and changes nothing.
            let planned = try await eventually(within: .seconds(30), "the agents past both messages") { () -> [String: Int]? in
                let output = try await server.cli(["erase", "user", "alice", "--dry-run", "--json"])
                let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
                let sent = object?["sent"] as? [String: Int]
                return sent?["messages"] == 2 ? sent : nil
            }
            #expect(planned == ["messages": 2, "bodies": 2, "unreadable": 1, "kept": 0], "\(planned)")
            #expect(try await transitWraps(server) == [goneBlob: 1, sharedBlob: 1])

            _ = try await server.cli(["erase", "user", "alice", "--reason", "left"])
            #expect(try await transitWraps(server) == [goneBlob: 0, sharedBlob: 0])
            #expect(try await server.query("SELECT count(*)::text FROM keystore.blob_keys WHERE encode(sha256, 'hex') = '\(goneBlob)'")
                    == [["0"]])
            let record = try await server.cli(["log", "dump", "--stream", "erasure-main"])
            let released = try #require(record.split(separator: "\n").last { $0.contains("transit_keys_destroyed") })
            #expect(released.contains(goneBlob) && !released.contains(sharedBlob) && released.contains("\"intact\":true")
                    && released.contains("\"sharedBodies\":1") && released.contains("\"component\":\"erase\""), "\(released)")
            // Bob still reads the copy he was sent; the queue keeps the message without its subject.
            #expect(String(decoding: try await server.inbox("bob")[0], as: UTF8.self).contains("body of \(shared)"))
            let subjects = try await server.query("SELECT coalesce(subject, '(none)') FROM outqueue.outmessages ORDER BY subject")
            #expect(subjects.map { $0[0] }.sorted() == ["(none)", shared], "\(subjects)")
            let pgDump = try await server.tool("/usr/bin/pg_dump", ["--dbname", server.endpoint.redactedURL, "--no-owner"],
                                               timeout: .seconds(120))
            #expect(pgDump.status == 0 && pgDump.output.contains(shared))
            for trace in SealedBodyTests.traces(of: gone) {
                let hex = Array(trace.utf8).map { String(format: "%02x", $0) }.joined()
                #expect(!pgDump.output.contains(trace) && !pgDump.output.contains(hex), "\(trace) is in the dump")
            }
            let verified = try await server.cli(["log", "verify"])
            #expect(verified.contains("1 erased"), "\(verified)")
            _ = try await server.cli(["verify"])

            // Bob's mail out, finished 100 days ago (its events moved into the past, as the
            // retention test does): `Outqueue=30` lets go of it; bob's own folders are untouched.
            let old = "OLD-\(UUID().uuidString.prefix(8))"
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('bob@example.com', ['three@good.example'], 'Subject: \(old)\\r\\n\\nbody of \(old)\\r\\n')
                s.quit()
                print('{}')
                """)
            _ = try await waitForStates(server, subject: old, ["three@good.example": "delivered"])
            let oldBlob = try #require(try await server.query(
                "SELECT encode(blob, 'hex') FROM outqueue.outmessages WHERE subject = '\(old)'").first?[0])
            _ = try await server.query("ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only")
            _ = try await server.query("UPDATE eventlog.events SET recorded_at = recorded_at - interval '100 days'")
            _ = try await server.query("ALTER TABLE eventlog.events ENABLE TRIGGER events_append_only")
            _ = try await server.cli(["rebuild"])
            try await server.cli(["settings", "set", "mail.retention", "[\"Outqueue=30\"]"])
            _ = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(200), "bob's old mail let go of") {
                try await transitWraps(server)[oldBlob] == 0 ? true : nil
            }
            _ = try await eventually(within: .seconds(120), pollingEvery: .milliseconds(200), "the retention run finished") {
                let key = "hashtextextended('pillarbox-retention', 0)"
                let free = try await server.query("SELECT (pg_try_advisory_lock(\(key)) AND pg_advisory_unlock(\(key)))::text")
                return free.first?.first == "true" ? true : nil
            }
            let retained = try await server.cli(["log", "dump", "--stream", "erasure-main"])
            #expect(retained.split(separator: "\n").last { $0.contains("transit_keys_destroyed") }?.contains("\"component\":\"retention\"") == true)
            #expect(try await server.query("""
                SELECT coalesce(subject, '(none)') FROM outqueue.outmessages WHERE encode(blob, 'hex') = '\(oldBlob)'
                """) == [["(none)"]])
            #expect(try await server.inbox("bob").count == 1)
            _ = try await server.cli(["verify"])
        }
    }
}
