import Foundation
import Facts
import MailCore
import Testing
@testable import Delivery

/// The autoresponder's pure parts: replacements, dates, and RFC 3834's refusals.
@Suite("Autoresponder rules")
struct AutoresponderRulesTests {
    @Test("replacements: known ones filled (any case), unknown ones named and left as written; braces alone are text")
    func replacements() {
        let values = ["sender": "a@b.example", "subject": "Hi {user}", "user": "bob"]
        #expect(Autoresponder.fill("Dear {Sender}, re: {subject} {x} {", values) == "Dear a@b.example, re: Hi {user} {x} {")
        #expect(Autoresponder.unknownReplacements(in: "{sender} {nick} {nick} {} {DATE} { mood}") == ["nick", " mood"])
        #expect(Autoresponder.unknownReplacements(in: String(repeating: "{", count: 10_000)).isEmpty)
    }

    @Test("dates are inclusive; header matches are wildcards over any occurrence")
    func conditions() throws {
        var responder = Autoresponder(user: "Bob", name: "away", text: "x", from: "2026-12-01", until: "2026-12-24")
        #expect(responder.user == "bob")
        #expect(responder.isActive(on: "2026-12-01") && responder.isActive(on: "2026-12-24") && !responder.isActive(on: "2026-12-25"))
        responder.from = "2026-12-25"
        #expect(responder.problem?.contains("from is after until") == true)
        let match = try #require(Autoresponder.HeaderMatch(" X-Spam : *yes* "))
        #expect(match.description == "X-Spam:*yes*")
        #expect(match.matches { $0 == "X-Spam" ? ["no", " YES please"] : [] })
        #expect(Autoresponder.HeaderMatch("no colon") == nil && Autoresponder.HeaderMatch(":x") == nil)
    }

    @Test("RFC 3834: no answer to bounces, automatic or list mail, or mail-system addresses")
    func refusals() {
        func header(_ text: String) -> MessageHeader { MessageHeader.parse(Array((text + "\r\n").utf8)) }
        #expect(Answering.refusal(header("Subject: x\r\n"), sender: "") != nil)
        #expect(Answering.refusal(header("Auto-Submitted: auto-replied\r\n"), sender: "a@b") != nil)
        #expect(Answering.refusal(header("Auto-Submitted: no\r\n"), sender: "a@b") == nil)
        #expect(Answering.refusal(header("Precedence: Bulk\r\n"), sender: "a@b") != nil)
        #expect(Answering.refusal(header("List-Unsubscribe: <mailto:x@y>\r\n"), sender: "a@b") != nil)
        for sender in ["MAILER-DAEMON@x", "owner-list@x", "list-request@x", "postmaster@x"] {
            #expect(Answering.refusal(header("Subject: x\r\n"), sender: sender) != nil, "\(sender)")
        }
        #expect(Answering.refusal(header("Subject: x\r\n"), sender: "friend@x") == nil)
    }

    @Test("a subject outside ASCII becomes encoded words under 76 characters")
    func encodedSubject() {
        #expect(Answering.encodedWord("Away: plain") == "Away: plain")
        let encoded = Answering.encodedWord("Abwesend: Grüße aus dem Urlaub, bis zum Ende des Monats äöü")
        #expect(encoded.hasPrefix("=?utf-8?B?") && encoded.split(separator: "\r\n").allSatisfy { $0.count < 76 })
    }

    @Test("hours wrap past midnight, weekdays count from Monday, both in the responder's time zone")
    func hoursAndWeekdays() {
        var responder = Autoresponder(user: "bob", name: "night", text: "x")
        responder.hours = "18:00-08:00"
        responder.timeZone = "Europe/Berlin"
        // 2026-12-07 is a Monday; 06:30 UTC is 07:30 in Berlin.
        let morning = Date(timeIntervalSince1970: 1_796_625_000)
        #expect(responder.isActive(at: morning))
        #expect(!responder.isActive(at: morning.addingTimeInterval(3 * 3_600)))
        responder.weekdays = [6, 7]
        #expect(!responder.isActive(at: morning))
        responder.weekdays = [1]
        #expect(responder.isActive(at: morning))
        responder.hours = "08:00-08:00"
        #expect(responder.problem?.contains("HH:MM-HH:MM") == true)
    }
}
