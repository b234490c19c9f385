import Foundation
import Testing
@testable import Gateways
@testable import WireCore
@testable import SMTPWire
@testable import IMAPWire
@testable import POP3Wire

@Suite("IMAP wire")
struct IMAPWireTests {
    func parse(_ text: String) -> Result<IMAPCommand, IMAPParseError> {
        IMAPParser.parse(Array(text.utf8))
    }

    func kind(_ text: String) -> IMAPCommandKind? {
        if case .success(let command) = parse(text) { return command.kind }
        return nil
    }

    @Test("commands parse into their typed form")
    func commands() {
        #expect(kind("a LOGIN alice \"pass word\"") == .login(user: "alice", password: "pass word"))
        #expect(kind("a LOGIN {5}\r\nalice secret") == .login(user: "alice", password: "secret"))
        #expect(kind("a SELECT INBOX (CONDSTORE)") == .select("INBOX", condStore: true, qresync: nil))
        #expect(kind("a UID EXPUNGE 1:3,7") == .uidExpunge(IMAPSequenceSet(ranges: [.init(from: .number(1), to: .number(3)),
                                                                                  .init(from: .number(7), to: .number(7))])))
        #expect(kind("a STORE 1:* +FLAGS.SILENT (\\Seen $Work)") == .store(
            uid: false, IMAPSequenceSet(ranges: [.init(from: .number(1), to: .last)]), .add, silent: true,
            flags: ["\\Seen", "$Work"], unchangedSince: nil))
        #expect(kind("a LIST (SUBSCRIBED) \"\" (\"%\" \"Work/*\") RETURN (CHILDREN STATUS (MESSAGES))") == .list(
            reference: "", patterns: ["%", "Work/*"], selection: ["SUBSCRIBED"], returns: ["CHILDREN", "STATUS", "MESSAGES"]))
        guard case .fetch(let uid, _, let items, let changedSince, let vanished)? =
                kind("a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (Subject)]<0.100> BINARY[2]) (CHANGEDSINCE 9 VANISHED)") else {
            Issue.record("FETCH did not parse")
            return
        }
        #expect(uid && changedSince == 9 && vanished)
        #expect(items == [.flags, .section(IMAPSection(part: [1, 2], text: .headerFields(["SUBJECT"], not: false)), partial: 0...99,
                                           peek: true, binary: false),
                          .section(IMAPSection(part: [2], text: .all), partial: nil, peek: false, binary: true)])
        guard case .search(false, ["MIN", "COUNT"], let key)? = kind("a SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM bob (SINCE 1-Feb-2026 NOT SEEN) UID 2:*") else {
            Issue.record("SEARCH did not parse")
            return
        }
        guard case .and(let keys) = key, keys.count == 2, case .or = keys[0], case .uid = keys[1] else {
            Issue.record("unexpected search keys \(key)")
            return
        }
        guard case .append("Work", let messages)? = kind("a APPEND Work (\\Seen) \"01-Feb-2026 10:00:00 +0100\" {5+}\r\nhello ~{3+}\r\nb\0c"),
              messages.count == 2 else {
            Issue.record("APPEND did not parse")
            return
        }
        #expect(messages[0] == IMAPAppendMessage(flags: ["\\Seen"], date: IMAPDate.parseDateTime("01-Feb-2026 09:00:00 +0000"),
                                                 message: Array("hello".utf8), binary: false))
        #expect(messages[1] == IMAPAppendMessage(flags: [], date: nil, message: Array("b\0c".utf8), binary: true))
    }

    @Test("the extensions' syntax: ESORT's RETURN, CANCELUPDATE, UNAUTHENTICATE, WITHIN, OBJECTID, PREVIEW (LAZY) beside FETCH modifiers")
    func extensions() {
        guard case .sort(true, ["PARTIAL", "1:10", "UPDATE"], ["REVERSE", "DISPLAYFROM"], .older(3600))? =
                kind("a UID SORT RETURN (PARTIAL 1:10 UPDATE) (REVERSE DISPLAYFROM) UTF-8 OLDER 3600") else {
            Issue.record("ESORT did not parse")
            return
        }
        #expect(kind("a CANCELUPDATE \"b1\" \"b2\"") == .cancelUpdate(["b1", "b2"]))
        #expect(kind("a UNAUTHENTICATE") == .unauthenticate)
        #expect(kind("a SEARCH YOUNGER 60 EMAILID M0a1b") == .search(uid: false, returns: nil,
                                                                      key: .and([.younger(60), .emailID("M0a1b")])))
        guard case .fetch(_, _, let lazy, nil, false)? = kind("a FETCH 1 (UID PREVIEW (LAZY) EMAILID THREADID)") else {
            Issue.record("PREVIEW (LAZY) did not parse")
            return
        }
        #expect(lazy == [.uid, .preview(lazy: true), .emailID, .threadID])
        guard case .fetch(_, _, let items, 5, false)? = kind("a FETCH 1:* PREVIEW (CHANGEDSINCE 5)") else {
            Issue.record("PREVIEW followed by CHANGEDSINCE did not parse")
            return
        }
        #expect(items == [.preview(lazy: false)])
        #expect(kind("a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/shared/comment /private)")
                == .getMetadata("INBOX", entries: ["/shared/comment", "/private"], maxSize: 1_024, depth: -1))
        #expect(kind("a GETMETADATA \"\" /shared/admin") == .getMetadata("", entries: ["/shared/admin"], maxSize: nil, depth: 0))
        #expect(kind("a SETMETADATA INBOX (/private/a {3}\r\nabc /shared/b NIL)") == .setMetadata("INBOX", [
            IMAPMetadataEntry(entry: "/private/a", value: "abc"), IMAPMetadataEntry(entry: "/shared/b", value: nil)]))
        #expect(kind("a SETACL INBOX bob +lr") == .setACL("INBOX", identifier: "bob", rights: "+lr"))
        #expect(kind("a LISTRIGHTS INBOX anyone") == .listRights("INBOX", identifier: "anyone"))
        for bad in ["a GETMETADATA (DEPTH 2) INBOX /private/a", "a SETMETADATA INBOX ()", "a CANCELUPDATE", "a FETCH 1 (PREVIEW (FAST))", "a SORT RETURN (PARTIAL 1:*) (ARRIVAL) UTF-8 ALL", "a SEARCH OLDER x"] {
            guard case .failure(.bad) = parse(bad) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
    }

    @Test("malformed commands get a tagged BAD (or an untagged one without a tag)", arguments: [
        "a FROB", "a LOGIN alice", "a SELECT", "a FETCH 1 (NOSUCH)", "a FETCH 0 FLAGS", "a STORE 1 FLAGS", "a SEARCH NOSUCH",
        "a SEARCH " + String(repeating: "(", count: 40) + "ALL" + String(repeating: ")", count: 40), "a APPEND INBOX {10}\r\nshort",
        "a LOGIN \"unterminated", "a LIST \"\"", "a UID FROB 1",
    ])
    func errors(_ text: String) {
        guard case .failure(.bad(let tag, _)) = parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(tag == "a")
        #expect(parse("") == .failure(.noTag))
    }

    @Test("the reader collects literals, asks before synchronizing ones and refuses oversized ones")
    func reader() {
        var reader = IMAPCommandReader(lineLimit: 1_000, literalLimit: 10, commandLimit: 2_000)
        var input = LineBuffer()
        input.append(Array("a APPEND INBOX {5}\r\n".utf8))
        #expect(reader.next(from: &input) == .continuation)
        #expect(reader.next(from: &input) == .needInput)
        input.append(Array("hello\r\nb NOOP\r\nc APPEND INBOX {50}\r\nd LOGIN x {3+}\r\nabc\r\n".utf8))
        #expect(reader.next(from: &input) == .command(Array("a APPEND INBOX {5}\r\nhello".utf8)))
        #expect(reader.next(from: &input) == .command(Array("b NOOP".utf8)))
        #expect(reader.next(from: &input) == .refusedLiteral(tag: "c", size: 50))
        #expect(reader.next(from: &input) == .command(Array("d LOGIN x {3+}\r\nabc".utf8)))
        var oversized = IMAPCommandReader(lineLimit: 1_000, literalLimit: 10, commandLimit: 2_000)
        input.append(Array("e APPEND INBOX {50+}\r\n".utf8))
        guard case .fatal = oversized.next(from: &input) else {
            Issue.record("a non-synchronizing literal over the limit must end the session")
            return
        }
    }

    @Test("a large APPEND literal is handed out in pieces and leaves {*} in the command")
    func streamedLiteral() {
        var reader = IMAPCommandReader(lineLimit: 1_000, literalLimit: 10, streamedLiteralLimit: 100, commandLimit: 2_000)
        var input = LineBuffer()
        input.append(Array("a APPEND INBOX (\\Seen) ~{20}\r\n".utf8))
        #expect(reader.next(from: &input) == .literalStarts(size: 20, binary: true, synchronizing: true))
        #expect(reader.next(from: &input) == .needInput)
        input.append(Array("0123456789".utf8))
        #expect(reader.next(from: &input) == .literalData(Array("0123456789".utf8)[...]))
        input.append(Array("abcdefghij\r\nb NOOP\r\n".utf8))
        #expect(reader.next(from: &input) == .literalData(Array("abcdefghij".utf8)[...]))
        #expect(reader.next(from: &input) == .command(Array("a APPEND INBOX (\\Seen) ~{*}\r\n".utf8)))
        #expect(reader.next(from: &input) == .command(Array("b NOOP".utf8)))
        // Only APPEND streams; any other literal over the in-memory limit is refused.
        input.append(Array("c SEARCH TEXT {50}\r\nd APPEND INBOX {50+}\r\n".utf8))
        #expect(reader.next(from: &input) == .refusedLiteral(tag: "c", size: 50))
        #expect(reader.next(from: &input) == .literalStarts(size: 50, binary: false, synchronizing: false))
        // Past the streamed limit, APPEND is refused like any other.
        var small = IMAPCommandReader(lineLimit: 1_000, literalLimit: 10, streamedLiteralLimit: 100, commandLimit: 2_000)
        var more = LineBuffer()
        more.append(Array("e APPEND INBOX {101}\r\n".utf8))
        #expect(small.next(from: &more) == .refusedLiteral(tag: "e", size: 101))
        #expect(small.largestLiteral == 100)
        let parsed = IMAPParser.parse(Array("a APPEND INBOX (\\Seen) ~{*}\r\n".utf8), maxDepth: 8, maxRanges: 10)
        guard case .success(let command) = parsed,
              command.kind == .append("INBOX", [IMAPAppendMessage(flags: ["\\Seen"], date: nil, message: [], binary: true, streamed: true)]) else {
            Issue.record("the placeholder command must parse as a streamed binary APPEND: \(parsed)")
            return
        }
        // MULTIAPPEND: each large message streamed in turn, each leaving its placeholder.
        var multi = IMAPCommandReader(lineLimit: 1_000, literalLimit: 10, streamedLiteralLimit: 100, commandLimit: 2_000)
        var both = LineBuffer()
        both.append(Array("f APPEND INBOX {20+}\r\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: 20)
                    + Array(" (\\Seen) {30+}\r\n".utf8) + Array(repeating: UInt8(ascii: "y"), count: 30) + Array("\r\n".utf8))
        #expect(multi.next(from: &both) == .literalStarts(size: 20, binary: false, synchronizing: false))
        #expect(multi.next(from: &both) == .literalData(ArraySlice(Array(repeating: UInt8(ascii: "x"), count: 20))))
        #expect(multi.next(from: &both) == .literalStarts(size: 30, binary: false, synchronizing: false))
        #expect(multi.next(from: &both) == .literalData(ArraySlice(Array(repeating: UInt8(ascii: "y"), count: 30))))
        #expect(multi.next(from: &both) == .command(Array("f APPEND INBOX {*}\r\n (\\Seen) {*}\r\n".utf8)))
    }

    @Test("CATENATE parses into TEXT and URL parts (RFC 4469), alone and in a MULTIAPPEND")
    func catenateParsing() {
        let command = "a APPEND Drafts (\\Seen) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4}\r\n--\r\n"
            + " URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\") CATENATE (TEXT ~{*}\r\n) {2}\r\nhi"
        guard case .success(let parsed) = IMAPParser.parse(Array(command.utf8)),
              case .append(let mailbox, let messages) = parsed.kind else {
            Issue.record("does not parse: \(IMAPParser.parse(Array(command.utf8)))")
            return
        }
        #expect(mailbox == "Drafts")
        #expect(messages.count == 3)
        #expect(messages.first?.flags == ["\\Seen"])
        #expect(messages.first?.catenate == [.url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER"),
                                             .text(Array("--\r\n".utf8), binary: false, streamed: false),
                                             .url("/Drafts;UIDVALIDITY=385759045/;UID=30")])
        #expect(messages.dropFirst().first?.catenate == [.text([], binary: true, streamed: true)])
        #expect(messages.last?.catenate == nil && messages.last?.message == Array("hi".utf8))
        for bad in ["a APPEND INBOX CATENATE ()", "a APPEND INBOX CATENATE (BODY {1}\r\nx)", "a APPEND INBOX CATENATE (URL)",
                    "a APPEND INBOX CATENATE (TEXT \"quoted\")", "a APPEND INBOX CATENAT (TEXT {1}\r\nx)"] {
            guard case .failure(.bad) = IMAPParser.parse(Array(bad.utf8)) else {
                Issue.record("\(bad) must be BAD")
                continue
            }
        }
    }

    @Test("URLAUTH's commands parse (RFC 4467, RFC 5524's URLFETCH parameters)")
    func urlauthParsing() {
        func kind(_ text: String) -> IMAPCommandKind? {
            guard case .success(let command) = IMAPParser.parse(Array(text.utf8)) else { return nil }
            return command.kind
        }
        #expect(kind("a GENURLAUTH \"imap://joe@example.com/INBOX/;uid=20;urlauth=anonymous\" INTERNAL \"imap://joe@e/X/;uid=1;urlauth=authuser\" internal")
                == .genURLAuth([IMAPURLAuthRequest(url: "imap://joe@example.com/INBOX/;uid=20;urlauth=anonymous", mechanism: "INTERNAL"),
                                IMAPURLAuthRequest(url: "imap://joe@e/X/;uid=1;urlauth=authuser", mechanism: "INTERNAL")]))
        #expect(kind("a RESETKEY") == .resetKey(nil))
        #expect(kind("a RESETKEY INBOX INTERNAL") == .resetKey("INBOX"))
        #expect(kind("a URLFETCH \"imap://a@b/INBOX/;uid=1;urlauth=anonymous:INTERNAL:00\" (\"imap://a@b/X/;uid=2\" BINARY bodypartstructure)")
                == .urlFetch([IMAPURLFetch(url: "imap://a@b/INBOX/;uid=1;urlauth=anonymous:INTERNAL:00"),
                              IMAPURLFetch(url: "imap://a@b/X/;uid=2", parameters: [.binary, .bodyPartStructure])]))
        for bad in ["a GENURLAUTH \"u\"", "a URLFETCH", "a URLFETCH (\"u\" BODY BINARY)", "a URLFETCH (\"u\" BINARY BINARY)",
                    "a URLFETCH (\"u\" HEADERS)", "a RESETKEY INBOX \"x\""] {
            #expect(kind(bad) == nil, "\(bad)")
        }
    }

    @Test("IMAP URLs (RFC 5092): absolute, server-relative and relative forms, sections, PARTIAL; malformed ones refused")
    func imapURLs() {
        #expect(IMAPURL.parse("imap://minbari.example.org/gray-council;UIDVALIDITY=385759045/;UID=20/;PARTIAL=0.1024")
                == IMAPURL(host: "minbari.example.org", mailbox: "gray-council", uidValidity: 385759045, uid: 20,
                           partialOffset: 0, partialLength: 1024))
        #expect(IMAPURL.parse("imap://michael@example.org/INBOX/;uid=7/;section=1.2.MIME")
                == IMAPURL(user: "michael", host: "example.org", mailbox: "INBOX", uid: 7, section: IMAPSection(part: [1, 2], text: .mime)))
        #expect(IMAPURL.parse("/Other%20Users/bob/Lists/a%2Fb;uidvalidity=3/;UID=1/;SECTION=HEADER.FIELDS%20(TO%20FROM)")
                == IMAPURL(mailbox: "Other Users/bob/Lists/a/b", uidValidity: 3, uid: 1,
                           section: IMAPSection(part: [], text: .headerFields(["TO", "FROM"], not: false))))
        #expect(IMAPURL.parse(";UID=5/;SECTION=TEXT;PARTIAL=10") == IMAPURL(mailbox: nil, uid: 5, section: IMAPSection(part: [], text: .text),
                                                                           partialOffset: 10))
        let token = String(repeating: "9a", count: 16)
        let full = IMAPURL.parse("imap://joe@example.com/INBOX/;UID=5;EXPIRE=2026-12-31T00:00:00Z;URLAUTH=anonymous:internal:\(token)")
        #expect(full?.authorization == IMAPURL.Authorization(expire: Date(timeIntervalSince1970: 1_798_675_200), access: "anonymous",
                                                              mechanism: "INTERNAL", token: token,
                                                              rump: "imap://joe@example.com/INBOX/;UID=5;EXPIRE=2026-12-31T00:00:00Z;URLAUTH=anonymous"))
        let rump = IMAPURL.parse("imap://joe@example.com/INBOX/;uid=5/;section=1.1;urlauth=User+Fred")
        #expect(rump?.authorization == IMAPURL.Authorization(access: "user+Fred", rump: "imap://joe@example.com/INBOX/;uid=5/;section=1.1;urlauth=User+Fred"))
        #expect(rump?.section == IMAPSection(part: [1, 1], text: .all))
        #expect(IMAPURL.parse("/f%C3%BCr/;UID=1")?.mailbox == "für")
        for bad in ["", "http://example.com/", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=x", "/INBOX;UIDVALIDITY=/;UID=1",
                    "/INBOX/;UID=1/;SECTION=BOGUS", "/INBOX/;UID=1/;PARTIAL=-1", "/IN%ZZ/;UID=1", "/%00/;UID=1",
                    "/INBOX/;UID=1/;UID=2", "imap:///INBOX/;UID=1", "imap://host;x/INBOX/;UID=1", "/INBOX/;UID=1/;FOO=1",
                    "/%FF/;UID=1", "/;UID=1", "/INBOX/;UID=5;URLAUTH=anonymous", "imap://a@b/INBOX/;UID=5;URLAUTH=nobody",
                    "imap://a@b/INBOX/;UID=5;URLAUTH=authuser:INTERNAL:12", "imap://a@b/INBOX/;UID=5;URLAUTH=authuser;SECTION=1",
                    "imap://a@b/INBOX/;UID=5;EXPIRE=yesterday;URLAUTH=authuser", "imap://a@b/INBOX/;UID=5;EXPIRE=2026-12-31T00:00:00Z", "/;uid=Q'imap://a---Q'd\u{FFFD}", String(repeating: "a", count: 5_000)] {
            #expect(IMAPURL.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("modified UTF-7 round trips (RFC 3501 §5.1.3)")
    func modifiedUTF7() {
        #expect(ModifiedUTF7.encode("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-")
        #expect(ModifiedUTF7.decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語")
        #expect(ModifiedUTF7.encode("A&B") == "A&-B")
        #expect(ModifiedUTF7.decode("A&-B") == "A&B")
        #expect(ModifiedUTF7.decode("&U,BTFw") == nil)
    }

    @Test("LIST wildcards: * crosses the delimiter, % does not")
    func wildcards() {
        #expect(IMAPSession.matches("Work/Projects/2026", pattern: "Work/*"))
        #expect(!IMAPSession.matches("Work/Projects/2026", pattern: "Work/%"))
        #expect(IMAPSession.matches("Work/Projects", pattern: "Work/%"))
        #expect(IMAPSession.matches("INBOX", pattern: "%"))
        #expect(!IMAPSession.matches("a", pattern: String(repeating: "*", count: 500) + "b"))
    }
}
