import Foundation
import Testing
import TestSupport

/// IMAP extensions driven with raw commands over imaplib, checked against their RFCs'
/// examples: ESORT, SORT=DISPLAY, CONTEXT=SEARCH (PARTIAL, UPDATE), WITHIN, OBJECTID,
/// PREVIEW, UNAUTHENTICATE.
@Suite("IMAP extensions")
struct IMAPExtensionTests {
    /// `raw(m, command)`: the untagged lines and the tagged line of one command.
    static let context = """
        import imaplib, time
        def raw(m, command):
            tag = m._new_tag()
            m.send(tag + b' ' + command.encode() + b'\\r\\n')
            lines = []
            while True:
                line = m.readline().decode(errors='replace').rstrip('\\r\\n')
                if line.startswith(tag.decode() + ' '):
                    return lines, line[len(tag) + 1:], tag.decode()
                lines.append(line)
        def login(user='alice', password='alice-pass'):
            m = imaplib.IMAP4('127.0.0.1', PORTS['imap'])
            m.login(user, password)
            return m
        def message(sender, subject, body='hello'):
            return ('From: %s\\r\\nTo: alice@example.com\\r\\nSubject: %s\\r\\n'
                    'Date: Sun, 22 Nov 2026 10:00:00 +0000\\r\\n\\r\\n%s\\r\\n' % (sender, subject, body)).encode()

        """

    static func start(_ server: MailServerHarness) async throws {
        try await server.createStandardDirectory()
        try await server.cli(["settings", "set", "imap.auth_without_tls", "true"])
        try await server.start(imap: true)
    }

    @Test("ESORT and SORT=DISPLAY (RFC 5267, 5957), PARTIAL in SEARCH and SORT, WITHIN (RFC 5032), SEARCHRES (RFC 5182), SAVEDATE (RFC 8514)")
    func sortAndPartial() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                m = login()
                old = imaplib.Time2Internaldate(time.time() - 10 * 86400)
                for index, sender in enumerate(['foo bar <a@b.c>', 'b@c.d', 'd@e.f', '=?iso-8859-1?q?foo_aar?= <e@f.g>',
                                                '=?iso-8859-1?q?foo_car?= <f@g.h>']):
                    m.append('INBOX', None, old if index < 3 else None, message(sender, 'm%d' % (index + 1)))
                m.select('INBOX')
                out = {}
                for name, command in [
                    ('display', 'SORT (DISPLAYFROM) UTF-8 ALL'),
                    ('display_reverse', 'SORT (REVERSE DISPLAYFROM) UTF-8 ALL'),
                    ('esort', 'SORT RETURN (MIN MAX COUNT ALL) (DISPLAYFROM) UTF-8 ALL'),
                    ('esort_empty', 'SORT RETURN () (ARRIVAL) UTF-8 SUBJECT nothing-like-this'),
                    ('sort_partial', 'SORT RETURN (PARTIAL 2:4) (REVERSE DISPLAYFROM) UTF-8 ALL'),
                    ('uid_sort_partial', 'UID SORT RETURN (PARTIAL 1:1) (DISPLAYFROM) UTF-8 ALL'),
                    ('search_partial', 'SEARCH RETURN (PARTIAL 4:2) ALL'),
                    ('search_partial_none', 'SEARCH RETURN (PARTIAL 6:6) ALL'),
                    ('search_partial_gap', 'SEARCH RETURN (PARTIAL 2:3) 1:2,4:5'),
                    ('older', 'SEARCH OLDER 86400'),
                    ('younger', 'SEARCH YOUNGER 86400'),
                    ('bad_partial', 'SEARCH RETURN (PARTIAL 1:*) ALL'),
                    ('bad_partial_one', 'SEARCH RETURN (PARTIAL 1) ALL'),
                    ('save', 'SEARCH RETURN (SAVE) SUBJECT m2'),
                    ('fetch_saved', 'FETCH $ (FLAGS)'),
                    ('save_min_max', 'SEARCH RETURN (SAVE MIN MAX) ALL'),
                    ('store_saved', 'STORE $ +FLAGS.SILENT (\\Flagged)'),
                    ('flagged', 'SEARCH FLAGGED'),
                    ('uid_saved', 'UID SEARCH $ NOT 1'),
                    ('failed_save', 'SEARCH RETURN (SAVE BOGUS) ALL'),
                    ('empty_saved', 'SEARCH $'),
                    ('savedate', 'FETCH 1 (SAVEDATE INTERNALDATE)'),
                    ('saved_since', 'SEARCH SAVEDSINCE ' + time.strftime('%d-%b-%Y', time.gmtime())),
                    ('since', 'SEARCH SINCE ' + time.strftime('%d-%b-%Y', time.gmtime())),
                    ('savedate_supported', 'SEARCH SAVEDATESUPPORTED'),
                ]:
                    lines, status, tag = raw(m, command)
                    out[name] = [line.replace(tag, 'TAG') for line in lines] + [status.split(' ')[0]]
                out['caps'] = raw(m, 'CAPABILITY')[0]
                print(json.dumps(out))
                """).json
            func lines(_ name: String) -> [String] { result[name] as? [String] ?? [] }
            #expect(lines("display") == ["* SORT 2 3 4 1 5", "OK"])
            #expect(lines("display_reverse") == ["* SORT 5 1 4 3 2", "OK"])
            #expect(lines("esort") == ["* ESEARCH (TAG \"TAG\") MIN 2 MAX 5 COUNT 5 ALL 2:4,1,5", "OK"])
            #expect(lines("esort_empty") == ["* ESEARCH (TAG \"TAG\")", "OK"])
            #expect(lines("sort_partial") == ["* ESEARCH (TAG \"TAG\") PARTIAL (2:4 1,4,3)", "OK"])
            let uidPartial = lines("uid_sort_partial")
            #expect(uidPartial.first?.hasPrefix("* ESEARCH (TAG \"TAG\") UID PARTIAL (1:1 ") == true, "\(uidPartial)")
            #expect(lines("search_partial") == ["* ESEARCH (TAG \"TAG\") PARTIAL (2:4 2:4)", "OK"])
            #expect(lines("search_partial_none") == ["* ESEARCH (TAG \"TAG\") PARTIAL (6:6 NIL)", "OK"])
            #expect(lines("search_partial_gap") == ["* ESEARCH (TAG \"TAG\") PARTIAL (2:3 2,4)", "OK"])
            #expect(lines("older") == ["* SEARCH 1 2 3", "OK"])
            #expect(lines("younger") == ["* SEARCH 4 5", "OK"])
            // SEARCHRES (RFC 5182): SAVE alone answers nothing; with MIN and MAX it keeps those two.
            #expect(lines("save") == ["OK"])
            #expect(lines("fetch_saved").first?.hasPrefix("* 2 FETCH (FLAGS (") == true && lines("fetch_saved").count == 2,
                    "\(lines("fetch_saved"))")
            #expect(lines("save_min_max") == ["* ESEARCH (TAG \"TAG\") MIN 1 MAX 5", "OK"])
            #expect(lines("flagged") == ["* SEARCH 1 5", "OK"])
            #expect(lines("uid_saved").count == 2 && lines("uid_saved")[0].hasPrefix("* SEARCH ") && lines("uid_saved")[0].split(separator: " ").count == 3,
                    "\(lines("uid_saved"))")
            #expect(lines("failed_save").last == "BAD")
            #expect(lines("empty_saved") == ["* SEARCH", "OK"], "a failed SAVE empties $: \(lines("empty_saved"))")
            // SAVEDATE (RFC 8514): saved today, though their internal date is ten days back.
            let savedate = lines("savedate").first ?? ""
            #expect(savedate.contains("SAVEDATE \"") && savedate.contains("INTERNALDATE \"") && !savedate.contains("SAVEDATE NIL"), "\(savedate)")
            #expect(lines("saved_since") == ["* SEARCH 1 2 3 4 5", "OK"], "\(lines("saved_since"))")
            #expect(lines("since") == ["* SEARCH 4 5", "OK"])
            #expect(lines("savedate_supported") == ["* SEARCH 1 2 3 4 5", "OK"])
            for name in ["bad_partial", "bad_partial_one"] { #expect(lines(name).last == "BAD", "\(name): \(lines(name))") }
            let caps = lines("caps").joined()
            for capability in ["ESORT", "SORT=DISPLAY", "CONTEXT=SEARCH", "CONTEXT=SORT", "SEARCHRES", "SAVEDATE", "METADATA", "UIDONLY", "WITHIN", "OBJECTID", "PREVIEW", "UNAUTHENTICATE"] {
                #expect(caps.contains(" \(capability)"), "\(capability) advertised")
            }
        }
    }

    @Test("CONTEXT=SEARCH and CONTEXT=SORT: searches kept up to date with ADDTO and REMOVEFROM as this and another session change flags and expunge; CANCELUPDATE stops it")
    func searchUpdates() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                a = login()
                for index in range(5):
                    a.append('INBOX', None, None, message('b@c.d', 'm%d' % (index + 1)))
                b = login()
                a.select('INBOX')
                b.select('INBOX')
                out = {}
                def step(name, session, command):
                    lines, status, tag = raw(session, command)
                    out[name] = [line.replace(context_tag, 'CTX') for line in lines] + [status.split(' ')[0]]
                context_tag = ''
                lines, status, context_tag = raw(a, 'SEARCH RETURN (UPDATE ALL) SEEN')
                out['start'] = [line.replace(context_tag, 'CTX') for line in lines] + [status.split(' ')[0]]
                step('own_store', a, 'STORE 1,2,4 +FLAGS.SILENT (\\\\Seen)')
                raw(b, 'STORE 3 +FLAGS.SILENT (\\\\Seen)')
                step('other_store', a, 'NOOP')
                raw(b, 'STORE 1 +FLAGS.SILENT (\\\\Deleted)')
                raw(b, 'EXPUNGE')
                step('other_expunge', a, 'NOOP')
                step('own_unseen', a, 'STORE 1 -FLAGS.SILENT (\\\\Seen)')
                step('cancel', a, 'CANCELUPDATE "%s"' % context_tag)
                raw(b, 'STORE 4 +FLAGS.SILENT (\\\\Seen)')
                step('after_cancel', a, 'NOOP')
                # A sorted one: each change with its position in the sort order.
                lines, status, context_tag = raw(a, 'SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 SEEN')
                out['sort_start'] = [line.replace(context_tag, 'CTX') for line in lines] + [status.split(' ')[0]]
                raw(b, 'STORE 1 +FLAGS.SILENT (\\Seen)')
                step('sort_added', a, 'NOOP')
                raw(b, 'STORE 3 -FLAGS.SILENT (\\Seen)')
                step('sort_removed', a, 'NOOP')
                print(json.dumps(out))
                """).json
            func lines(_ name: String) -> [String] { result[name] as? [String] ?? [] }
            #expect(lines("start") == ["* ESEARCH (TAG \"CTX\") ALL", "OK"] || lines("start") == ["* ESEARCH (TAG \"CTX\")", "OK"],
                    "\(lines("start"))")
            #expect(lines("own_store").contains("* ESEARCH (TAG \"CTX\") ADDTO (0 1:2,4)"), "\(lines("own_store"))")
            #expect(lines("other_store").contains("* ESEARCH (TAG \"CTX\") ADDTO (0 3)"), "\(lines("other_store"))")
            // Removed with the number it had, before the EXPUNGE renumbers.
            let expunge = lines("other_expunge")
            let removed = expunge.firstIndex(of: "* ESEARCH (TAG \"CTX\") REMOVEFROM (0 1)")
            let expunged = expunge.firstIndex(of: "* 1 EXPUNGE")
            #expect(removed != nil && expunged != nil && removed! < expunged!, "\(expunge)")
            #expect(lines("own_unseen").contains("* ESEARCH (TAG \"CTX\") REMOVEFROM (0 1)"), "\(lines("own_unseen"))")
            #expect(lines("cancel") == ["OK"])
            #expect(!lines("after_cancel").contains { $0.contains("ESEARCH") }, "\(lines("after_cancel"))")
            // Seen now: messages 2, 3 and 4 (subjects m3, m4, m5), newest subject first.
            #expect(lines("sort_start") == ["* ESEARCH (TAG \"CTX\") ALL 4,3,2", "OK"], "\(lines("sort_start"))")
            #expect(lines("sort_added").contains("* ESEARCH (TAG \"CTX\") ADDTO (4 1)"), "\(lines("sort_added"))")
            #expect(lines("sort_removed").contains("* ESEARCH (TAG \"CTX\") REMOVEFROM (2 3)"), "\(lines("sort_removed"))")
        }
    }

    @Test("OBJECTID: MAILBOXID kept across RENAME and a rebuild, EMAILID shared by copies, THREADID shared by a conversation; PREVIEW from the text part, LAZY")
    func objectIDsAndPreview() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let script = Self.context + """
                import sys
                from email.mime.multipart import MIMEMultipart
                from email.mime.text import MIMEText
                import email.policy
                m = login()
                out = {}
                first = sys.argv[1] == 'first'
                if first:
                    out['create'] = raw(m, 'CREATE Projects')[1]
                    out['rename'] = raw(m, 'RENAME Projects Archive2026')[1]
                    mail = MIMEMultipart('alternative')
                    mail['From'] = 'bob@remote.test'
                    mail['Subject'] = 'Agenda'
                    mail.attach(MIMEText('<p>Do not show this HTML</p>', 'html'))
                    mail.attach(MIMEText('> quoted line\\nThe meeting   moves to\\nThursday at ten.\\n-- \\nBob', 'plain'))
                    m.append('Archive2026', None, None, mail.as_bytes(policy=email.policy.SMTP))
                    for headers in ['Message-ID: <root@remote.test>\\r\\n',
                                    'Message-ID: <r1@remote.test>\\r\\nIn-Reply-To: <root@remote.test>\\r\\nReferences: <root@remote.test>\\r\\n',
                                    'Message-ID: <r2@remote.test>\\r\\nIn-Reply-To: <r1@remote.test>\\r\\n'
                                    'References: <root@remote.test>\\r\\n <r1@remote.test>\\r\\n',
                                    'Message-ID: <other@remote.test>\\r\\n']:
                        m.append('Archive2026', None, None, (headers + 'Subject: thread\\r\\n\\r\\nbody\\r\\n').encode())
                out['status'] = raw(m, 'STATUS Archive2026 (MAILBOXID MESSAGES)')[0]
                out['select'] = raw(m, 'SELECT Archive2026')[0]
                out['fetch'] = raw(m, 'FETCH 1 (EMAILID THREADID PREVIEW)')[0]
                out['lazy'] = raw(m, 'FETCH 1 (PREVIEW (LAZY))')[0]
                out['threads'] = [line.split('THREADID (')[1].split(')')[0] for line in raw(m, 'FETCH 2:5 (THREADID)')[0]]
                out['thread_search'] = raw(m, 'SEARCH THREADID ' + out['threads'][0])[0]
                if first:
                    raw(m, 'COPY 1 INBOX')
                raw(m, 'SELECT INBOX')
                out['inbox_fetch'] = raw(m, 'FETCH 1 (EMAILID)')[0]
                emailid = out['fetch'][0].split('EMAILID (')[1].split(')')[0]
                out['search'] = raw(m, 'SEARCH EMAILID ' + emailid)[0]
                print(json.dumps(out))
                """
            let first = try await server.python(script, ["first"]).json
            #expect((first["create"] as? String)?.hasPrefix("OK [MAILBOXID (F") == true, "\(first)")
            let created = try #require((first["create"] as? String)?.split(separator: "(")[1].split(separator: ")")[0])
            let status = (first["status"] as? [String])?.joined() ?? ""
            #expect(status.contains("MAILBOXID (\(created))") && status.contains("MESSAGES 5"), "the id kept across RENAME: \(status)")
            #expect((first["select"] as? [String])?.contains("* OK [MAILBOXID (\(created))] Ok") == true)
            let fetched = (first["fetch"] as? [String])?.joined() ?? ""
            #expect(fetched.contains("THREADID (T") && fetched.contains("PREVIEW \"The meeting moves to Thursday at ten.\""), "\(fetched)")
            let threads = first["threads"] as? [String] ?? []
            #expect(threads.count == 4 && Set(threads.prefix(3)).count == 1 && threads[3] != threads[0], "one conversation, one other: \(threads)")
            #expect((first["thread_search"] as? [String])?.first == "* SEARCH 2 3 4", "\(first)")
            #expect(((first["lazy"] as? [String])?.joined() ?? "").contains("PREVIEW \"The meeting moves to Thursday at ten.\""))
            let emailID = try #require(fetched.split(separator: "EMAILID (").dropFirst().first?.split(separator: ")").first)
            #expect(((first["inbox_fetch"] as? [String])?.joined() ?? "").contains("EMAILID (\(emailID))"), "a copy keeps the EMAILID")
            #expect((first["search"] as? [String])?.first == "* SEARCH 1")

            // The same identifiers after the mailboxes are rebuilt from the log.
            try await server.cli(["rebuild", "mailbox"])
            let again = try await server.python(script, ["again"]).json
            #expect(((again["status"] as? [String])?.joined() ?? "").contains("MAILBOXID (\(created))"), "\(again)")
            #expect(((again["fetch"] as? [String])?.joined() ?? "").contains("EMAILID (\(emailID))"), "\(again)")
            #expect(again["threads"] as? [String] == threads, "\(again)")
            try await server.cli(["verify"])
        }
    }

    @Test("MULTIAPPEND: several messages in one APPEND, a large one streamed between small ones, consecutive UIDs; over the quota together, none is added")
    func multiAppend() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "imap.auth_without_tls", "true", "mail.quota_kib", "600"])
            try await server.start(imap: true)
            let result = try await server.python(Self.context + """
                import hashlib
                m = login()
                big = message('b@c.d', 'big', ('z' * 998 + '\\r\\n') * 400)
                def multi(parts):
                    tag = m._new_tag()
                    command = tag + b' APPEND INBOX'
                    for flags, body in parts:
                        command += b' ' + flags + b'{%d+}\\r\\n' % len(body) + body
                    m.send(command + b'\\r\\n')
                    lines = []
                    while True:
                        line = m.readline().decode(errors='replace').rstrip('\\r\\n')
                        if line.startswith(tag.decode() + ' '):
                            return lines, line[len(tag) + 1:]
                        lines.append(line)
                out = {}
                out['append'] = multi([(b'', message('b@c.d', 'one')), (b'(\\\\Seen) ', big),
                                       (b'(\\\\Flagged) "01-Jan-2026 10:00:00 +0000" ', message('b@c.d', 'three'))])[1]
                m.select('INBOX')
                out['fetch'] = raw(m, 'FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[0]
                typ, data = m.fetch('2', '(BODY.PEEK[])')
                out['big_same'] = hashlib.sha256(data[0][1]).hexdigest() == hashlib.sha256(big).hexdigest()
                # About 392 KiB in now, of 600: one of 146 KiB fits, two do not.
                half = message('b@c.d', 'half', ('h' * 998 + '\\r\\n') * 150)
                out['over'] = multi([(b'', half), (b'', half)])[1]
                out['count'] = raw(m, 'STATUS INBOX (MESSAGES)')[0]
                print(json.dumps(out))
                """).json
            let append = try #require(result["append"] as? String)
            #expect(append.hasPrefix("OK [APPENDUID ") && append.contains(" 1:3] "), "\(append)")
            let fetched = (result["fetch"] as? [String])?.joined(separator: "\n") ?? ""
            #expect(fetched.contains("* 2 FETCH (UID 2 FLAGS (\\Seen") && fetched.contains("\\Flagged") && fetched.contains("01-Jan-2026"),
                    "\(fetched)")
            #expect(fetched.range(of: "Subject: one")!.lowerBound < fetched.range(of: "Subject: big")!.lowerBound)
            #expect(result["big_same"] as? Bool == true)
            #expect((result["over"] as? String)?.hasPrefix("NO [OVERQUOTA]") == true, "\(result)")
            #expect((result["count"] as? [String])?.first?.contains("MESSAGES 3") == true, "none of the two was added")
            try await server.cli(["verify"])
        }
    }

    @Test("CATENATE (RFC 4469): a message from URLs of stored parts and new text, the RFC's forwarding example; relative URLs, PARTIAL, a streamed TEXT, with MULTIAPPEND; BADURL and TRYCREATE")
    func catenate() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                m = login()
                draft = (b'From: alice@example.com\\r\\nSubject: draft\\r\\nMIME-Version: 1.0\\r\\n'
                         b'Content-Type: multipart/mixed; boundary="XX"\\r\\n\\r\\n'
                         b'--XX\\r\\nContent-Type: text/plain\\r\\n\\r\\nfirst part\\r\\n'
                         b'--XX\\r\\nContent-Type: text/plain; name=b.txt\\r\\n\\r\\nattached text\\r\\n--XX--\\r\\n')
                m.append('Drafts', None, None, draft)
                m.append('Drafts', None, None, message('b@c.d', 'other', 'forwarded body'))
                validity = raw(m, 'STATUS Drafts (UIDVALIDITY)')[0][0].split('UIDVALIDITY ')[1].rstrip(')')
                base = '/Drafts;UIDVALIDITY=%s/;UID=' % validity
                def send(command_parts):
                    # command_parts: strings sent as they are, bytes sent as a LITERAL+ literal
                    tag = m._new_tag()
                    data = tag + b' '
                    for part in command_parts:
                        if isinstance(part, bytes):
                            data += b'{%d+}\\r\\n' % len(part) + part
                        else:
                            data += part.encode()
                    m.send(data + b'\\r\\n')
                    while True:
                        line = m.readline().decode(errors='replace').rstrip('\\r\\n')
                        if line.startswith(tag.decode() + ' '):
                            return line[len(tag) + 1:]
                out = {}
                separator = b'\\r\\n--YY\\r\\n'
                out['forward'] = send(['APPEND Sent (\\\\Seen) CATENATE (URL "%s1/;SECTION=HEADER" TEXT ' % base, separator,
                                       ' URL "%s1/;SECTION=1.MIME" URL "%s1/;SECTION=1" TEXT ' % (base, base), separator,
                                       ' URL "/Drafts/;UID=2" TEXT ', b'\\r\\n--YY--\\r\\n', ')'])
                m.select('Sent')
                out['sent'] = m.fetch('1', '(FLAGS BODY.PEEK[])')[1][0][1].decode()
                m.select('Drafts')
                big = b'Subject: big\\r\\n\\r\\n' + (b'y' * 998 + b'\\r\\n') * 300
                out['relative'] = send(['APPEND Drafts CATENATE (URL ";UID=2/;SECTION=HEADER" TEXT ', b'own text\\r\\n',
                                        ' URL ";UID=1/;SECTION=TEXT/;PARTIAL=0.7")'])
                out['streamed'] = send(['APPEND Drafts CATENATE (TEXT ', big, ' URL "imap://alice@127.0.0.1/Drafts/;UID=2/;SECTION=TEXT")'])
                out['multi'] = send(['APPEND Drafts CATENATE (URL "/Drafts/;UID=2") (\\\\Flagged) CATENATE (TEXT ',
                                     b'Subject: two\\r\\n\\r\\nsecond\\r\\n', ')'])
                out['count'] = raw(m, 'NOOP')[0]
                typ, data = m.fetch('3:*', '(FLAGS BODY.PEEK[])')
                out['made'] = [item[1].decode(errors='replace') for item in data if isinstance(item, tuple)]
                out['big_same'] = out['made'][1].startswith(big.decode()) and out['made'][1].endswith('forwarded body\\r\\n')
                out['wrong_validity'] = send(['APPEND Drafts CATENATE (TEXT ', b'x\\r\\n', ' URL "/Drafts;UIDVALIDITY=1/;UID=1")'])
                out['no_message'] = send(['APPEND Drafts CATENATE (URL "/Drafts/;UID=99")'])
                out['no_section'] = send(['APPEND Drafts CATENATE (URL "/Drafts/;UID=2/;SECTION=4")'])
                out['garbage'] = send(['APPEND Drafts CATENATE (URL "http://example.com/")'])
                out['other_user'] = send(['APPEND Drafts CATENATE (URL "/Other%20Users/bob/INBOX/;UID=1")'])
                out['bad_multi'] = send(['APPEND Drafts CATENATE (URL "/Drafts/;UID=1") CATENATE (URL "/Drafts/;UID=77")'])
                out['trycreate'] = send(['APPEND Nowhere CATENATE (URL "/Drafts/;UID=1")'])
                out['after'] = raw(m, 'NOOP')[0]
                out['caps'] = raw(m, 'CAPABILITY')[0]
                print(json.dumps(out))
                """).json
            func text(_ name: String) -> String { result[name] as? String ?? "" }
            #expect(text("forward").hasPrefix("OK [APPENDUID "), "\(result)")
            let sent = text("sent")
            #expect(sent.hasPrefix("From: alice@example.com\r\nSubject: draft\r\n"), "\(sent)")
            #expect(sent.contains("\r\n\r\n\r\n--YY\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--YY\r\nFrom: b@c.d\r\n"), "\(sent)")
            #expect(sent.hasSuffix("forwarded body\r\n\r\n--YY--\r\n"), "\(sent)")
            #expect(text("relative").hasPrefix("OK "), "\(result)")
            #expect(text("streamed").hasPrefix("OK "), "\(result)")
            #expect(text("multi").hasPrefix("OK [APPENDUID ") && text("multi").contains(":6]"), "\(result)")
            let made = result["made"] as? [String] ?? []
            #expect(made.count == 4, "\(made)")
            #expect(made.first?.hasPrefix("From: b@c.d\r\n") == true && made.first?.hasSuffix("\r\n\r\nown text\r\n--XX\r\nC") == true,
                    "\(made)")
            #expect(result["big_same"] as? Bool == true)
            #expect(made.count == 4 && made[2].hasSuffix("forwarded body\r\n") && made[3] == "Subject: two\r\n\r\nsecond\r\n", "\(made)")
            for name in ["wrong_validity", "no_message", "no_section", "garbage", "other_user", "bad_multi"] {
                #expect(text(name).hasPrefix("NO [BADURL "), "\(name): \(text(name))")
            }
            #expect(text("bad_multi").contains("UID=77"), "\(text("bad_multi"))")
            #expect(text("trycreate").hasPrefix("NO [TRYCREATE]"), "\(text("trycreate"))")
            #expect((result["after"] as? [String] ?? []).isEmpty, "nothing was added by the failed ones: \(result["after"] ?? "")")
            #expect((result["caps"] as? [String])?.first?.contains(" CATENATE ") == true)
            try await server.cli(["verify"])
        }
    }

    @Test("NOTIFY (RFC 5465): the selected mailbox's new messages with their FETCH items, flag changes and expunges pushed without a command; STATUS and LIST for other mailboxes; NONE stops it; bad event sets refused")
    func notify() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                import select, socket
                a = login()
                a.append('INBOX', None, None, message('b@c.d', 'first'))
                a.create('Quiet')
                a.append('Quiet', None, None, message('b@c.d', 'quiet'))
                a.select('INBOX')
                out = {}
                out['status_set'] = raw(a, 'NOTIFY SET STATUS (MAILBOXES Quiet (MessageNew MessageExpunge))')
                out['status_flags'] = raw(a, 'NOTIFY SET STATUS (MAILBOXES Quiet (MessageNew MessageExpunge FlagChange))')
                out['silent_set'] = raw(a, 'NOTIFY SET (MAILBOXES Quiet (MessageNew MessageExpunge))')
                out['set'] = raw(a, 'NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) '
                                    '(PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))')
                b = login()
                def pushed(until, seconds=30):
                    # Lines the server sends to a, unasked, until one satisfies `until` or the deadline passes.
                    got = []
                    deadline = time.time() + seconds
                    while time.time() < deadline:
                        a.sock.settimeout(max(0.1, deadline - time.time()))
                        try:
                            line = a.readline()
                        except socket.timeout:
                            break
                        if not line:
                            break
                        got.append(line.decode(errors='replace').rstrip('\\r\\n'))
                        if until(got[-1]):
                            break
                    a.sock.settimeout(None)
                    return got
                b.append('INBOX', None, None, message('b@c.d', 'second'))
                out['new'] = pushed(lambda line: 'FETCH' in line)
                b.create('Work')
                out['created'] = pushed(lambda line: 'LIST' in line)
                b.append('Work', None, None, message('b@c.d', 'work'))
                out['work_status'] = pushed(lambda line: 'STATUS' in line)
                b.select('Work')
                b.store('1', '+FLAGS', '\\\\Flagged')
                out['work_flags'] = pushed(lambda line: 'STATUS' in line)
                b.subscribe('Work')
                out['subscribed'] = pushed(lambda line: 'LIST' in line)
                b.close()
                b.rename('Work', 'Play')
                out['renamed'] = pushed(lambda line: 'OLDNAME' in line)
                b.delete('Play')
                out['deleted'] = pushed(lambda line: 'NonExistent' in line)
                b.select('INBOX')
                b.store('1', '+FLAGS', '\\\\Answered')
                out['flag'] = pushed(lambda line: 'Answered' in line)
                b.store('1', '+FLAGS', '\\\\Deleted')
                pushed(lambda line: 'Deleted' in line)
                b.expunge()
                out['expunged'] = pushed(lambda line: 'EXPUNGE' in line)
                out['none'] = raw(a, 'NOTIFY NONE')
                b.append('INBOX', None, None, message('b@c.d', 'third'))
                # Nothing may come unasked now: the socket stays quiet for two seconds.
                out['after_none'] = [] if not select.select([a.sock], [], [], 2)[0] else ['data arrived']
                out['noop'] = raw(a, 'NOOP')
                out['bad_pair'] = raw(a, 'NOTIFY SET (SELECTED (MessageNew))')
                out['bad_flags'] = raw(a, 'NOTIFY SET (INBOXES (FlagChange))')
                out['bad_fetch'] = raw(a, 'NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))')
                out['bad_selected'] = raw(a, 'NOTIFY SET (SELECTED (MailboxName))')
                out['bad_event'] = raw(a, 'NOTIFY SET (PERSONAL (MessageNew MessageExpunge Bogus))')
                out['caps'] = raw(a, 'CAPABILITY')[0]
                print(json.dumps(out))
                """).json
            func lines(_ name: String) -> [String] {
                let value = result[name] as? [Any] ?? []
                if value.count == 3, let untagged = value[0] as? [String], let status = value[1] as? String { return untagged + [status] }
                return value as? [String] ?? []
            }
            #expect(lines("status_set").first?.hasPrefix("* STATUS Quiet (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ") == true, "\(lines("status_set"))")
            #expect(lines("status_set").first?.contains("HIGHESTMODSEQ") == false)
            #expect(lines("status_flags").first?.contains(" HIGHESTMODSEQ ") == true, "\(lines("status_flags"))")
            #expect(lines("silent_set").count == 1 && lines("set").count == 1, "no STATUS without the STATUS option: \(result)")
            #expect(lines("new").contains("* 2 EXISTS") && lines("new").contains { $0.hasPrefix("* 2 FETCH (UID 2 FLAGS (") }, "\(lines("new"))")
            #expect(lines("created").last == "* LIST () \"/\" Work", "\(lines("created"))")
            #expect(lines("work_status").last?.hasPrefix("* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ") == true, "\(lines("work_status"))")
            #expect(lines("work_flags").last?.contains("HIGHESTMODSEQ") == true, "\(lines("work_flags"))")
            #expect(lines("subscribed").last == "* LIST (\\Subscribed) \"/\" Work", "\(lines("subscribed"))")
            #expect(lines("renamed").last == "* LIST () \"/\" Play (\"OLDNAME\" (Work))", "\(lines("renamed"))")
            #expect(lines("deleted").last == "* LIST (\\NonExistent) \"/\" Play", "\(lines("deleted"))")
            #expect(lines("flag").last?.hasPrefix("* 1 FETCH (") == true && lines("flag").last?.contains("\\Answered") == true, "\(lines("flag"))")
            #expect(lines("expunged").last == "* 1 EXPUNGE", "\(lines("expunged"))")
            #expect(lines("none").last?.hasPrefix("OK") == true && lines("after_none").isEmpty, "\(lines("after_none"))")
            #expect(lines("noop").contains("* 2 EXISTS"), "\(lines("noop"))")
            for name in ["bad_pair", "bad_flags", "bad_fetch", "bad_selected"] {
                #expect(lines(name).last?.hasPrefix("BAD") == true, "\(name): \(lines(name))")
            }
            #expect(lines("bad_event").last?.hasPrefix("NO [BADEVENT (MessageNew MessageExpunge FlagChange ") == true, "\(lines("bad_event"))")
            #expect((result["caps"] as? [String])?.first?.contains(" NOTIFY ") == true)
        }
    }

    @Test("URLAUTH (RFC 4467, 5524): alice authorizes URLs of her messages for bob, anyone logged in or one part; bob fetches them, a forged, expired or reset one is NIL; BINARY and BODYPARTSTRUCTURE")
    func urlauth() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                alice = login()
                alice.append('INBOX', None, None, message('b@c.d', 'plain one', 'first body'))
                alice.append('INBOX', None, None, (b'Subject: parts\\r\\nMIME-Version: 1.0\\r\\nContent-Type: multipart/mixed; boundary=ZZ\\r\\n\\r\\n'
                              b'--ZZ\\r\\nContent-Type: text/plain\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\naGVsbG8gd29ybGQ=\\r\\n--ZZ--\\r\\n'))
                alice.select('INBOX')
                out = {}
                def gen(url):
                    lines, status, tag = raw(alice, 'GENURLAUTH "%s" INTERNAL' % url)
                    return lines[0].split('GENURLAUTH ')[1].strip('"') if status.startswith('OK') else status
                base = 'imap://alice@127.0.0.1/INBOX/;uid='
                for_bob = gen(base + '1;urlauth=user+bob')
                for_all = gen(base + '1;urlauth=authuser')
                part = gen(base + '2/;section=1;urlauth=anonymous')
                expired = gen(base + '1;expire=2020-01-01T00:00:00Z;urlauth=authuser')
                out['generated'] = [for_bob, for_all, part, expired]
                out['not_mine'] = raw(alice, 'GENURLAUTH "imap://bob@127.0.0.1/INBOX/;uid=1;urlauth=authuser" INTERNAL')[1]
                out['no_message'] = raw(alice, 'GENURLAUTH "%s" INTERNAL' % (base + '9;urlauth=authuser'))[1]
                out['other_mechanism'] = raw(alice, 'GENURLAUTH "%s" XSAMPLE' % (base + '1;urlauth=authuser'))[1]
                bob = login('bob', 'bob-pass')
                carol = login('carol', 'carol-pass')
                forged = for_all[:-4] + ('0000' if not for_all.endswith('0000') else '1111')
                out['bob'] = raw(bob, 'URLFETCH "%s" "%s" "%s" "%s"' % (for_bob, for_all, forged, expired))[0]
                out['carol'] = raw(carol, 'URLFETCH "%s" "%s"' % (for_bob, for_all))[0]
                out['binary'] = raw(bob, 'URLFETCH ("%s" BODYPARTSTRUCTURE BINARY) ("%s" BODY)' % (part, part))[0]
                out['alice_catenate'] = raw(alice, 'APPEND INBOX CATENATE (URL "%s")' % for_all)[1]
                out['reset'] = raw(alice, 'RESETKEY INBOX')[1]
                out['after_reset'] = raw(bob, 'URLFETCH "%s" "%s"' % (for_all, part))[0]
                out['reset_none'] = raw(alice, 'RESETKEY Nowhere')[1]
                out['caps'] = raw(alice, 'CAPABILITY')[0]
                print(json.dumps(out))
                """).json
            let generated = result["generated"] as? [String] ?? []
            #expect(generated.count == 4 && generated.allSatisfy { $0.hasPrefix("imap://alice@127.0.0.1/INBOX/;uid=") && $0.contains(":INTERNAL:") },
                    "\(generated)")
            for name in ["not_mine", "no_message"] {
                #expect((result[name] as? String)?.hasPrefix("NO [BADURL ") == true, "\(name): \(result[name] ?? "")")
            }
            #expect((result["other_mechanism"] as? String)?.hasPrefix("NO ") == true)
            let bob = (result["bob"] as? [String] ?? []).joined(separator: "\n")
            #expect(bob.components(separatedBy: "first body").count == 3, "bob reads both of his: \(bob)")
            #expect(bob.components(separatedBy: " NIL").count == 3, "the forged and the expired one are NIL: \(bob)")
            let carol = (result["carol"] as? [String] ?? []).joined(separator: "\n")
            #expect(carol.hasPrefix("* URLFETCH \"\(generated.first ?? "")\" NIL") && carol.contains("first body"),
                    "user+bob is bob's only; authuser is anyone's: \(carol)")
            let binary = (result["binary"] as? [String] ?? []).joined(separator: "\n")
            #expect(binary.lowercased().contains("(bodypartstructure (\"text\" \"plain\"") && binary.lowercased().contains("\"7bit\" 11 0 ") && binary.contains("(BINARY {11}")
                    && binary.contains("hello world") && binary.contains("(BODY {") && binary.contains("aGVsbG8gd29ybGQ="), "\(binary)")
            #expect((result["alice_catenate"] as? String)?.hasPrefix("NO [BADURL") == true, "\(result["alice_catenate"] ?? "")")
            #expect((result["reset"] as? String)?.hasPrefix("OK") == true)
            #expect((result["after_reset"] as? [String]) == ["* URLFETCH \"\(generated[1])\" NIL", "* URLFETCH \"\(generated[2])\" NIL"],
                    "\(result["after_reset"] ?? "")")
            #expect((result["reset_none"] as? String)?.hasPrefix("NO") == true)
            #expect((result["caps"] as? [String])?.first?.contains(" URLAUTH URLAUTH=BINARY") == true)
            try await server.cli(["verify"])
        }
    }

    @Test("METADATA (RFC 5464): private and shared entries on a folder and on the server, DEPTH, MAXSIZE, NIL removes, rights, kept across a rebuild")
    func metadata() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let script = Self.context + """
                import sys
                alice = login()
                bob = login('bob', 'bob-pass')
                admin = login('postmaster', 'postmaster-pass')
                out = {}
                def run(name, session, command):
                    lines, status, tag = raw(session, command)
                    out[name] = lines + [status.split(' ')[0] + (' ' + status.split(' ')[1] if status.startswith('NO [') or status.startswith('OK [') else '')]
                if sys.argv[1] == 'first':
                    run('set', alice, 'SETMETADATA INBOX (/private/comment "My own" /shared/comment "Team inbox" /shared/vendor/x/y "deep")')
                    run('server_private', alice, 'SETMETADATA "" (/private/vendor/client/theme "dark")')
                    run('server_shared_user', alice, 'SETMETADATA "" (/shared/admin "mailto:alice@example.com")')
                    run('server_shared_admin', admin, 'SETMETADATA "" (/shared/admin "mailto:postmaster@example.com")')
                    run('bad_name', alice, 'SETMETADATA INBOX (/other/thing "x")')
                    run('share', alice, 'SETACL INBOX bob lr')
                    run('bob_set_shared', bob, 'SETMETADATA "Other Users/alice/INBOX" (/shared/comment "mine now")')
                run('get', alice, 'GETMETADATA INBOX /private/comment')
                run('depth1', alice, 'GETMETADATA (DEPTH 1) INBOX /shared')
                run('depth_inf', alice, 'GETMETADATA (DEPTH infinity) INBOX (/shared /private)')
                run('maxsize', alice, 'GETMETADATA (MAXSIZE 4) INBOX (/private/comment /shared/comment)')
                run('server', alice, 'GETMETADATA "" (/shared/admin /private/vendor/client/theme)')
                run('bob_reads', bob, 'GETMETADATA "Other Users/alice/INBOX" (/private/comment /shared/comment)')
                if sys.argv[1] == 'first':
                    run('remove', alice, 'SETMETADATA INBOX (/shared/vendor/x/y NIL)')
                    run('after_remove', alice, 'GETMETADATA (DEPTH infinity) INBOX /shared/vendor')
                print(json.dumps(out))
                """
            let first = try await server.python(script, ["first"]).json
            func lines(_ result: [String: Any], _ name: String) -> [String] { result[name] as? [String] ?? [] }
            #expect(lines(first, "set") == ["OK"])
            #expect(lines(first, "server_private") == ["OK"])
            #expect(lines(first, "server_shared_user") == ["NO [NOPERM]"], "\(lines(first, "server_shared_user"))")
            #expect(lines(first, "server_shared_admin") == ["OK"])
            #expect(lines(first, "bad_name") == ["BAD"])
            #expect(lines(first, "bob_set_shared") == ["NO [NOPERM]"], "lr is not w: \(lines(first, "bob_set_shared"))")
            for result in [first, try await {
                try await server.cli(["rebuild", "mailbox"])
                return try await server.python(script, ["again"]).json
            }()] {
                #expect(lines(result, "get") == ["* METADATA INBOX (/private/comment \"My own\")", "OK"], "\(lines(result, "get"))")
                #expect(lines(result, "depth1") == ["* METADATA INBOX (/shared/comment \"Team inbox\")", "OK"], "\(lines(result, "depth1"))")
                #expect(lines(result, "maxsize") == ["OK [METADATA"], "\(lines(result, "maxsize"))")
                #expect(lines(result, "server") == ["* METADATA \"\" (/private/vendor/client/theme \"dark\" /shared/admin \"mailto:postmaster@example.com\")", "OK"],
                        "\(lines(result, "server"))")
                #expect(lines(result, "bob_reads") == ["* METADATA \"Other Users/alice/INBOX\" (/shared/comment \"Team inbox\")", "OK"],
                        "bob sees the shared entry only: \(lines(result, "bob_reads"))")
            }
            #expect(lines(first, "depth_inf").first == "* METADATA INBOX (/private/comment \"My own\" /shared/comment \"Team inbox\" /shared/vendor/x/y \"deep\")",
                    "\(lines(first, "depth_inf"))")
            #expect(lines(first, "after_remove") == ["OK"], "\(lines(first, "after_remove"))")
            try await server.cli(["verify"])
        }
    }

    @Test("UIDONLY (RFC 9586): message numbers refused with UIDREQUIRED, UIDFETCH responses, VANISHED for expunges")
    func uidOnly() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                m = login()
                for index in range(3):
                    m.append('INBOX', None, None, message('b@c.d', 'm%d' % (index + 1)))
                out = {}
                def run(name, command):
                    lines, status, tag = raw(m, command)
                    out[name] = lines + [status.split(' ')[0] + (' ' + status.split(' ')[1] if status.startswith('BAD [') else '')]
                run('enable', 'ENABLE UIDONLY')
                run('select', 'SELECT INBOX')
                run('fetch_numbers', 'FETCH 1 (FLAGS)')
                run('search_numbers', 'UID SEARCH 1:2')
                run('search', 'UID SEARCH ALL')
                uids = out['search'][0].split()[2:]
                run('fetch', 'UID FETCH %s (UID FLAGS)' % uids[0])
                run('store', 'UID STORE %s +FLAGS (\\\\Deleted)' % uids[1])
                run('expunge', 'UID EXPUNGE %s' % uids[1])
                out['uids'] = uids
                print(json.dumps(out))
                """).json
            func lines(_ name: String) -> [String] { result[name] as? [String] ?? [] }
            let uids = result["uids"] as? [String] ?? []
            #expect(lines("enable").first == "* ENABLED UIDONLY")
            #expect(lines("fetch_numbers") == ["BAD [UIDREQUIRED]"], "\(lines("fetch_numbers"))")
            #expect(lines("search_numbers") == ["BAD [UIDREQUIRED]"])
            #expect(uids.count == 3)
            #expect(lines("fetch") == ["* \(uids.first ?? "") UIDFETCH (FLAGS (\\Recent))", "OK"] || lines("fetch") == ["* \(uids.first ?? "") UIDFETCH (FLAGS ())", "OK"],
                    "\(lines("fetch"))")
            #expect(lines("store").first?.hasPrefix("* \(uids.count > 1 ? uids[1] : "") UIDFETCH (FLAGS (\\Deleted") == true, "\(lines("store"))")
            #expect(lines("expunge").first == "* VANISHED \(uids.count > 1 ? uids[1] : "")", "\(lines("expunge"))")
            #expect(!lines("expunge").contains { $0.hasSuffix(" EXPUNGE") })
        }
    }

    @Test("UNAUTHENTICATE: back to not logged in on the same connection, which another user can then log in on")
    func unauthenticate() async throws {
        try await MailServerHarness.with { server in
            try await Self.start(server)
            let result = try await server.python(Self.context + """
                m = login()
                out = {}
                raw(m, 'SELECT INBOX')
                out['unauth'] = raw(m, 'UNAUTHENTICATE')[1]
                out['select'] = raw(m, 'SELECT INBOX')[1]
                out['caps'] = ' '.join(raw(m, 'CAPABILITY')[0])
                out['again'] = raw(m, 'UNAUTHENTICATE')[1]
                out['login'] = raw(m, 'LOGIN bob bob-pass')[1]
                out['bob'] = raw(m, 'SELECT INBOX')[1]
                print(json.dumps(out))
                """).json
            #expect((result["unauth"] as? String)?.hasPrefix("OK") == true, "\(result)")
            #expect((result["select"] as? String)?.hasPrefix("BAD") == true)
            #expect((result["caps"] as? String)?.contains("AUTH=PLAIN") == true)
            #expect((result["again"] as? String)?.hasPrefix("BAD") == true)
            #expect((result["login"] as? String)?.hasPrefix("OK") == true)
            #expect((result["bob"] as? String)?.hasPrefix("OK") == true)
        }
    }
}
