@testable import EventLog
import Foundation
import MailCore
import Testing

/// A stored message's summary is written and read without `Codable`: the bytes must be
/// Foundation's, and what is read must be what `init(from:)` reads.
@Suite("Direct JSON of message summaries")
struct DirectJSONTests {
    static let messages: [String] = [
        "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: plain\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
            + "Message-ID: <one@example.com>\r\n\r\nHello there.\r\n",
        // Groups, a source route, quoted and encoded names, a slash and a backslash.
        "From: \"Last, First \\\"Q\\\"\" <@relay.example:first/last@example.com>\r\n"
            + "To: Undisclosed recipients:;, friends: a@example.com, \"B\" <b@example.com>;\r\n"
            + "Cc: =?UTF-8?B?w6lsw6h2ZQ==?= <eleve@example.fr>\r\nReply-To: r@example.com\r\nSender: s@example.com\r\n"
            + "Bcc: hidden@example.com\r\nIn-Reply-To: <parent@example.com>\r\nReferences: <root@example.com> <parent@example.com>\r\n"
            + "Subject: =?UTF-8?Q?caf=C3=A9?= \t tab\r\n\r\nbody\r\n",
        // Nested multiparts, an attachment with every part field, an attached message.
        "From: a@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            + "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
            + "--inner\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + "caf=C3=A9\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--inner--\r\n"
            + "--outer\r\nContent-Type: application/pdf; name=\"r\u{e9}port.pdf\"\r\nContent-ID: <part@example.com>\r\n"
            + "Content-Description: the report\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
            + "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9port.pdf; size=4\r\nContent-Language: en, fr\r\n"
            + "Content-Location: http://example.com/r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
            + "--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.com\r\nTo: x@example.com\r\nSubject: inside\r\n"
            + "Date: not a date\r\n\r\ninner body\r\n--outer--\r\n",
        // No header at all, and a header with control characters.
        "\r\njust a body\r\n",
        "Subject: bell \u{07} and \u{1F}\r\nFrom: <>\r\n\r\n",
    ]

    static func summaries() -> [MessageSummary] {
        messages.flatMap { text -> [MessageSummary] in
            let bytes = Array(text.utf8)
            return [MIMEParser.summarise(bytes), MIMEParser.summariseForStorage(bytes)]
        }
    }

    @Test("writes Foundation's bytes")
    func sameBytes() throws {
        for summary in Self.summaries() {
            let reference = Array(try EventCoding.encoder().encode(summary))
            let sink = JSONSink()
            summary.writeJSON(to: sink)
            #expect(String(decoding: sink.bytes, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
            #expect(try EventCoding.encode(summary) == reference)
            #expect(try EventCoding.encode(summary.envelope) == Array(try EventCoding.encoder().encode(summary.envelope)))
        }
    }

    @Test("reads what Foundation wrote, in any key order and spacing, as init(from:) does")
    func readsBack() throws {
        for summary in Self.summaries() {
            let json = Array(try EventCoding.encoder().encode(summary))
            // Read directly, so a fallback to Foundation cannot hide a refusal.
            #expect(try MessageSummary(json: JSONDocument(json), at: 0) == summary)
            // Another order and spacing, as jsonb prints a column.
            let object = try JSONSerialization.jsonObject(with: Data(json))
            let reordered = Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted]))
            #expect(try MessageSummary(json: JSONDocument(reordered), at: 0) == summary)
            #expect(try EventCoding.decode(MessageSummary.self, from: reordered) == summary)
            #expect(try JSONDecoder().decode(MessageSummary.self, from: Data(reordered)) == summary)
        }
    }

    @Test("null and absent optionals read as nil; unknown keys are passed over")
    func optionals() throws {
        let json = #"{"host":null,"mailbox":"m","extra":{"a":[1,2]},"route":null}"#
        let address = try MessageAddress(json: JSONDocument(Array(json.utf8)), at: 0)
        #expect(address == MessageAddress(name: nil, route: nil, mailbox: "m", host: nil))
        #expect(try JSONDecoder().decode(MessageAddress.self, from: Data(json.utf8)) == address)
    }

    @Test("a document init(from:) would refuse is refused, and the entry point gives Foundation's error", arguments: [
        #"{"bcc":[],"cc":[],"from":[],"replyTo":[],"sender":[]}"#,
        #"{"bcc":[],"cc":[],"from":[],"replyTo":[],"sender":[],"to":null}"#,
        #"{"bcc":[],"cc":[],"from":[{"host":1}],"replyTo":[],"sender":[],"to":[]}"#,
        #"{"bcc":[],"cc":[],"from":{},"replyTo":[],"sender":[],"to":[]}"#,
        #"[]"#,
    ])
    func refuses(_ json: String) {
        #expect(throws: (any Error).self) { try Envelope(json: JSONDocument(Array(json.utf8)), at: 0) }
        #expect(throws: DecodingError.self) { try EventCoding.decode(Envelope.self, from: Array(json.utf8)) }
    }
}
