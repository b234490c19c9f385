import Foundation
import TestSupport
import Testing

/// Assistants: copies, redirection, nothing diverted back to the assistant, no chaining.
@Suite("Assistants")
struct AssistantTests {
    static func send(_ server: MailServerHarness, from: String, to: String, subject: String) async throws {
        _ = try await server.python("""
            import smtplib
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'], timeout=30)
            s.sendmail(sys.argv[1], [sys.argv[2]], ('From: %s\\r\\nSubject: %s\\r\\n\\r\\nx\\r\\n' % (sys.argv[1], sys.argv[3])).encode())
            s.quit()
            """, [from, to, subject])
    }

    @Test("a copy to each assistant; redirected to an address; mail from the assistant not copied back; an assistant's assistants not followed")
    func assistants() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.spf_policy", "off", "smtp.dkim_verify", "false", "smtp.dmarc_policy", "off"])
            try await server.cli(["user", "add", "dave", "--password-stdin"], input: "dave-pass\n")
            try await server.cli(["user", "assistant", "bob", "alice"])
            try await server.cli(["user", "assistant", "alice", "carol"])
            try await server.cli(["user", "assistant", "carol", "dave@example.com", "--redirect", "true"])
            try await server.start()

            try await Self.send(server, from: "friend@remote.example", to: "bob@example.com", subject: "to bob")
            try await Self.send(server, from: "alice@example.com", to: "bob@example.com", subject: "from the assistant")
            try await Self.send(server, from: "friend@remote.example", to: "carol@example.com", subject: "to carol")
            // Everything addressed so far has landed once dave has carol's.
            let dave = try await server.awaitInbox("dave", count: 1)
            #expect(String(decoding: dave[0], as: UTF8.self).contains("Subject: to carol"))
            let bob = try await server.awaitInbox("bob", count: 2)
            #expect(CollectionTests.subjects(bob) == ["from the assistant", "to bob"])
            let alice = try await server.awaitInbox("alice", count: 1)
            #expect(CollectionTests.subjects(alice) == ["to bob"])
            #expect(try await server.inbox("carol").isEmpty, "redirected, and no chaining from alice")

            // The one-shot copy of what is already in bob's INBOX: his two messages, once more,
            // to alice, with bob's address as the sender.
            let output = try await server.cli(["user", "assistant", "bob", "--copy-inbox"])
            #expect(output.contains("sent 2 messages from the INBOX of bob"), "\(output)")
            let copied = try await server.awaitInbox("alice", count: 3)
            #expect(CollectionTests.subjects(copied) == ["from the assistant", "to bob", "to bob"])
            #expect(try await server.inbox("bob").count == 2, "bob keeps his, and gets nothing back")
            let none = try await PillarboxBinary.run(["user", "assistant", "dave", "--copy-inbox"] + server.databaseArguments)
            #expect(none.status != 0 && none.errors.contains("no assistant"), "\(none.errors)")
            try await server.cli(["verify"])
        }
    }
}
