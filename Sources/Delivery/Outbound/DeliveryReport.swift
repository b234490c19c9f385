import Facts
import Foundation

/// A delivery status notification (RFC 3464, in an RFC 3462 `multipart/report`): a part for
/// people, the `message/delivery-status` part, and the original message or its headers. Pure:
/// everything it says is passed in.
struct DeliveryReport {
    enum Action: String {
        case failed, delayed, delivered, relayed
    }

    struct Recipient {
        var finalRecipient: String
        /// RFC 3461 ORCPT as given (`rfc822;address`).
        var originalRecipient: String?
        var action: Action
        var status: String
        var remoteMTA: String?
        var diagnostic: RemoteReply?
        var lastAttempt: Date?
        var willRetryUntil: Date?
    }

    /// The host name of this server (`Reporting-MTA`).
    var reportingMTA: String
    /// Who the report goes to: the original's reverse-path.
    var to: String
    var originalMessageID: String
    var originalSubject: String?
    var envelopeID: String?
    var arrivalDate: Date
    var recipients: [Recipient]
    /// The original as stored (without its `Return-Path:` line).
    var original: [UInt8]
    /// RFC 3461 RET: `FULL` returns the whole original, anything else only its headers.
    var returnFull: Bool
    var date: Date
    var messageID: String
    var boundary: String

    /// The report with its header, CRLF lines.
    func render() -> [UInt8] {
        let kind = recipients.first?.action ?? .failed
        let subject = subjectLine
        var text = ""
        func line(_ value: String = "") { text += value + "\r\n" }
        line("From: Mail Delivery System <MAILER-DAEMON@\(reportingMTA)>")
        line("To: <\(to)>")
        line("Subject: \(subject)")
        line("Date: \(Self.rfc5322(date))")
        line("Message-ID: <\(messageID)@\(reportingMTA)>")
        line("Auto-Submitted: auto-replied")
        line("MIME-Version: 1.0")
        line("Content-Type: multipart/report; report-type=delivery-status;")
        line("\tboundary=\"\(boundary)\"")
        line()
        line("This is a MIME-encapsulated message.")
        line()
        line("--\(boundary)")
        line("Content-Type: text/plain; charset=utf-8")
        line("Content-Transfer-Encoding: 8bit")
        line()
        line("This is the mail system at host \(reportingMTA).")
        line()
        switch kind {
        case .failed:
            line("Your message could not be delivered to one or more recipients.")
            line("It is attached below.")
        case .delayed:
            line("Your message has not been delivered yet to the recipients below.")
            line("The mail system will keep trying; you do not need to send it again.")
        case .delivered, .relayed:
            line("Your message was delivered or passed on to the recipients below,")
            line("as you asked to be told.")
        }
        line()
        for recipient in recipients {
            var detail = "<\(recipient.finalRecipient)>"
            if let diagnostic = recipient.diagnostic {
                detail += ": " + (recipient.remoteMTA.map { "host \($0) said: " } ?? "") + Self.oneLine(diagnostic.description)
            }
            line(detail)
        }
        line()
        line("--\(boundary)")
        line("Content-Type: message/delivery-status")
        line()
        line("Reporting-MTA: dns; \(reportingMTA)")
        if let envelopeID { line("Original-Envelope-Id: \(Self.oneLine(envelopeID))") }
        line("Arrival-Date: \(Self.rfc5322(arrivalDate))")
        for recipient in recipients {
            line()
            if let original = recipient.originalRecipient, original.contains(";") {
                line("Original-Recipient: \(Self.oneLine(original))")
            }
            line("Final-Recipient: rfc822; \(recipient.finalRecipient)")
            line("Action: \(recipient.action.rawValue)")
            line("Status: \(recipient.status)")
            if let remote = recipient.remoteMTA { line("Remote-MTA: dns; \(remote)") }
            if let diagnostic = recipient.diagnostic, diagnostic.fromServer {
                line("Diagnostic-Code: smtp; \(Self.oneLine(diagnostic.description))")
            }
            if let last = recipient.lastAttempt { line("Last-Attempt-Date: \(Self.rfc5322(last))") }
            if let until = recipient.willRetryUntil { line("Will-Retry-Until: \(Self.rfc5322(until))") }
        }
        line()
        line("--\(boundary)")
        var bytes = Array(text.utf8)
        if returnFull {
            bytes += Array("Content-Type: message/rfc822\r\n\r\n".utf8)
            bytes += original
            if !original.isEmpty && original.suffix(2) != [0x0D, 0x0A] { bytes += [0x0D, 0x0A] }
        } else {
            bytes += Array("Content-Type: text/rfc822-headers\r\n\r\n".utf8)
            bytes += Self.header(of: original)
        }
        bytes += Array("\r\n--\(boundary)--\r\n".utf8)
        return bytes
    }

    /// The header section of a message, up to and including its last header line.
    static func header(of message: [UInt8]) -> [UInt8] {
        let blank: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        var index = 0
        while index + 4 <= message.count {
            if message[index] == 0x0D, Array(message[index..<index + 4]) == blank { return Array(message[..<(index + 2)]) }
            index += 1
        }
        return message
    }

    /// Text for a header field: no line breaks, bounded.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\r" || $0 == "\n" ? " " : $0 }.prefix(900))
    }

    static func rfc5322(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
