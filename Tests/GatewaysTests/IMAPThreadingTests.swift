import Foundation
import MailCore
import Testing
@testable import Gateways
@testable import WireCore
@testable import SMTPWire
@testable import IMAPWire
@testable import POP3Wire
@testable import MailQuery

@Suite("IMAP threading, base subjects and message parts")
struct IMAPThreadingTests {
    @Test("base subjects follow RFC 5256 §2.1 and note replies")
    func baseSubjects() {
        #expect(BaseSubject("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)") == BaseSubject(text: "b", isReply: true))
        #expect(BaseSubject("Re: [FWD: c]") == BaseSubject(text: "c", isReply: true))
        #expect(BaseSubject("re: [fwd: [fwd: re: [fwd: babylon]]]").text == "babylon")
        #expect(BaseSubject("[xyz]") == BaseSubject(text: "[xyz]", isReply: false))
        #expect(BaseSubject("Re[2]: Lunch") == BaseSubject(text: "lunch", isReply: true))
        #expect(BaseSubject("Ad: Re: Ad: Re: Ad: x").text == "ad: re: ad: re: ad: x")
        #expect(BaseSubject("b (a)") == BaseSubject(text: "b (a)", isReply: false))
        #expect(BaseSubject("  \t ").text == "")
    }

    func message(_ id: Int, _ messageID: String?, references: [String] = [], subject: String = "", minute: Int? = nil)
        -> Threading.Message {
        Threading.Message(id: id, order: id, date: Date(timeIntervalSince1970: TimeInterval((minute ?? id) * 60)),
                          subject: subject, messageID: messageID, references: references, inReplyTo: [])
    }

    @Test("REFERENCES links chains, keeps duplicates apart, prunes placeholders and gathers subjects")
    func references() {
        // A chain through a message that is missing: the placeholder goes, its child moves up.
        let chain = Threading.references([message(1, "<a@x>"), message(2, "<c@x>", references: ["<a@x>", "<b@x>"])])
        #expect(chain.map(\.rendered) == ["(1 2)"])
        // A duplicate Message-ID gets a container of its own.
        let duplicate = Threading.references([
            message(1, "<a@x>"), message(2, "<b@x>", references: ["<a@x>"]), message(3, "<c@x>", references: ["<b@x>"]),
            message(4, "<b@x>", references: ["<a@x>"]),
        ])
        #expect(duplicate.map(\.rendered) == ["(1 (2 3)(4))"])
        // Two messages answering the same missing one stay together under a placeholder.
        let siblings = Threading.references([message(1, nil, references: ["<a@x>"]), message(2, nil, references: ["<a@x>"])])
        #expect(siblings.map(\.rendered) == ["((1)(2))"])
        // A reply by subject goes under the original; two originals share a placeholder.
        let subjects = Threading.references([
            message(1, "<a@x>", subject: "foo"), message(2, "<b@x>", subject: "Re: foo"), message(3, "<c@x>", subject: "bar"),
            message(4, "<d@x>", subject: "bar"),
        ])
        #expect(subjects.map(\.rendered) == ["(1 2)", "((3)(4))"])
        // Loops in References are ignored.
        let loop = Threading.references([message(1, "<a@x>", references: ["<b@x>"]), message(2, "<b@x>", references: ["<a@x>"])])
        #expect(loop.count == 1)
        #expect(Threading.messageIDs("<a@x> junk <b@x>\r\n <c@x") == ["<a@x>", "<b@x>"])
    }

    @Test("ORDEREDSUBJECT groups by base subject under the oldest, groups by date")
    func orderedSubject() {
        let threads = Threading.orderedSubject([
            message(1, nil, subject: "a", minute: 5), message(2, nil, subject: "Re: b", minute: 1), message(3, nil, subject: "b", minute: 3),
            message(4, nil, subject: "re: a", minute: 9), message(5, nil, subject: "B", minute: 7),
        ])
        #expect(threads.map(\.rendered) == ["(2 (3)(5))", "(1 4)"])
    }

    @Test("a literal8 message keeps its bytes; a part holding NUL becomes base64")
    func binaryContent() {
        let plain = Array("Subject: x\r\n\r\nbare\nLF\r\n".utf8)
        #expect(BinaryContent.storable(plain) == plain)
        let binary = Array("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n".utf8)
            + [0, 0x2D, 0xE4, 0x0A, 0x0D, 0x0A, 0x0A]
        let stored = BinaryContent.storable(binary)
        #expect(!stored.contains(0))
        let summary = MIMEParser.summarise(stored)
        #expect(summary.body.encoding == "base64")
        let body = Array(stored[summary.body.bodyOffset..<(summary.body.bodyOffset + summary.body.bodySize)])
        #expect(IMAPRender.decoded(body, encoding: "base64") == [0, 0x2D, 0xE4, 0x0A, 0x0D, 0x0A, 0x0A])
    }

    @Test("part numbers below message/rfc822 (RFC 9051 §6.4.5)")
    func partNumbers() {
        let message = Array(("Content-Type: message/rfc822\r\n\r\n"
            + "Subject: inner\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            + "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--b--\r\n").utf8)
        let summary = MIMEParser.summarise(message)
        func text(_ section: IMAPSection) -> String? {
            IMAPRender.section(section, of: message, summary: summary).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(text(IMAPSection(part: [1], text: .all))?.hasPrefix("Subject: inner\r\n") == true)
        #expect(text(IMAPSection(part: [1], text: .header))?.hasPrefix("Subject: inner\r\n") == true)
        #expect(text(IMAPSection(part: [1, 1], text: .all)) == "one")
        #expect(text(IMAPSection(part: [1, 2], text: .all)) == "two")
        #expect(text(IMAPSection(part: [1, 3], text: .all)) == nil)
        #expect(text(IMAPSection(part: [1, 1, 1], text: .all)) == nil)
    }

    @Test("an address's comment is its name when it has none")
    func addressComments() {
        let addresses = MessageAddress.parseList("user@domain (Real Name), <a (x)@ (y) b.org>, Named <n@d> (ignored)")
        #expect(addresses == [MessageAddress(name: "Real Name", mailbox: "user", host: "domain"),
                              MessageAddress(mailbox: "a", host: "b.org"),
                              MessageAddress(name: "Named", mailbox: "n", host: "d")])
    }
}
