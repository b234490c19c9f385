import Foundation
import TestSupport
import Testing

/// Nothing queued is lost to a crash, and little is sent twice: 500 messages queued for a sink,
/// the server killed with SIGKILL three times while it sends them, restarted each time.
@Suite("Outbound delivery crash safety", .serialized)
struct OutboundCrashTests {
    /// aiosmtpd on 127.0.0.5 writing each accepted message's Subject on a line of argv[1].
    static let sink = #"""
    import json, socket, threading
    from aiosmtpd.controller import Controller
    lock = threading.Lock()
    class Sink:
        async def handle_DATA(self, server, session, envelope):
            subject = [l for l in envelope.original_content.decode().split('\r\n') if l.startswith('Subject: ')][0]
            with lock, open(sys.argv[1], 'a') as log:
                log.write(subject[9:] + '\n')
            return '250 2.0.0 OK'
    probe = socket.socket()
    probe.bind(('127.0.0.5', 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Sink(), hostname='127.0.0.5', port=port)
    controller.start()
    print(json.dumps({'port': port}), flush=True)
    threading.Event().wait()
    """#

    /// The recording sink on 127.0.0.5, its log file and its port.
    static func startSink(_ server: MailServerHarness) async throws -> (RunningProcess, String, Int) {
        let log = server.dataDirectory + "/sink.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let sink = try server.startPython(Self.sink, [log])
        let port = try await eventually(within: .seconds(30), "the sink") { () -> Int? in
            guard let line = sink.output.split(separator: "\n").first,
                  let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object["port"] as? Int
        }
        return (sink, log, port)
    }

    /// Loopback may relay, and mail for sink.example goes to the sink.
    static func sendToSink(_ server: MailServerHarness, port: Int) async throws {
        try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#])
        try await server.cli(["settings", "set", "dns.overrides", #"{"sink.example": ["127.0.0.5"]}"#])
        try await server.cli(["settings", "set", "outqueue.remote_port", "\(port)"])
    }

    @Test("SIGKILL three times during delivery of 500 messages: every one arrives, duplicates bounded by those in flight")
    func killedWhileSending() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (sink, log, port) = try await Self.startSink(server)
            defer { sink.signal(SIGKILL) }
            let inFlight = 10
            try await Self.sendToSink(server, port: port)
            try await server.cli(["settings", "set", "outqueue.max_concurrent_deliveries", "\(inFlight)"])
            try await server.cli(["settings", "set", "outqueue.retry_minutes", "[0]"])
            try await server.start()

            let total = 500
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=60)
                for n in range(int(sys.argv[1])):
                    s.sendmail('alice@example.com', ['r%d@sink.example' % (n % 7)],
                               'Subject: crash-%d\\r\\n\\r\\n%s' % (n, ('x' * 70 + '\\r\\n') * 30))
                s.quit()
                print('{}')
                """, [String(total)], timeout: .seconds(300))

            @Sendable func arrived() -> [String] {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
            for round in 0..<3 {
                // A random moment: after a random number more messages have arrived.
                let before = arrived().count
                let target = min(total, before + Int.random(in: 1...60))
                _ = try await eventually(within: .seconds(120), "round \(round): \(target) messages at the sink") {
                    arrived().count >= target || Set(arrived()).count == total ? true : nil
                }
                try await server.kill()
                try await server.start()
            }
            let all = try await eventually(within: .seconds(300), pollingEvery: .milliseconds(200), "every message at the sink") {
                let lines = arrived()
                return Set(lines).count == total ? lines : nil
            }
            let duplicates = all.count - total
            #expect(duplicates <= 3 * inFlight, "\(duplicates) messages were sent twice")
            do {
                _ = try await eventually(within: .seconds(60), "the queue to empty") {
                    try await server.query("SELECT count(*)::text FROM outqueue.outrecipients WHERE finished IS NULL").first?[0] == "0"
                        ? true : nil
                }
            } catch {
                let left = try await server.query("""
                    SELECT r.msgid, r.status, r.attempts::text, coalesce(r.nexttry::text, ''), coalesce(r.lastreply, ''), m.held::text
                    FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid) WHERE r.finished IS NULL LIMIT 5
                    """)
                Issue.record("left in the queue: \(left)")
                if let id = left.first?[0] { print(try await server.cli(["log", "dump", "--stream", "message-\(id)"])) }
                throw error
            }
            let states = try await server.query("SELECT status, count(*)::text FROM outqueue.outrecipients GROUP BY status")
            #expect(states.map { $0[0] } == ["delivered"], "\(states)")
        }
    }

    @Test("two serve processes on one database send each recipient once, and both send")
    func twoProcesses() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            let (sink, log, port) = try await Self.startSink(server)
            defer { sink.signal(SIGKILL) }
            try await Self.sendToSink(server, port: port)
            try await server.cli(["settings", "set", "outqueue.max_concurrent_deliveries", "4"])
            try await server.start()
            let second = try MailServerHarness(sharingDatabaseWith: server)
            try await second.start()
            defer { Task { await second.stop() } }

            let total = 300
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=60)
                for n in range(int(sys.argv[1])):
                    s.sendmail('alice@example.com', ['r%d@sink.example' % (n % 5)], 'Subject: twice-%d\\r\\n\\r\\nbody\\r\\n' % n)
                s.quit()
                print('{}')
                """, [String(total)])
            @Sendable func arrived() -> [String] {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
            let all = try await eventually(within: .seconds(120), pollingEvery: .milliseconds(200), "every message at the sink") {
                let lines = arrived()
                return Set(lines).count == total ? lines : nil
            }
            _ = try await eventually(within: .seconds(60), "the queue to empty") {
                try await server.query("SELECT count(*)::text FROM outqueue.outrecipients WHERE finished IS NULL").first?[0] == "0"
                    ? true : nil
            }
            #expect(arrived().count == total, "\(arrived().count - total) messages were sent twice")
            #expect(all.count == total)
            #expect(server.log.contains("relay=127.0.0.5") && second.log.contains("relay=127.0.0.5"),
                    "both processes should have sent some of the messages")
            await second.stop()
        }
    }
}
