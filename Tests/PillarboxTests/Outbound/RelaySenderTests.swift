import Foundation
import TestSupport
import Testing

/// A plain receiving server without STARTTLS or AUTH on 127.0.0.5 (aiosmtpd): every message
/// is one JSON line in the file named by argv[1].
let plainRelay = #"""
import json, socket, sys, threading
from aiosmtpd.controller import Controller

log_path = sys.argv[1]
lock = threading.Lock()

class Sink:
    async def handle_DATA(self, server, session, envelope):
        with lock, open(log_path, 'a') as log:
            log.write(json.dumps({'from': envelope.mail_from, 'to': envelope.rcpt_tos, 'helo': session.host_name,
                                  'peer': session.peer[0], 'data': envelope.original_content.decode('utf-8', 'replace')}) + '\n')
        return '250 2.0.0 relayed'

probe = socket.socket()
probe.bind(('127.0.0.5', 0))
port = probe.getsockname()[1]
probe.close()
Controller(Sink(), hostname='127.0.0.5', port=port, server_hostname='plain-relay.test').start()
print(json.dumps({'port': port}), flush=True)
threading.Event().wait()
"""#

extension MailServerHarness {
    /// Outgoing mail through `plainRelay` on 127.0.0.5 as the default sender (each message a
    /// JSON line in `log`), with SPF, DKIM and DMARC off for mail from the test's clients. The
    /// caller ends the sink.
    func relayingToSink() async throws -> (log: String, sink: RunningProcess) {
        let log = dataDirectory + "/sink.jsonl"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let (sink, port) = try await startPeer(plainRelay, [log])
        try await cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
        try await cli(["sender", "set", "isp", "--method", "relay", "--relay", "127.0.0.5:\(port)", "--encryption", "none", "--default"])
        return (log, sink)
    }
}

/// Mail senders through relays: a second Pillarbox's submission (STARTTLS, SCRAM) and
/// implicit-TLS ports as the smarthost, aiosmtpd as a relay without STARTTLS.
@Suite("Relay senders, domain filtering and sending limits", .serialized)
struct RelaySenderTests {
    static let relayPassword = "Relay-Secret-7f3a9c"
    /// The smarthost's name, as its certificate has it.
    static let dns = Result { try TestDNSServer(zones: ["example."], localData: ["mx.test.example. IN A 127.0.0.1"]) }

    /// `server` sends; `relay` is the smarthost (its queue paused, so relayed mail stays
    /// there to be looked at); `sinkLog` is the plain relay's log.
    struct Setup {
        let server: MailServerHarness
        let relay: MailServerHarness
        let sinkPort: Int
        let sinkLog: String
    }

    func withSetup(_ body: @Sendable (Setup) async throws -> Void) async throws {
        try await MailServerHarness.with { relay in
            try await relay.cli(["domain", "add", "relay.example"])
            try await relay.cli(["settings", "set", "security.scrypt_log_n", "10"])
            try await relay.cli(["user", "add", "smarthost", "--password-stdin"], input: Self.relayPassword + "\n")
            try await relay.cli(["settings", "set", "outqueue.paused", "true"])
            try await relay.cli(["settings", "set", "ips.never_block", #"["127.0.0.1"]"#])
            // The smarthost account relays mail from the sending server's users.
            try await relay.cli(["settings", "set", "smtp.allow_any_sender", #"["smarthost"]"#])
            try await Self.issueCertificate(in: relay)
            try await relay.start()
            try await MailServerHarness.with { server in
                try await server.createStandardDirectory()
                let log = server.dataDirectory + "/plain-relay.jsonl"
                _ = FileManager.default.createFile(atPath: log, contents: nil)
                let (sink, port) = try await server.startPeer(plainRelay, [log])
                defer { sink.signal(SIGKILL) }
                try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
                try await server.cli(["settings", "set", "dns.servers", #"["127.0.0.1:\#(try Self.dns.get().port)"]"#])
                try await server.cli(["settings", "set", "outqueue.reply_timeout_percent", "2"])
                try await server.cli(["settings", "set", "outqueue.connect_timeout_seconds", "3"])
                try await server.start()
                try await body(Setup(server: server, relay: relay, sinkPort: port, sinkLog: log))
                #expect(try await server.cli(["verify"]).contains("outqueue: ok"))
            }
        }
    }

    /// Runs a `pillarbox` command that changes `setting` and waits until the running server
    /// has applied the change (it logs each one).
    @discardableResult
    func change(_ server: MailServerHarness, _ setting: String, _ arguments: [String], input: String? = nil) async throws -> String {
        let marker = "setting=\(setting) "
        let before = server.log.components(separatedBy: marker).count
        let output = try await server.cli(arguments, input: input)
        _ = try await eventually(within: .seconds(30), "the server applying \(setting)") { () -> Bool? in
            server.log.components(separatedBy: marker).count > before ? true : nil
        }
        return output
    }

    /// A private CA (`ca.crt` in the relay's data directory) and, signed by it, the relay's
    /// certificate for mx.test.example, put where the relay looks for its own.
    static func issueCertificate(in relay: MailServerHarness) async throws {
        let directory = relay.dataDirectory
        try FileManager.default.createDirectory(atPath: directory + "/tls", withIntermediateDirectories: true)
        for arguments in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Pillarbox Test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", directory + "/ca.key", "-out", directory + "/ca.crt"],
            ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mx.test.example",
             "-addext", "subjectAltName=DNS:mx.test.example", "-keyout", directory + "/tls/selfsigned-key.pem",
             "-out", directory + "/relay.csr"],
            ["x509", "-req", "-in", directory + "/relay.csr", "-CA", directory + "/ca.crt", "-CAkey", directory + "/ca.key",
             "-CAcreateserial", "-days", "1", "-copy_extensions", "copyall", "-out", directory + "/tls/selfsigned-cert.pem"],
        ] {
            let result = try await relay.tool("/usr/bin/openssl", arguments)
            #expect(result.status == 0, "openssl \(arguments.first ?? ""): \(result.errors)")
        }
    }

    /// Sends through the MX listener; `lines` lines of filler make the message bigger.
    func send(_ server: MailServerHarness, from: String = "alice@example.com", to recipients: [String], subject: String,
              lines: Int = 0) async throws {
        let list = recipients.map { "'\($0)'" }.joined(separator: ", ")
        _ = try await server.python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            body = 'From: \(from)\\r\\nTo: someone\\r\\nSubject: \(subject)\\r\\n\\r\\nbody of \(subject)\\r\\n' + ('x' * 76 + '\\r\\n') * \(lines)
            s.sendmail('\(from)', [\(list)], body)
            s.quit()
            print(json.dumps({}))
            """)
    }

    /// Recipient rows of the sending server's queue: address → (status, last reply).
    func states(_ server: MailServerHarness, subject: String) async throws -> [String: (String, String)] {
        let rows = try await server.query("""
            SELECT r.address, r.status, coalesce(r.lastreply, '') FROM outqueue.outrecipients r
            JOIN outqueue.outmessages m USING (msgid) WHERE m.subject = '\(subject)'
            """)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0], ($0[1], $0[2])) })
    }

    func reach(_ server: MailServerHarness, subject: String, _ expected: [String: String],
               within timeout: Duration = .seconds(60)) async throws -> [String: (String, String)] {
        try await eventually(within: timeout, pollingEvery: .milliseconds(100), "\(subject) reaching \(expected)") {
            let rows = try await states(server, subject: subject)
            return expected.allSatisfy { rows[$0.key]?.0 == $0.value } ? rows : nil
        }
    }

    /// The relay's own queue: recipients of messages with `subject`, with who sent them.
    func relayed(_ relay: MailServerHarness, subject: String) async throws -> [[String]] {
        try await relay.query("""
            SELECT r.address, coalesce(m.authsender, ''), m.returnpath FROM outqueue.outrecipients r
            JOIN outqueue.outmessages m USING (msgid) WHERE m.subject = '\(subject)' ORDER BY r.address
            """)
    }

    /// The relay's queue rows for `subject` once there are `count` (its queue follows its log a
    /// moment after it accepted the message).
    func relayed(_ relay: MailServerHarness, subject: String, count: Int) async throws -> [[String]] {
        try await eventually(within: .seconds(30), "\(count) relayed recipients of \(subject)") {
            let rows = try await relayed(relay, subject: subject)
            return rows.count >= count ? rows : nil
        }
    }

    func sinkMessages(_ setup: Setup, containing text: String) -> [[String: Any]] {
        let lines = ((try? String(contentsOfFile: setup.sinkLog, encoding: .utf8)) ?? "").split(separator: "\n")
        return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { ($0["data"] as? String)?.contains(text) == true }
    }

    @Test("STARTTLS and AUTH to a smarthost's submission port, with a sealed password that shows nowhere")
    func starttlsAndAuth() async throws {
        try await withSetup { setup in
            let submission = try #require(setup.relay.ports["submission"])
            let output = try await change(setup.server, "outqueue.senders", [
                "sender", "set", "isp", "--method", "relay", "--relay", "127.0.0.1:\(submission)", "--encryption", "starttls",
                "--verify-certificate", "false", "--user", "smarthost", "--password-stdin", "--ehlo-name", "client.test.example",
                "--default",
            ], input: Self.relayPassword + "\n")
            #expect(output.contains("(sealed)"))
            try await send(setup.server, to: ["one@far.example", "two@other.example"], subject: "through the smarthost")
            let rows = try await reach(setup.server, subject: "through the smarthost",
                                       ["one@far.example": "delivered", "two@other.example": "delivered"])
            #expect(rows.count == 2)
            // One transaction for both domains, logged in as the relay account.
            let relayed = try await relayed(setup.relay, subject: "through the smarthost", count: 2)
            #expect(relayed.map { $0[0] } == ["one@far.example", "two@other.example"])
            #expect(relayed.allSatisfy { $0[1] == "smarthost" && $0[2] == "alice@example.com" })
            let attempts = try await setup.server.query("SELECT route, coalesce(tls, ''), domain FROM outqueue.sendattempts")
            #expect(attempts.count == 1)
            #expect(attempts.first?[0] == "isp")
            #expect(attempts.first?[1].hasPrefix("TLSv1.") == true)
            #expect(attempts.first?[2] == "far.example,other.example")

            // The password is nowhere but sealed in the vault.
            var places = [
                try await setup.server.cli(["log", "dump"]),
                try await setup.server.cli(["settings", "get", "outqueue.senders"]),
                try await setup.server.cli(["settings", "list"]),
                try await setup.server.cli(["sender", "list", "--json"]),
                setup.server.log,
            ]
            places.append(try await setup.server.query("SELECT encode(sealed, 'escape') FROM vault.secrets").flatMap { $0 }.joined())
            for (index, text) in places.enumerated() {
                #expect(!text.contains(Self.relayPassword), "the relay password appears in place \(index)")
            }
        }
    }

    @Test("implicit TLS with the relay's certificate verified against a trusted private CA; unverifiable without it")
    func implicitTLSVerified() async throws {
        try await withSetup { setup in
            let smtps = try #require(setup.relay.ports["smtps"])
            let certificate = setup.relay.dataDirectory + "/ca.crt"
            // Verification is on by default: the relay's self-signed certificate is not trusted.
            try await change(setup.server, "outqueue.senders", [
                "sender", "set", "secure", "--method", "relay", "--relay", "mx.test.example:\(smtps)", "--encryption", "ssl",
                "--user", "smarthost", "--password-stdin", "--default",
            ], input: Self.relayPassword + "\n")
            try await send(setup.server, to: ["one@far.example"], subject: "untrusted")
            let refused = try await reach(setup.server, subject: "untrusted", ["one@far.example": "deferred"])
            #expect(refused["one@far.example"]?.1.contains("4.7.5") == true, "\(refused)")
            #expect(try await relayed(setup.relay, subject: "untrusted").isEmpty)

            try await change(setup.server, "outqueue.senders", ["sender", "set", "secure", "--trusted-certificates", certificate])
            try await send(setup.server, to: ["two@far.example"], subject: "trusted")
            _ = try await reach(setup.server, subject: "trusted", ["two@far.example": "delivered"])
            #expect(try await relayed(setup.relay, subject: "trusted", count: 1).map { $0[0] } == ["two@far.example"])
        }
    }

    @Test("starttls required: a relay that does not offer it gets nothing")
    func starttlsRefused() async throws {
        try await withSetup { setup in
            try await change(setup.server, "outqueue.senders", ["sender", "set", "strict", "--method", "relay", "--relay", "127.0.0.5:\(setup.sinkPort)",
                                        "--encryption", "starttls", "--default"])
            try await send(setup.server, to: ["one@far.example"], subject: "no starttls")
            let rows = try await reach(setup.server, subject: "no starttls", ["one@far.example": "deferred"])
            #expect(rows["one@far.example"]?.1.contains("STARTTLS") == true, "\(rows)")
            #expect(sinkMessages(setup, containing: "body of no starttls").isEmpty)
        }
    }

    @Test("relay failover: an unreachable first server passes to the next")
    func failover() async throws {
        try await withSetup { setup in
            try await change(setup.server, "outqueue.senders", ["sender", "set", "pair", "--method", "relay", "--relay", "127.0.0.9:9",
                                        "--relay", "127.0.0.5:\(setup.sinkPort)", "--encryption", "none", "--default"])
            try await send(setup.server, to: ["one@far.example"], subject: "failover")
            _ = try await reach(setup.server, subject: "failover", ["one@far.example": "delivered"])
            #expect(sinkMessages(setup, containing: "body of failover").count == 1)
            let result = try await setup.server.query("SELECT result, mxhost FROM outqueue.sendattempts")
            #expect(result.first?[0].contains("skipped: 127.0.0.9:9") == true, "\(result)")
            #expect(result.first?[1] == "127.0.0.5")
        }
    }

    @Test("a refused login defers the mail with the relay's reply, and the next server is not tried")
    func authFailure() async throws {
        try await withSetup { setup in
            let submission = try #require(setup.relay.ports["submission"])
            try await change(setup.server, "outqueue.senders", [
                "sender", "set", "isp", "--method", "relay", "--relay", "127.0.0.1:\(submission)",
                "--relay", "127.0.0.5:\(setup.sinkPort)", "--encryption", "starttls", "--verify-certificate", "false",
                "--user", "smarthost", "--password-stdin", "--default",
            ], input: "wrong-password\n")
            try await send(setup.server, to: ["one@far.example"], subject: "bad login")
            let rows = try await reach(setup.server, subject: "bad login", ["one@far.example": "deferred"])
            #expect(rows["one@far.example"]?.1.contains("login refused: 535") == true, "\(rows)")
            #expect(sinkMessages(setup, containing: "body of bad login").isEmpty)
            #expect(try await relayed(setup.relay, subject: "bad login").isEmpty)
        }
    }

    @Test("domain filtering picks the sender: From: rules to one relay, everything else through the default")
    func domainFiltering() async throws {
        try await withSetup { setup in
            let submission = try #require(setup.relay.ports["submission"])
            try await change(setup.server, "outqueue.senders", [
                "sender", "set", "isp", "--method", "relay", "--relay", "127.0.0.1:\(submission)", "--encryption", "starttls",
                "--verify-certificate", "false", "--user", "smarthost", "--password-stdin", "--default",
            ], input: Self.relayPassword + "\n")
            try await change(setup.server, "outqueue.senders", ["sender", "set", "sales", "--method", "relay", "--relay", "127.0.0.5:\(setup.sinkPort)",
                                        "--encryption", "none", "--filter", "From: bob@*", "--filter", "!*.internal.example"])
            try await send(setup.server, from: "bob@example.com", to: ["one@far.example", "two@lab.internal.example"],
                           subject: "from bob")
            try await send(setup.server, from: "alice@example.com", to: ["three@far.example"], subject: "from alice")
            _ = try await reach(setup.server, subject: "from bob",
                                ["one@far.example": "delivered", "two@lab.internal.example": "delivered"])
            _ = try await reach(setup.server, subject: "from alice", ["three@far.example": "delivered"])
            let viaSales = sinkMessages(setup, containing: "body of from bob")
            #expect(viaSales.count == 1)
            #expect(viaSales.first?["to"] as? [String] == ["one@far.example"])
            #expect(try await relayed(setup.relay, subject: "from bob", count: 1).map { $0[0] } == ["two@lab.internal.example"])
            #expect(try await relayed(setup.relay, subject: "from alice", count: 1).map { $0[0] } == ["three@far.example"])
            #expect(sinkMessages(setup, containing: "body of from alice").isEmpty)
        }
    }

    @Test("X per Y minutes: two recipients go, the rest wait visibly for the window, then the next two go")
    func sendingLimit() async throws {
        try await withSetup { setup in
            try await change(setup.server, "outqueue.senders", ["sender", "set", "slow", "--method", "relay", "--relay", "127.0.0.5:\(setup.sinkPort)",
                                        "--encryption", "none", "--rate-limit", "2/1", "--default"])
            let recipients = (1...5).map { "r\($0)@far.example" }
            try await send(setup.server, to: recipients, subject: "throttled")
            let first = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "the first window") {
                () -> [String: (String, String)]? in
                let rows = try await states(setup.server, subject: "throttled")
                let delivered = rows.values.filter { $0.0 == "delivered" }.count
                let waiting = rows.values.filter { $0.0 == "waiting for sending limit" }.count
                return delivered == 2 && waiting == 3 ? rows : nil
            }
            #expect(first.count == 5)
            #expect(sinkMessages(setup, containing: "body of throttled").flatMap { $0["to"] as? [String] ?? [] }.count == 2)
            let next = try await setup.server.query("""
                SELECT min(extract(epoch FROM r.nexttry - a.started))::text FROM outqueue.outrecipients r, outqueue.sendattempts a
                WHERE r.status = 'waiting for sending limit'
                """)
            let wait = Double(next.first?.first ?? "") ?? 0
            #expect(wait >= 55 && wait <= 65, "the window frees a minute after the first attempt, not \(wait) s")
            // A minute later the window lets two more through, and no more.
            let second = try await eventually(within: .seconds(120), pollingEvery: .milliseconds(250), "the second window") {
                () -> [String: (String, String)]? in
                let rows = try await states(setup.server, subject: "throttled")
                return rows.values.filter { $0.0 == "delivered" }.count >= 4 ? rows : nil
            }
            #expect(second.values.filter { $0.0 == "delivered" }.count == 4)
            #expect(second.values.filter { $0.0 == "waiting for sending limit" }.count == 1)
        }
    }

    @Test("smallest first: under a sending limit of one, the smallest queued message goes first")
    func smallestFirst() async throws {
        try await withSetup { setup in
            try await change(setup.server, "outqueue.paused", ["settings", "set", "outqueue.paused", "true"])
            try await change(setup.server, "outqueue.senders", ["sender", "set", "slow", "--method", "relay", "--relay", "127.0.0.5:\(setup.sinkPort)",
                                        "--encryption", "none", "--rate-limit", "1/60", "--smallest-first", "true", "--default"])
            for (subject, lines) in [("big", 300), ("small", 1), ("middling", 30)] {
                try await send(setup.server, to: ["\(subject)@far.example"], subject: subject, lines: lines)
            }
            _ = try await eventually(within: .seconds(30), "three queued messages") { () -> Bool? in
                try await setup.server.query("SELECT count(*)::text FROM outqueue.outmessages").first?.first == "3" ? true : nil
            }
            try await change(setup.server, "outqueue.paused", ["settings", "set", "outqueue.paused", "false"])
            let states = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "one sent, two waiting") {
                () -> [String: String]? in
                let rows = try await setup.server.query("SELECT address, status FROM outqueue.outrecipients")
                let table = Dictionary(uniqueKeysWithValues: rows.map { ($0[0], $0[1]) })
                return table.values.filter { $0 == "waiting for sending limit" }.count == 2 ? table : nil
            }
            #expect(states["small@far.example"] == "delivered", "\(states)")
        }
    }

    @Test("priorities: the administrator's priority, then a user's send priority, go before the queue's age")
    func priorities() async throws {
        try await withSetup { setup in
            let server = setup.server
            try await server.cli(["user", "add", "boss", "--send-priority=-5", "--password-stdin"], input: "boss-pass\n")
            try await change(server, "outqueue.paused", ["settings", "set", "outqueue.paused", "true"])
            try await change(server, "outqueue.senders", ["sender", "set", "slow", "--method", "relay", "--relay", "127.0.0.5:\(setup.sinkPort)",
                                                           "--encryption", "none", "--rate-limit", "1/60", "--default"])
            try await send(server, to: ["early@far.example"], subject: "early")
            _ = try await server.python("""
                import smtplib, ssl
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = smtplib.SMTP('127.0.0.1', PORTS['submission'])
                s.starttls(context=ctx)
                s.login('boss', 'boss-pass')
                s.sendmail('boss@example.com', ['vip@far.example'], 'From: boss@example.com\\r\\nSubject: vip\\r\\n\\r\\nbody of vip\\r\\n')
                s.quit()
                print(json.dumps({}))
                """)
            try await send(server, to: ["bumped@far.example"], subject: "bumped")
            let ids = try await eventually(within: .seconds(30), "three queued messages") { () -> [String: String]? in
                let rows = try await server.query("SELECT subject, msgid, priority::text FROM outqueue.outmessages")
                return rows.count == 3 ? Dictionary(uniqueKeysWithValues: rows.map { ($0[0], $0[1] + " " + $0[2]) }) : nil
            }
            #expect(ids["vip"]?.hasSuffix(" -5") == true, "\(ids)")
            let bumped = try #require(ids["bumped"]?.split(separator: " ").first.map(String.init))
            try await server.cli(["mail", "queue", "priority", bumped, "--priority=-10"])
            _ = try await eventually(within: .seconds(30), "the new priority") { () -> Bool? in
                try await server.query("SELECT priority::text FROM outqueue.outmessages WHERE msgid = '\(bumped)'").first?.first == "-10"
                    ? true : nil
            }
            try await change(server, "outqueue.paused", ["settings", "set", "outqueue.paused", "false"])
            // One a minute: the bumped message goes; the user's comes next, before the older one.
            let states = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "one sent, two waiting") {
                () -> [String: String]? in
                let rows = try await server.query("SELECT address, status, coalesce(nexttry::text, '') FROM outqueue.outrecipients")
                let table = Dictionary(uniqueKeysWithValues: rows.map { ($0[0], $0[1]) })
                return table.values.filter { $0 == "waiting for sending limit" }.count == 2 ? table : nil
            }
            #expect(states["bumped@far.example"] == "delivered", "\(states)")
            let order = try await server.query("""
                SELECT m.subject FROM outqueue.outmessages m WHERE m.finishedtime IS NULL ORDER BY m.priority, m.created
                """).map { $0[0] }
            #expect(order == ["vip", "early"])
        }
    }

    @Test("DKIM: mail leaving is signed with its From domain's RSA and Ed25519 keys, which dkimpy verifies; a retired key signs nothing")
    func dkimSigned() async throws {
        try await withSetup { setup in
            let server = setup.server
            try await change(server, "outqueue.senders", ["sender", "set", "isp", "--method", "relay", "--relay", "127.0.0.5:\(setup.sinkPort)",
                                                           "--encryption", "none", "--default"])
            try await change(server, "dkim.keys", ["dkim", "keygen", "example.com", "rsa2026"])
            try await change(server, "dkim.keys", ["dkim", "keygen", "example.com", "ed2026", "--ed25519"])
            let keys = try #require(try JSONSerialization.jsonObject(with: Data(try await server.cli(["settings", "get", "dkim.keys"]).utf8))
                as? [[String: Any]])
            let records = keys.map { "'\($0["selector"]!)._domainkey.example.com.': b'\($0["record"]!)'" }.joined(separator: ", ")
            try await send(server, to: ["someone@far.example"], subject: "signed")
            _ = try await eventually(within: .seconds(60), "the signed message at the relay") { () -> Bool? in
                sinkMessages(setup, containing: "body of signed").isEmpty ? nil : true
            }
            let verify = """
                import dkim
                records = {\(records)}
                def dns(name, timeout=5):
                    return records.get(name.decode())
                with open('\(setup.sinkLog)') as log:
                    entries = [json.loads(line) for line in log]
                data = [e['data'] for e in entries if 'body of signed' in e['data']][0].encode()
                d = dkim.DKIM(data)
                count = data.count(b'DKIM-Signature:')
                print(json.dumps({'count': count, 'results': [bool(d.verify(idx=i, dnsfunc=dns)) for i in range(count)]}))
                """
            let result = try await server.python(verify).json
            #expect(result["count"] as? Int == 2)
            #expect(result["results"] as? [Bool] == [true, true], "\(result)")

            try await change(server, "dkim.keys", ["dkim", "retire", "example.com", "rsa2026"])
            try await change(server, "dkim.keys", ["dkim", "retire", "example.com", "ed2026"])
            try await send(server, to: ["someone@far.example"], subject: "unsigned")
            let unsigned = try await eventually(within: .seconds(60), "the unsigned message at the relay") { () -> String? in
                sinkMessages(setup, containing: "body of unsigned").first?["data"] as? String
            }
            #expect(!unsigned.contains("DKIM-Signature"))
            #expect(try await server.query("SELECT count(*)::text FROM vault.secrets WHERE purpose = 'dkim-key'").first?.first == "0")
        }
    }

    @Test("sender settings are checked when set, naming what is wrong")
    func refusedSettings() async throws {
        try await withSetup { setup in
            for (arguments, problem) in [
                (["sender", "set", "r", "--method", "relay"], "needs at least one relay server"),
                (["sender", "set", "r", "--method", "relay", "--relay", "host:99999"], "the port must be"),
                (["sender", "set", "r", "--method", "relay", "--relay", "h", "--filter", "From:"], "line 1"),
                (["sender", "set", "bad name", "--method", "direct"], "the name must be"),
            ] {
                let result = try await PillarboxBinary.run(arguments + setup.server.databaseArguments)
                #expect(result.status != 0)
                #expect(result.errors.contains(problem), "\(arguments): \(result.errors)")
            }
        }
    }
}
