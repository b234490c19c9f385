import Foundation
import Testing
import TestSupport

/// Shared folders (RFC 4314 ACL, RFC 2342 NAMESPACE, RFC 8440 LIST-MYRIGHTS) with two users in
/// two sessions, through imaplib's raw commands, and the `pillarbox folder` commands.
@Suite("IMAP shared folders")
struct IMAPSharingTests {
    @Test("alice shares a folder with bob: rights granted, used and taken away while he has it selected; GETACL, LISTRIGHTS, MYRIGHTS; the CLI; a rebuild keeps the rights")
    func sharing() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "imap.auth_without_tls", "true"])
            try await server.start(imap: true)
            let result = try await server.python(IMAPExtensionTests.context + """
                alice = login('alice', 'alice-pass')
                bob = login('bob', 'bob-pass')
                out = {}
                def run(name, session, command):
                    lines, status, tag = raw(session, command)
                    out[name] = lines + [status]
                run('create', alice, 'CREATE Support')
                for subject in ['ticket one', 'ticket two']:
                    alice.append('Support', None, None, message('customer@remote.test', subject))
                run('bob_select_before', bob, 'SELECT "Other Users/alice/Support"')
                run('setacl', alice, 'SETACL Support bob lr')
                run('getacl', alice, 'GETACL Support')
                run('listrights', alice, 'LISTRIGHTS Support bob')
                run('namespace', bob, 'NAMESPACE')
                run('bob_list', bob, 'LIST "" "*" RETURN (MYRIGHTS)')
                run('bob_myrights', bob, 'MYRIGHTS "Other Users/alice/Support"')
                run('bob_select_read', bob, 'SELECT "Other Users/alice/Support"')
                run('bob_fetch', bob, 'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
                run('bob_store_read', bob, 'STORE 1 +FLAGS (\\\\Flagged)')
                run('bob_setacl', bob, 'SETACL "Other Users/alice/Support" bob lrswite')
                run('grant_more', alice, 'SETACL Support bob +swite')
                run('bob_select_write', bob, 'SELECT "Other Users/alice/Support"')
                run('alice_select', alice, 'SELECT Support')
                run('bob_store', bob, 'STORE 1 +FLAGS (\\\\Flagged)')
                run('alice_sees', alice, 'NOOP')
                run('bob_append', bob, 'APPEND "Other Users/alice/Support" {%d+}\\r\\n%s' % (
                    len(message('bob@example.com', 'answer')), message('bob@example.com', 'answer').decode()))
                run('bob_copy', bob, 'COPY 1 INBOX')
                run('bob_create', bob, 'CREATE "Other Users/alice/Support/Sub"')
                run('revoke', alice, 'DELETEACL Support bob')
                run('bob_after_revoke', bob, 'FETCH 1 (FLAGS)')
                run('bob_select_after', bob, 'SELECT "Other Users/alice/Support"')
                run('alice_count', alice, 'STATUS Support (MESSAGES)')
                bob.select('INBOX')
                run('bob_inbox', bob, 'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
                print(json.dumps(out))
                """).json
            func lines(_ name: String) -> [String] { result[name] as? [String] ?? [] }
            func text(_ name: String) -> String { lines(name).joined(separator: "\n") }
            #expect(lines("bob_select_before").last?.hasPrefix("NO [NONEXISTENT]") == true, "nothing shared yet: \(text("bob_select_before"))")
            #expect(lines("setacl").last?.hasPrefix("OK") == true)
            #expect(lines("getacl").first == "* ACL Support \"alice\" lrswipkxtea \"bob\" lr", "\(text("getacl"))")
            #expect(lines("listrights").first == "* LISTRIGHTS Support \"bob\" \"\" l r s w i p k x t e a", "\(text("listrights"))")
            #expect(lines("namespace").first == "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared/\" \"/\"))")
            #expect(text("bob_list").contains("\"Other Users/alice/Support\"") && text("bob_list").contains("MYRIGHTS \"Other Users/alice/Support\" lr"),
                    "\(text("bob_list"))")
            #expect(text("bob_list").contains("(\\Noselect \\HasChildren) \"/\" \"Other Users\""), "\(text("bob_list"))")
            #expect(lines("bob_myrights").first == "* MYRIGHTS \"Other Users/alice/Support\" lr", "\(text("bob_myrights"))")
            #expect(lines("bob_select_read").last?.hasPrefix("OK [READ-ONLY]") == true, "\(text("bob_select_read"))")
            #expect(text("bob_fetch").contains("ticket one") && text("bob_fetch").contains("ticket two"))
            #expect(lines("bob_store_read").last?.hasPrefix("NO") == true)
            #expect(lines("bob_setacl").last?.hasPrefix("NO [NOPERM]") == true, "bob may not administer: \(text("bob_setacl"))")
            #expect(lines("bob_select_write").last?.hasPrefix("OK [READ-WRITE]") == true, "\(text("bob_select_write"))")
            #expect(lines("bob_store").last?.hasPrefix("OK") == true, "\(text("bob_store"))")
            #expect(text("alice_sees").contains("FETCH (FLAGS (\\Flagged"), "alice's session sees bob's change: \(text("alice_sees"))")
            #expect(lines("bob_append").last?.hasPrefix("OK [APPENDUID") == true, "\(text("bob_append"))")
            #expect(lines("bob_copy").last?.contains("COPY completed") == true, "\(text("bob_copy"))")
            #expect(lines("bob_create").last?.hasPrefix("NO [NOPERM]") == true, "no k: \(text("bob_create"))")
            #expect(text("bob_after_revoke").contains("* OK [CLOSED]") && lines("bob_after_revoke").last?.hasPrefix("NO [NOPERM]") == true,
                    "\(text("bob_after_revoke"))")
            #expect(lines("bob_select_after").last?.hasPrefix("NO [NONEXISTENT]") == true)
            #expect(lines("alice_count").first?.contains("MESSAGES 3") == true, "\(text("alice_count"))")
            #expect(text("bob_inbox").contains("ticket one"), "bob's copy is his: \(text("bob_inbox"))")

            // The CLI: the same rights as events; listed for the user they are shared with.
            try await server.cli(["folder", "share", "alice", "Support", "with", "carol", "lrs"])
            let acl = try await server.cli(["folder", "acl", "alice", "Support"])
            #expect(acl.contains("carol") && acl.contains("lrs") && !acl.contains("bob"), "\(acl)")
            #expect(try await server.cli(["folder", "list", "carol"]).contains("Other Users/alice/Support"))
            let refused = try await PillarboxBinary.run(["folder", "share", "alice", "Support", "with", "carol", "lrz"] + server.databaseArguments)
            #expect(refused.status != 0)
            try await server.cli(["rebuild", "mailbox"])
            #expect(try await server.cli(["folder", "acl", "alice", "Support"]).contains("carol"))
            let log = try await server.cli(["log", "dump"])
            #expect(log.split(separator: "\n").filter { $0.contains("\"type\":\"mailbox_rights_changed\"") }.count == 4)
            try await server.cli(["verify"])
        }
    }

    @Test("\\Seen in a shared folder is each reader's own: reading or storing it changes no one else's; the other flags are everyone's")
    func seenPerUser() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "imap.auth_without_tls", "true"])
            try await server.start(imap: true)
            _ = try await server.python(IMAPExtensionTests.context + """
                alice = login('alice', 'alice-pass')
                raw(alice, 'CREATE Team')
                for subject in ['first', 'second']:
                    alice.append('Team', None, None, message('customer@remote.test', subject))
                raw(alice, 'SETACL Team bob lrsw')
                raw(alice, 'SETACL Team carol lrs')
                print(json.dumps({}))
                """)
            let result = try await server.python(IMAPExtensionTests.context + """
                alice = login('alice', 'alice-pass')
                bob = login('bob', 'bob-pass')
                carol = login('carol', 'carol-pass')
                out = {}
                def run(name, session, command):
                    lines, status, tag = raw(session, command)
                    out[name] = lines + [status]
                raw(alice, 'SELECT Team')
                raw(alice, 'STORE 1 +FLAGS.SILENT (\\\\Seen)')
                raw(bob, 'SELECT "Other Users/alice/Team"')
                run('bob_flags', bob, 'FETCH 1:2 (FLAGS)')
                raw(bob, 'FETCH 2 (BODY[])')
                run('bob_store', bob, 'STORE 1 +FLAGS (\\\\Flagged \\\\Seen)')
                raw(alice, 'NOOP')
                run('alice_flags', alice, 'FETCH 1:2 (FLAGS)')
                raw(carol, 'SELECT "Other Users/alice/Team"')
                run('carol_flags', carol, 'FETCH 1:2 (FLAGS)')
                run('bob_unseen', bob, 'SEARCH UNSEEN')
                run('bob_status', bob, 'STATUS "Other Users/alice/Team" (UNSEEN)')
                run('alice_status', alice, 'STATUS Team (UNSEEN)')
                raw(bob, 'STORE 2 -FLAGS.SILENT (\\\\Seen)')
                run('bob_seen', bob, 'SEARCH SEEN')
                raw(alice, 'STORE 1 +FLAGS.SILENT (\\\\Deleted)')
                raw(alice, 'EXPUNGE')
                run('bob_after_expunge', bob, 'NOOP')
                print(json.dumps(out))
                """).json
            func text(_ name: String) -> String { (result[name] as? [String] ?? []).joined(separator: "\n") }
            #expect(text("bob_flags").contains("* 1 FETCH (FLAGS ())") && text("bob_flags").contains("* 2 FETCH (FLAGS ())"),
                    "alice's \\Seen is hers: \(text("bob_flags"))")
            #expect(text("bob_store").contains("* 1 FETCH (FLAGS (\\Flagged \\Seen))"), "\(text("bob_store"))")
            let aliceLines = (result["alice_flags"] as? [String]) ?? []
            let first = aliceLines.first { $0.hasPrefix("* 1 FETCH") } ?? "", second = aliceLines.first { $0.hasPrefix("* 2 FETCH") } ?? ""
            #expect(first.contains("\\Flagged") && first.contains("\\Seen"), "bob's \\Flagged is the folder's, her \\Seen hers: \(aliceLines)")
            #expect(!second.isEmpty && !second.contains("\\Seen"), "bob reading message 2 is not alice reading it: \(aliceLines)")
            #expect(text("carol_flags").contains("* 1 FETCH (FLAGS (\\Flagged))") && text("carol_flags").contains("* 2 FETCH (FLAGS ())"),
                    "\(text("carol_flags"))")
            #expect(text("bob_unseen").hasPrefix("* SEARCH\n") || text("bob_unseen").hasPrefix("* SEARCH\nOK"), "\(text("bob_unseen"))")
            #expect(text("bob_status").contains("UNSEEN 0"), "\(text("bob_status"))")
            #expect(text("alice_status").contains("UNSEEN 1"), "\(text("alice_status"))")
            #expect(text("bob_seen").hasPrefix("* SEARCH 1\n"), "\(text("bob_seen"))")
            #expect(text("bob_after_expunge").contains("* 1 EXPUNGE"), "\(text("bob_after_expunge"))")
            try await server.cli(["verify"])
        }
    }

    @Test("a shared folder synchronised as Thunderbird does (CONDSTORE, QRESYNC: the reader's \\Seen from another session, the owner's changes, VANISHED) and with mbsync both ways; COPY out of it carries the reader's \\Seen; verify")
    func synchronisation() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "imap.auth_without_tls", "true"])
            try await server.start(imap: true)
            let result = try await server.python(IMAPExtensionTests.context + """
                alice = login('alice', 'alice-pass')
                raw(alice, 'CREATE Support')
                for subject in ['one', 'two', 'three']:
                    alice.append('Support', None, None, message('customer@remote.test', subject))
                raw(alice, 'SETACL Support bob lrswite')
                out = {}
                def run(name, session, command):
                    lines, status, tag = raw(session, command)
                    out[name] = lines + [status]
                    return lines
                folder = '"Other Users/alice/Support"'
                laptop = login('bob', 'bob-pass')
                raw(laptop, 'ENABLE QRESYNC')
                selected = run('laptop_select', laptop, 'SELECT ' + folder)
                validity = [line for line in selected if 'UIDVALIDITY' in line][0].split('UIDVALIDITY ')[1].split(']')[0]
                modseq = [line for line in selected if 'HIGHESTMODSEQ' in line][0].split('HIGHESTMODSEQ ')[1].split(']')[0]
                phone = login('bob', 'bob-pass')
                raw(phone, 'SELECT ' + folder)
                raw(phone, 'FETCH 1 (BODY[TEXT])')
                raw(phone, 'STORE 2 +FLAGS.SILENT (\\\\Flagged)')
                alice.select('Support')
                alice.append('Support', None, None, message('customer@remote.test', 'four'))
                raw(alice, 'STORE 3 +FLAGS.SILENT (\\\\Deleted)')
                raw(alice, 'EXPUNGE')
                run('laptop_noop', laptop, 'NOOP')
                raw(laptop, 'LOGOUT')
                resync = login('bob', 'bob-pass')
                raw(resync, 'ENABLE QRESYNC')
                run('resync', resync, 'SELECT %s (QRESYNC (%s %s 1:4))' % (folder, validity, modseq))
                run('changed_since', resync, 'UID FETCH 1:* (FLAGS) (CHANGEDSINCE %s)' % modseq)
                run('alice_flags', alice, 'FETCH 1:* (UID FLAGS)')
                raw(alice, 'CREATE Mine')
                raw(resync, 'CREATE Copies')
                run('copy', resync, 'UID COPY 1:2 Copies')
                raw(resync, 'SELECT Copies')
                run('copies', resync, 'FETCH 1:* (FLAGS)')
                print(json.dumps(out))
                """).json
            func text(_ name: String) -> String { (result[name] as? [String] ?? []).joined(separator: "\n") }
            let noop = text("laptop_noop")
            #expect(noop.contains("FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ ("), "the reader's \\Seen from the phone reaches the laptop: \(noop)")
            #expect(noop.contains("FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ ("), "\(noop)")
            #expect(noop.contains("VANISHED 3") && noop.contains("* 3 EXISTS"), "\(noop)")
            let resync = text("resync")
            #expect(resync.contains("VANISHED (EARLIER) 3"), "\(resync)")
            #expect(resync.contains("UID 1 FLAGS (\\Seen)") && resync.contains("UID 2 FLAGS (\\Flagged)") && resync.contains("UID 4 "),
                    "\(resync)")
            #expect(text("changed_since").contains("UID 1 ") && text("changed_since").contains("UID 4 "), "\(text("changed_since"))")
            let alice = text("alice_flags")
            #expect(alice.contains("(UID 1 FLAGS ())") && alice.contains("(UID 2 FLAGS (\\Flagged))"), "bob's reading is not alice's: \(alice)")
            #expect(text("copy").contains("COPYUID"), "\(text("copy"))")
            #expect(text("copies").contains("* 1 FETCH (FLAGS (\\Seen \\Recent))") && text("copies").contains("* 2 FETCH (FLAGS (\\Flagged \\Recent))"),
                    "the copies carry bob's \\Seen: \(text("copies"))")

            // mbsync as bob, both ways, twice: the shared folder in a local maildir.
            let local = server.dataDirectory + "/bob-maildir"
            try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
            let config = server.dataDirectory + "/mbsyncrc"
            try """
                IMAPAccount bob
                Host 127.0.0.1
                Port \(server.ports["imap"]!)
                User bob
                Pass bob-pass
                SSLType None
                AuthMechs LOGIN

                IMAPStore remote
                Account bob

                MaildirStore local
                Path \(local)/
                Inbox \(local)/INBOX
                SubFolders Verbatim

                Channel shared
                Far :remote:
                Near :local:
                Patterns "Other Users/alice/Support"
                Create Near
                Expunge Both
                SyncState *

                """.write(toFile: config, atomically: true, encoding: .utf8)
            func sync() async throws {
                let run = try await server.tool("/usr/bin/mbsync", ["-c", config, "-a"])
                #expect(run.status == 0, "mbsync: \(run.output)\(run.errors)")
                #expect(!run.errors.lowercased().contains("error"), "mbsync: \(run.errors)")
            }
            let folder = "\(local)/Other Users/alice/Support"
            func localFiles() -> [String] {
                ["new", "cur"].flatMap { sub in ((try? FileManager.default.contentsOfDirectory(atPath: "\(folder)/\(sub)")) ?? []).map { "\(sub)/\($0)" } }
            }
            try await sync()
            #expect(localFiles().count == 3, "\(localFiles())")
            // One message deleted locally, one written locally.
            let doomed = try #require(localFiles().first { file in
                ((try? String(contentsOfFile: "\(folder)/\(file)", encoding: .utf8)) ?? "").contains("Subject: two")
            })
            let base = doomed.split(separator: "/").last.map(String.init) ?? doomed
            let trashed = "\(folder)/cur/" + (base.contains(":2,") ? base + "T" : base + ":2,T")
            try FileManager.default.moveItem(atPath: "\(folder)/\(doomed)", toPath: trashed)
            try "From: bob@example.com\r\nSubject: written by bob\r\n\r\nlocal\r\n"
                .write(toFile: "\(folder)/new/\(Int(Date().timeIntervalSince1970)).bob.test", atomically: true, encoding: .utf8)
            try await sync()
            try await sync()
            #expect(localFiles().count == 3, "\(localFiles())")
            let after = try await server.python(IMAPExtensionTests.context + """
                alice = login('alice', 'alice-pass')
                alice.select('Support')
                typ, data = alice.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
                print(json.dumps({'subjects': sorted(item[1].decode().strip() for item in data if isinstance(item, tuple))}))
                """).json
            #expect(after["subjects"] as? [String] == ["Subject: four", "Subject: one", "Subject: written by bob"], "\(after)")
            // The message audit names alice as the owner and bob as the one who acted. Bob's own
            // folders have rows of his too (the COPY out of the shared folder): wait for the two
            // rows about alice's folder, not for any two rows.
            _ = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100),
                                     "bob's expunge in alice's Support and his APPEND into it in the audit, as alice's") {
                let rows = try await server.query("""
                    SELECT owner, coalesce(actionuser, ''), cmd, coalesce(sourcefolder, ''), coalesce(subject, '')
                    FROM msgaudit.msgaudit WHERE cmd IN ('P', 'A') AND actionuser = 'bob' ORDER BY id
                    """)
                return rows.contains(["alice", "bob", "P", "Support", "two"]) && rows.contains { $0[0] == "alice" && $0[2] == "A" } ? rows : nil
            }
            try await server.cli(["verify"])
        }
    }

    @Test("public folders under Shared/: made by the CLI and by an administrator over IMAP, used as their ACLs say, \\Seen per reader, no quota; NAMESPACE; kept across a rebuild")
    func publicFolders() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "imap.auth_without_tls", "true", "mail.quota_kib", "1"])
            try await server.cli(["folder", "create", "#shared", "Support"])
            try await server.cli(["folder", "share", "#shared", "Support", "with", "anyone", "lr"])
            try await server.cli(["folder", "share", "#shared", "Support", "with", "bob", "lrswite"])
            let acl = try await server.cli(["folder", "acl", "#shared", "Support"])
            #expect(acl.contains("anyone") && acl.contains("bob") && !acl.contains("#shared"), "\(acl)")
            try await server.start(imap: true)
            let script = IMAPExtensionTests.context + """
                out = {}
                def run(name, session, command):
                    lines, status, tag = raw(session, command)
                    out[name] = lines + [status]
                admin = login('postmaster', 'postmaster-pass')
                alice = login('alice', 'alice-pass')
                bob = login('bob', 'bob-pass')
                if FIRST:
                    run('namespace', alice, 'NAMESPACE')
                    run('admin_create', admin, 'CREATE Shared/Announcements')
                    run('admin_setacl', admin, 'SETACL Shared/Announcements anyone lr')
                    admin.append('Shared/Announcements', None, None, message('boss@example.com', 'party on friday', 'x' * 3000))
                    run('alice_create', alice, 'CREATE Shared/Mine')
                    run('alice_append', alice, 'APPEND Shared/Support {12}\\r\\nSubject: x\\r\\n')
                    bob.append('Shared/Support', None, None, message('bob@example.com', 'ticket', 'y' * 3000))
                    run('bob_select', bob, 'SELECT Shared/Support')
                    run('bob_read', bob, 'FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])')
                    run('admin_getacl', admin, 'GETACL Shared/Support')
                run('alice_list', alice, 'LIST "" "Shared/*" RETURN (MYRIGHTS)')
                run('alice_select', alice, 'EXAMINE Shared/Support')
                run('alice_flags', alice, 'FETCH 1 (FLAGS)')
                run('admin_list', admin, 'LIST "" "Shared*"')
                print(json.dumps(out))
                """
            let result = try await server.python("FIRST = True\n" + script).json
            func text(_ name: String, _ from: [String: Any]? = nil) -> String { ((from ?? result)[name] as? [String] ?? []).joined(separator: "\n") }
            #expect(text("namespace").contains("NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared/\" \"/\"))"), "\(text("namespace"))")
            #expect(text("admin_create").hasSuffix("CREATE completed") || text("admin_create").contains("OK [MAILBOXID"), "\(text("admin_create"))")
            #expect(text("admin_setacl").hasPrefix("OK"), "\(text("admin_setacl"))")
            #expect(text("alice_create").contains("NO [NOPERM]"), "\(text("alice_create"))")
            #expect(text("alice_append").contains("NO [NOPERM]"), "\(text("alice_append"))")
            #expect(text("bob_select").contains("[READ-WRITE]"), "\(text("bob_select"))")
            #expect(text("bob_read").contains("\\Seen"), "\(text("bob_read"))")
            #expect(text("admin_getacl").contains("* ACL Shared/Support \"anyone\" lr \"bob\" lrswite\n"), "\(text("admin_getacl"))")
            func checkReaders(_ result: [String: Any]) {
                let list = text("alice_list", result)
                #expect(list.contains("* MYRIGHTS Shared/Announcements lr") && list.contains("* MYRIGHTS Shared/Support lr"), "\(list)")
                #expect(text("alice_select", result).contains("[READ-ONLY]") && text("alice_select", result).contains("* 1 EXISTS"),
                        "\(text("alice_select", result))")
                #expect(text("alice_flags", result).contains("* 1 FETCH (FLAGS ())"), "bob's \\Seen is his: \(text("alice_flags", result))")
                let adminList = text("admin_list", result)
                #expect(adminList.split(separator: "\n").contains { $0.hasPrefix("* LIST (\\Noselect") && $0.hasSuffix("\"/\" Shared") }, "\(adminList)")
                #expect(adminList.contains("Shared/Announcements") && adminList.contains("Shared/Support"), "\(adminList)")
            }
            checkReaders(result)
            try await server.cli(["verify"])
            try await server.cli(["rebuild", "mailbox"])
            checkReaders(try await server.python("FIRST = False\n" + script).json)
            try await server.cli(["verify"])
        }
    }

    @Test("a shared INBOX and POP3: what bob expunges in alice's INBOX is gone from her POP3 maildrop, what she deletes over POP3 reaches his IMAP session; the audit names who acted")
    func sharedInboxAndPOP3() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "imap.auth_without_tls", "true", "pop3.auth_without_tls", "true"])
            try await server.start(pop3: true, imap: true)
            let result = try await server.python(IMAPExtensionTests.context + """
                import poplib
                alice = login('alice', 'alice-pass')
                for subject in ['one', 'two', 'three']:
                    alice.append('INBOX', None, None, message('customer@remote.test', subject))
                raw(alice, 'SETACL INBOX bob lrte')
                bob = login('bob', 'bob-pass')
                raw(bob, 'SELECT "Other Users/alice/INBOX"')
                raw(bob, 'STORE 1 +FLAGS.SILENT (\\\\Deleted)')
                raw(bob, 'EXPUNGE')
                out = {}
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                p.user('alice')
                p.pass_('alice-pass')
                out['stat'] = list(p.stat())
                out['subjects'] = [b'\\n'.join(p.top(n, 0)[1]).decode() for n in (1, 2)]
                p.dele(1)
                p.quit()
                out['bob_noop'] = raw(bob, 'NOOP')[0]
                print(json.dumps(out))
                """).json
            #expect((result["stat"] as? [Int])?.first == 2, "alice's maildrop without what bob expunged: \(result)")
            let subjects = result["subjects"] as? [String] ?? []
            #expect(subjects.count == 2 && subjects[0].contains("Subject: two") && subjects[1].contains("Subject: three"), "\(subjects)")
            #expect((result["bob_noop"] as? [String])?.contains("* 1 EXPUNGE") == true, "\(result["bob_noop"] ?? "")")
            let audit = try await eventually(within: .seconds(30), pollingEvery: .milliseconds(100), "both expunges in the audit") {
                let rows = try await server.query("""
                    SELECT component, owner, coalesce(actionuser, ''), coalesce(subject, '')
                    FROM msgaudit.msgaudit WHERE cmd = 'P' ORDER BY id
                    """)
                return rows.count >= 2 ? rows : nil
            }
            #expect(audit == [["I", "alice", "bob", "one"], ["P", "alice", "alice", "two"]], "\(audit)")
            try await server.cli(["verify"])
        }
    }
}
