import Foundation

/// A message this server writes to a person — an answer, a notice, an error report: plain
/// text in UTF-8, optionally with the message it is about attached whole (`message/rfc822`).
struct NoticeMail {
    var from: String
    var to: [String]
    var subject: String
    var date: Date
    var messageID: String
    var replyTo: String?
    var inReplyTo: String?
    /// RFC 3834: `auto-replied` for answers to a message, `auto-generated` for the rest.
    var autoSubmitted = "auto-replied"
    var text: String

    /// The message's bytes, with `original` attached when given.
    func bytes(attaching original: [UInt8]? = nil) -> [UInt8] {
        var head = ""
        func line(_ value: String = "") { head += value + "\r\n" }
        line("From: \(from)")
        line("To: " + to.map { $0.contains("<") ? $0 : "<\($0)>" }.joined(separator: ", "))
        line("Subject: \(Answering.encodedWord(DeliveryReport.oneLine(subject)))")
        line("Date: \(CollectorRun.date(date))")
        line("Message-ID: <\(messageID)>")
        if let replyTo { line("Reply-To: <\(replyTo)>") }
        if let inReplyTo {
            line("In-Reply-To: \(inReplyTo)")
            line("References: \(inReplyTo)")
        }
        line("Auto-Submitted: \(autoSubmitted)")
        line("MIME-Version: 1.0")
        let body = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { String($0) }.joined(separator: "\r\n")
        guard let original else {
            line("Content-Type: text/plain; charset=utf-8")
            line("Content-Transfer-Encoding: 8bit")
            line()
            line(body)
            return Array(head.utf8)
        }
        let boundary = "=_notice_" + messageID.prefix { $0 != "@" }
        line("Content-Type: multipart/mixed; boundary=\"\(boundary)\"")
        line()
        line("--\(boundary)")
        line("Content-Type: text/plain; charset=utf-8")
        line("Content-Transfer-Encoding: 8bit")
        line()
        line(body)
        line("--\(boundary)")
        line("Content-Type: message/rfc822")
        line()
        var bytes = Array(head.utf8) + original
        if bytes.last != 0x0A { bytes += [0x0D, 0x0A] }
        return bytes + Array("--\(boundary)--\r\n".utf8)
    }
}
