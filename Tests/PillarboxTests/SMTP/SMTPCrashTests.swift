import Foundation
import Testing
import TestSupport

/// Durable before acknowledged: a server killed at a random moment while parallel sessions
/// send has, after a restart, every message whose 250 a client saw, exactly once.
@Suite("SMTP crash safety", .serialized)
struct SMTPCrashTests {
    @Test("SIGKILL during parallel delivery loses and duplicates nothing that was acknowledged")
    func killedWhileReceiving() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start()
            let acknowledged = server.dataDirectory + "/acknowledged"
            let total = 400
            let client = try server.startPython("""
                import smtplib, threading, uuid, hashlib, os
                out = open(sys.argv[1], 'a')
                lock = threading.Lock()
                remaining = [int(sys.argv[2])]
                def worker():
                    try:
                        s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
                        s.ehlo()
                        while True:
                            with lock:
                                if remaining[0] == 0:
                                    break
                                remaining[0] -= 1
                            body = ('Subject: crash %s\\r\\n\\r\\n%s' % (uuid.uuid4(), ('x' * 70 + '\\r\\n') * 30)).encode()
                            s.sendmail('load@remote.test', ['alice@example.com'], body)
                            with lock:
                                out.write(hashlib.sha256(body).hexdigest() + '\\n')
                                out.flush()
                    except Exception:
                        pass
                threads = [threading.Thread(target=worker) for _ in range(8)]
                for t in threads: t.start()
                for t in threads: t.join()
                print('{}')
                """, [acknowledged, String(total)])

            // Kill the server once a random number of messages has been acknowledged.
            let killAfter = Int.random(in: 20...(total * 3 / 4))
            _ = try await eventually(within: .seconds(120), "\(killAfter) acknowledged messages") {
                let count = (try? String(contentsOfFile: acknowledged, encoding: .utf8))?.split(separator: "\n").count ?? 0
                return count >= killAfter ? true : nil
            }
            try await server.kill()
            _ = try await client.wait(timeout: .seconds(120))

            let sent = try String(contentsOfFile: acknowledged, encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(sent.count >= killAfter)
            try await server.start()
            let stored = try await server.awaitInbox("alice", count: sent.count).map(MailServerHarness.sha256)
            var counts: [String: Int] = [:]
            for hash in stored { counts[hash, default: 0] += 1 }
            let missing = sent.filter { counts[$0] == nil }
            let duplicated = counts.filter { $0.value > 1 }
            #expect(missing.isEmpty, "\(missing.count) acknowledged messages are missing")
            #expect(duplicated.isEmpty, "\(duplicated.count) messages are stored twice")
            #expect(stored.count <= total)
            let verify = try await server.cli(["verify", "mailbox"])
            #expect(verify.contains("mailbox: ok"), "\(verify)")
        }
    }
}
