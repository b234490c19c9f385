import Commands
import EventLog
import Facts
import Foundation
import MailCore
@testable import Projections
import TestSupport
import Testing

@Suite("Mail store")
struct MailStoreTests {
    @Test("a new account has INBOX and the special-use folders, each with its own UIDVALIDITY")
    func newAccount() async throws {
        try await withMailStore { mail, _ in
            try await openAccount("Alice", mail)
            let mailboxes = try await mail.reader.mailboxes("alice")
            #expect(Set(mailboxes.map(\.name)) == ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"])
            #expect(Set(mailboxes.map(\.uidValidity)).count == 6)
            #expect(mailboxes.first { $0.name == "Sent" }?.specialUse == "Sent")
            #expect(try await mail.reader.subscriptions("alice").count == 6)
        }
    }

    @Test("delivery, flags, copy, move and expunge keep UIDs, MODSEQ and quota straight")
    func messageLifecycle() async throws {
        try await withMailStore { mail, engine in
            try await openAccount("alice", mail)
            try await openAccount("bob", mail)
            let stored = try await mail.deliver(sampleMessage(1), to: ["alice", "bob"])
            #expect(stored.map(\.uid) == [1, 1])
            try await mail.deliver(sampleMessage(2), to: ["alice"])
            let inbox = try #require(try await mail.reader.mailbox("alice", named: "inbox"))
            #expect(inbox.uidNext == 3 && inbox.messages == 2)
            let size = Int64(sampleMessage(1).count + sampleMessage(2).count)
            #expect(try await mail.reader.account("alice")?.bytes == size)

            let flagged = try await mail.setFlags(user: "alice", mailboxID: inbox.id, uids: [1, 2], .add, ["\\seen", "$Label1"])
            #expect(flagged.changed == [1, 2])
            #expect(flagged.flags[1] == ["$Label1", "\\Seen"])
            let again = try await mail.setFlags(user: "alice", mailboxID: inbox.id, uids: [1], .add, ["\\Seen"])
            #expect(again.modSeq == nil)
            let stale = try await mail.setFlags(user: "alice", mailboxID: inbox.id, uids: [1], .add, ["\\Flagged"],
                                                unchangedSince: 1)
            #expect(stale.modified == [1])

            let archive = try #require(try await mail.reader.mailbox("alice", named: "Archive"))
            let copied = try await mail.copy(user: "alice", from: inbox.id, uids: [1, 2], to: archive.id)
            #expect(copied.uids.map(\.target) == [1, 2])
            let trash = try #require(try await mail.reader.mailbox("alice", named: "Trash"))
            let moved = try await mail.move(user: "alice", from: archive.id, uids: [2], to: trash.id)
            #expect(moved.uidValidity == trash.uidValidity && moved.uids.map(\.target) == [1])
            #expect(try await mail.reader.messages("alice", mailboxID: archive.id).map(\.uid) == [1])

            _ = try await mail.setFlags(user: "alice", mailboxID: inbox.id, uids: [2], .add, ["\\Deleted"])
            #expect(try await mail.expunge(user: "alice", mailboxID: inbox.id) == [2])
            let after = try #require(try await mail.reader.mailbox("alice", named: "INBOX"))
            #expect(after.messages == 1 && after.uidNext == 3 && after.highestModSeq > inbox.highestModSeq)
            #expect(try await mail.reader.account("alice")?.bytes == size + Int64(sampleMessage(1).count))

            // Async projections (the message audit among them) first follow the log to its end.
            try await catchUpAsync(engine)
            for projection in engine.projections {
                let verification = try await engine.verify(projection)
                #expect(verification.matches, "\(verification.differences)")
            }
        }
    }

    @Test("folders: create with parents, rename with children, delete keeps a parent as \\Noselect")
    func folders() async throws {
        try await withMailStore { mail, engine in
            try await openAccount("carol", mail)
            try await mail.createMailbox(user: "carol", name: "Projects/2026/Q4")
            #expect(Set(try await mail.reader.mailboxes("carol").map(\.name)).isSuperset(of: ["Projects", "Projects/2026", "Projects/2026/Q4"]))
            await #expect(throws: MailStoreError.mailboxExists("Projects")) {
                try await mail.createMailbox(user: "carol", name: "Projects")
            }
            try await mail.renameMailbox(user: "carol", from: "Projects", to: "Work")
            let names = Set(try await mail.reader.mailboxes("carol").map(\.name))
            #expect(names.isSuperset(of: ["Work", "Work/2026", "Work/2026/Q4"]) && !names.contains("Projects"))
            try await mail.deleteMailbox(user: "carol", name: "Work/2026")
            let kept = try #require(try await mail.reader.mailbox("carol", named: "Work/2026"))
            #expect(!kept.selectable)
            try await mail.deliver(sampleMessage(5), to: ["carol"])
            try await mail.renameMailbox(user: "carol", from: "INBOX", to: "Old")
            #expect(try await mail.reader.mailbox("carol", named: "INBOX")?.messages == 0)
            #expect(try await mail.reader.mailbox("carol", named: "Old")?.messages == 1)
            await #expect(throws: MailStoreError.cannotDeleteInbox) { try await mail.deleteMailbox(user: "carol", name: "inbox") }
            let verification = try await engine.verify(MailboxProjection())
            #expect(verification.matches, "\(verification.differences)")
        }
    }
}
