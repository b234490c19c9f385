import Foundation
import TestSupport
import Testing

/// A LAN server on 127.0.0.5 (aiosmtpd): no STARTTLS; AUTH PLAIN/LOGIN without TLS for the
/// user and password in argv[2] and argv[3]. Every message is one JSON line in argv[1], with
/// the login it came under.
let lanServer = #"""
import json, socket, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

log_path, user, password = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
lock = threading.Lock()

def authenticate(server, session, envelope, mechanism, data):
    return AuthResult(success=data.login == user and data.password == password, auth_data=data)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if session.auth_data else None
        with lock, open(log_path, 'a') as log:
            log.write(json.dumps({'from': envelope.mail_from, 'to': envelope.rcpt_tos, 'login': login,
                                  'data': envelope.original_content.decode('utf-8', 'replace')}) + '\n')
        return '250 2.0.0 taken by the LAN server'

probe = socket.socket()
probe.bind(('127.0.0.5', 0))
port = probe.getsockname()[1]
probe.close()
Controller(Sink(), hostname='127.0.0.5', port=port, server_hostname='exchange.lan', authenticator=authenticate,
           auth_require_tls=False).start()
print(json.dumps({'port': port}), flush=True)
threading.Event().wait()
"""#

@Suite("LAN forwarding: rules, the ~@domain fallback, inline SMTP: targets, the always-on LAN queue", .serialized)
struct LANQueueTests {
    static let rulePassword = "Lan-Rule-Secret-42"
    static let inlinePassword = "Inline-Target-Secret-9"

    @Test("rules with rewriting and login, the fallback and inline targets go to the LAN server while the outqueue is paused")
    func lanForwarding() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let log = server.dataDirectory + "/lan-server.jsonl"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let (lan, port) = try await server.startPeer(lanServer, [log, "fred", Self.rulePassword])
            defer { lan.signal(SIGKILL) }
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
            // The outqueue is paused: only the LAN queue sends.
            try await server.cli(["settings", "set", "outqueue.paused", "true"])
            try await server.cli(["settings", "set", "outqueue.reply_timeout_percent", "2"])
            try await server.cli([
                "lan", "set", "exchange", "--address", "sales*@example.com", "--address", "*@branch.example",
                "--server", "127.0.0.5", "--port", "\(port)", "--encryption", "none", "--user", "fred", "--password-stdin",
                "--rewrite", "*@corp.example",
            ], input: Self.rulePassword + "\n")
            try await server.cli(["lan", "set", "fallback", "--address", "~@example.com", "--server", "127.0.0.5",
                                  "--port", "\(port)", "--encryption", "none"])
            try await server.cli(["list", "add", "news", "--public"])
            try await server.cli(["list", "member", "add", "news", "SMTP:Bob.Smith@Target.example@127.0.0.5:\(port)"])
            try await server.cli(["list", "member", "add", "news", "SMTP:carl@target.example@carl:\(Self.inlinePassword)@127.0.0.5:\(port)"])
            // Malformed inline targets are refused, naming the fault and not the password.
            for (bad, fault) in [("SMTP:bob@target.example@carl:\(Self.inlinePassword)@127.0.0.5:99999", "1...65535"),
                                 ("SMTP:bob@target.example@carl\(Self.inlinePassword)@127.0.0.5", "<user>:<password>")] {
                let refused = try await PillarboxBinary.run(["list", "member", "add", "news", bad] + server.databaseArguments)
                #expect(refused.status != 0)
                #expect(refused.errors.contains(fault), "\(refused.errors)")
                #expect(!refused.errors.contains(Self.inlinePassword))
            }
            try await server.start()

            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                body = 'From: someone@outside.test\\r\\nTo: staff\\r\\nSubject: for the LAN\\r\\n\\r\\nhello LAN\\r\\n'
                s.sendmail('someone@outside.test', ['Sales@example.com', 'nobody@example.com', 'alice@example.com',
                                                    'far@elsewhere.test', 'news@example.com'], body)
                s.quit()
                print(json.dumps({}))
                """)
            let lines = try await eventually(within: .seconds(60), pollingEvery: .milliseconds(100), "three LAN deliveries") {
                () -> [String]? in
                let lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
                return lines.count >= 3 ? lines : nil
            }
            let delivered = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            func entry(to address: String) -> [String: Any]? {
                delivered.first { ($0["to"] as? [String]) == [address] }
            }
            // The rule's rewriting keeps the user part; it logs in with its sealed password.
            let rewritten = try #require(entry(to: "Sales@corp.example"), "\(delivered)")
            #expect(rewritten["login"] as? String == "fred")
            #expect(rewritten["from"] as? String == "someone@outside.test")
            #expect((rewritten["data"] as? String)?.contains("hello LAN") == true)
            // ~@example.com takes what no user, alias or list does.
            let fallback = try #require(entry(to: "nobody@example.com"), "\(delivered)")
            #expect(fallback["login"] is NSNull)
            // The list's inline target keeps its case and gets the list as its sender.
            let inline = try #require(entry(to: "Bob.Smith@target.example"), "\(delivered)")
            #expect(inline["from"] as? String == "news@example.com")

            // The queues side by side: the LAN queue sent; the paused outqueue did not.
            let rows = try await eventually(within: .seconds(30), "the queue's projection") { () -> [String: [String]]? in
                let rows = try await server.query("SELECT address, queue, status, coalesce(lastreply, '') FROM outqueue.outrecipients")
                let byAddress = Dictionary(rows.map { ($0[0], $0) }) { first, _ in first }
                let settled = ["Sales@corp.example", "nobody@example.com", "Bob.Smith@target.example"]
                    .allSatisfy { byAddress[$0]?[2] == "delivered" } && byAddress["carl@target.example"]?[2] == "deferred"
                return settled ? byAddress : nil
            }
            #expect(rows["Sales@corp.example"]?[1] == "lan:exchange")
            #expect(rows["nobody@example.com"]?[1] == "lan:fallback")
            #expect(rows["Bob.Smith@target.example"]?[1] == "lan:127.0.0.5:\(port)")
            #expect(rows["far@elsewhere.test"]?[1] == "outqueue")
            #expect(rows["far@elsewhere.test"]?[2] == "queued")
            // The inline target's login needs TLS, which the LAN server does not offer: deferred, with the reason.
            #expect(rows["carl@target.example"]?[3].contains("TLS") == true, "\(rows["carl@target.example"] ?? [])")
            let listed = try await server.cli(["mail", "queue", "list"])
            #expect(listed.contains("lan:127.0.0.5:\(port)") && listed.contains("outqueue"))
            // Alice's copy is local as ever.
            _ = try await eventually(within: .seconds(30), "alice's copy") { () -> Bool? in
                try await server.query("SELECT messages::text FROM mail.accounts WHERE user_id = 'alice'").first?.first == "1" ? true : nil
            }
            // The LogDB shows the LAN recipients as forwarded.
            let logdb = try await server.query("SELECT rcpttype FROM logdb.recipients WHERE name = 'Sales@corp.example'")
            #expect(logdb.first?.first == "F")

            // The passwords are sealed: nowhere in the log, the settings, the listings or the server's log.
            let places = [
                try await server.cli(["log", "dump"]), try await server.cli(["settings", "list"]),
                try await server.cli(["lan", "list", "--json"]), try await server.cli(["list", "show", "news"]), server.log,
            ]
            for (index, text) in places.enumerated() {
                #expect(!text.contains(Self.rulePassword) && !text.contains(Self.inlinePassword), "a password appears in place \(index)")
            }
            #expect(try await server.cli(["verify"]).contains("outqueue: ok"))
        }
    }
}
