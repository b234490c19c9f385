import Foundation

/// A reply: code, RFC 3463 enhanced status (RFC 2034: on every reply after EHLO, so on every
/// reply here except the greeting and the answers to HELO/EHLO themselves), and text lines.
public struct SMTPReply: Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var enhanced: String?
    public var lines: [String]

    public init(_ code: Int, _ enhanced: String?, _ lines: [String]) {
        self.code = code
        self.enhanced = enhanced
        self.lines = lines.isEmpty ? [""] : lines
    }

    public init(_ code: Int, _ enhanced: String?, _ text: String) {
        self.init(code, enhanced, [text])
    }

    public var isPositive: Bool { code < 400 }
    public var isTransient: Bool { (400..<500).contains(code) }

    /// The wire form: `250-...` continuation lines and a last `250 ...` line, CRLF after each.
    /// Text never carries a CR or LF (callers build it; this strips any that slipped in).
    public var bytes: [UInt8] {
        var output: [UInt8] = []
        for (index, line) in lines.enumerated() {
            let separator = index == lines.count - 1 ? " " : "-"
            var text = "\(code)\(separator)"
            if let enhanced { text += enhanced + (line.isEmpty ? "" : " ") }
            text += line
            output.append(contentsOf: text.utf8.filter { $0 != 0x0D && $0 != 0x0A })
            output.append(0x0D)
            output.append(0x0A)
        }
        return output
    }

    public var description: String { String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: " | ") }
}

extension SMTPReply {
    public static func c221Closing(_ host: String) -> SMTPReply { SMTPReply(221, "2.0.0", "\(host) closing connection") }
    public static let c250OK = SMTPReply(250, "2.0.0", "OK")
    public static let c250SenderOK = SMTPReply(250, "2.1.0", "Sender OK")
    public static let c250RecipientOK = SMTPReply(250, "2.1.5", "Recipient OK")
    public static let c250Reset = SMTPReply(250, "2.0.0", "Reset state")
    public static let c235Authenticated = SMTPReply(235, "2.7.0", "Authentication successful")
    public static let c354StartInput = SMTPReply(354, nil, "Start mail input; end with <CRLF>.<CRLF>")
    public static let c220ReadyForTLS = SMTPReply(220, "2.0.0", "Ready to start TLS")
    public static let c252CannotVerify = SMTPReply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")

    public static func c421ShuttingDown(_ host: String) -> SMTPReply { SMTPReply(421, "4.3.2", "\(host) Service shutting down, closing connection") }
    public static func c421Timeout(_ host: String) -> SMTPReply { SMTPReply(421, "4.4.2", "\(host) Idle timeout, closing connection") }
    public static let c421TooManyFromIP = SMTPReply(421, "4.3.2", "Too many connections from your IP address - try later")
    public static let c421TooManySessions = SMTPReply(421, "4.3.2", "Too many connections - try later")
    public static let c421Blocked = SMTPReply(421, "4.7.0", "Your connection has been blocked temporarily - Try again later")
    public static let c421TooManyAuthFailures = SMTPReply(421, "4.7.0", "Too many authentication failures, closing connection")
    public static func c451LocalError(_ session: String) -> SMTPReply {
        SMTPReply(451, "4.3.0", "Temporary local problem, try again later (session \(session))")
    }
    /// RFC 3463 X.2.2: mailbox full.
    public static let c452MailboxFull = SMTPReply(452, "4.2.2", "Mailbox full: the recipient is over their storage quota")
    public static let c552MailboxTooSmall = SMTPReply(552, "5.2.2", "Message exceeds the recipient's storage quota")
    public static let c452TooManyRecipients = SMTPReply(452, "4.5.3", "Too many recipients")
    public static let c454TLSUnavailable = SMTPReply(454, "4.7.0", "TLS not available")
    public static let c454TemporaryAuthFailure = SMTPReply(454, "4.7.0", "Temporary authentication failure")

    public static let c500UnknownCommand = SMTPReply(500, "5.5.1", "Command unrecognized")
    public static let c500LineTooLong = SMTPReply(500, "5.5.6", "Line too long")
    public static let c500BareLineFeed = SMTPReply(500, "5.5.2",
        "Bare LF (line feed without carriage return) is not allowed; lines end with CRLF (SMTP smuggling protection)")
    public static let c500BareCarriageReturn = SMTPReply(500, "5.5.2",
        "Bare CR (carriage return without line feed) is not allowed; lines end with CRLF (SMTP smuggling protection)")
    public static let c500TextLineTooLong = SMTPReply(500, "5.5.6", "Message line longer than 1000 characters (RFC 5321 section 4.5.3.1.6)")
    public static func c501Syntax(_ text: String) -> SMTPReply { SMTPReply(501, "5.5.4", "Syntax error: \(text)") }
    public static func c501Address(_ text: String, sender: Bool) -> SMTPReply {
        SMTPReply(501, sender ? "5.1.7" : "5.1.3", "Bad \(sender ? "sender" : "recipient") address syntax: \(text)")
    }
    public static let c501AuthCancelled = SMTPReply(501, "5.7.0", "Authentication cancelled")
    public static let c501AuthMalformed = SMTPReply(501, "5.5.2", "Cannot decode the response (expected base64)")
    public static let c502NotImplemented = SMTPReply(502, "5.5.1", "Command not implemented")
    public static let c502VRFYDisabled = SMTPReply(502, "5.5.1", "VRFY and EXPN are disabled")
    public static let c503NeedHello = SMTPReply(503, "5.5.1", "Send HELO or EHLO first")
    public static let c503NeedMail = SMTPReply(503, "5.5.1", "Send MAIL FROM first")
    public static let c503NeedRecipient = SMTPReply(503, "5.5.1", "No valid recipients")
    public static let c503NestedMail = SMTPReply(503, "5.5.1", "Sender already specified")
    public static let c503AlreadyAuthenticated = SMTPReply(503, "5.5.1", "Already authenticated")
    public static let c503AuthInTransaction = SMTPReply(503, "5.5.1", "AUTH is not allowed during a mail transaction")
    public static let c503TLSActive = SMTPReply(503, "5.5.1", "TLS is already active")
    public static let c503BDATMixed = SMTPReply(503, "5.5.1", "DATA and BDAT cannot be mixed in one transaction")
    public static let c504UnknownMechanism = SMTPReply(504, "5.5.4", "Unrecognized authentication mechanism")
    public static let c530AuthRequired = SMTPReply(530, "5.7.0", "Authentication required")
    public static let c530TLSRequired = SMTPReply(530, "5.7.0", "Must issue a STARTTLS command first")
    public static let c534MechanismTooWeak = SMTPReply(534, "5.7.9", "Authentication mechanism is too weak")
    public static let c535BadCredentials = SMTPReply(535, "5.7.8", "Authentication credentials invalid")
    public static let c538EncryptionRequired = SMTPReply(538, "5.7.11", "Encryption required for requested authentication mechanism")
    public static let c550UnknownUser = SMTPReply(550, "5.1.1", "No such user here")
    public static let c550RelayDenied = SMTPReply(550, "5.7.1", "Relaying not allowed! Bad sender IP address")
    public static let c550NoInternetMail = SMTPReply(550, "5.7.1", "You are not allowed to send mail to the internet")
    public static let c550ProtocolNotAllowed = SMTPReply(550, "5.7.1", "You are not allowed to send mail over SMTP")
    public static let c552TooBig = SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size")
    /// RFC 6409 §8.1: a submission server may refuse a sender the authenticated user does not own.
    public static func c553SenderNotOwned(_ address: String) -> SMTPReply {
        SMTPReply(553, "5.7.1", "Sender address <\(address)> is not yours to send as")
    }
    public static let c553NeedsSMTPUTF8 = SMTPReply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter")
    public static let c554HeloRefused = SMTPReply(554, "5.7.1", "Connection refused")
    public static let c554TooManyHops = SMTPReply(554, "5.4.6", "Too many hops (mail loop?)")
    public static let c554PreGreeting = SMTPReply(554, "5.5.0", "Protocol violation: commands sent before the greeting")
    /// Postfix's `smtpd_forbid_unauth_pipelining` reply.
    public static let c554Synchronization = SMTPReply(554, "5.5.0", "Error: SMTP protocol synchronization")
    public static let c554NULOctets = SMTPReply(554, "5.6.0", "NUL octets are accepted only in message bodies under 1 MiB")
    public static let c554TLSInjection = SMTPReply(554, "5.5.0", "Protocol violation: commands pipelined after STARTTLS")
    public static let c555BadParameter = SMTPReply(555, "5.5.4", "MAIL FROM/RCPT TO parameters not recognized or not implemented")
    public static let c554NoValidRecipients = SMTPReply(554, "5.5.1", "No valid recipients")
    public static let c550VRFYNotAllowed = SMTPReply(550, "5.7.1", "VRFY and EXPN are not allowed from your address")
}
