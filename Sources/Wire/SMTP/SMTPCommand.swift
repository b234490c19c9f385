import Foundation

/// One SMTP command as the parser read it (RFC 5321 §4.1.1, with the ESMTP extensions
/// Pillarbox advertises). Addresses are kept as the client wrote them, minus the brackets.
public enum SMTPCommand: Equatable, Sendable {
    case helo(String)
    case ehlo(String)
    case mail(reversePath: SMTPPath?, parameters: SMTPMailParameters)
    case rcpt(forwardPath: SMTPPath, parameters: SMTPRecipientParameters)
    case data
    /// RFC 3030: a chunk of `size` octets follows the command line.
    case bdat(size: Int, last: Bool)
    case rset
    case noop
    case quit
    case help(String?)
    case vrfy(String)
    case expn(String)
    case startTLS
    /// RFC 4954: mechanism (upper case) and the optional initial response (`=` means empty).
    case auth(mechanism: String, initialResponse: String?)

    /// RFC 2920 §3.1: commands after which a client must wait for the reply before sending
    /// more (DATA too, whose check comes before its 354; STARTTLS and AUTH have their own).
    public var endsPipelineGroup: Bool {
        switch self {
        case .helo, .ehlo, .noop, .quit, .vrfy, .expn: true
        case .mail, .rcpt, .data, .bdat, .rset, .help, .startTLS, .auth: false
        }
    }

    /// The verb, for logs and IDS details.
    public var verb: String {
        switch self {
        case .helo: "HELO"
        case .ehlo: "EHLO"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .bdat: "BDAT"
        case .rset: "RSET"
        case .noop: "NOOP"
        case .quit: "QUIT"
        case .help: "HELP"
        case .vrfy: "VRFY"
        case .expn: "EXPN"
        case .startTLS: "STARTTLS"
        case .auth: "AUTH"
        }
    }
}

/// A mailbox in a path: `local@domain`. The local part is unquoted (a quoted-string's
/// content with its escapes removed); `quoted` says it was written quoted. A source route
/// (`@a,@b:`) is parsed and dropped (RFC 5321 §4.1.3: MUST accept, SHOULD ignore).
public struct SMTPPath: Equatable, Sendable, CustomStringConvertible {
    public var localPart: String
    /// Lower-cased; an address literal keeps its brackets (`[192.0.2.1]`). Empty only for
    /// the special recipient `<Postmaster>` (RFC 5321 §4.5.1).
    public var domain: String
    public var quoted: Bool
    /// Whether the address needs SMTPUTF8 (RFC 6531): a non-ASCII byte anywhere.
    public var isInternationalised: Bool

    public init(localPart: String, domain: String, quoted: Bool = false) {
        self.localPart = localPart
        self.domain = domain
        self.quoted = quoted
        self.isInternationalised = !localPart.utf8.allSatisfy { $0 < 0x80 } || !domain.utf8.allSatisfy { $0 < 0x80 }
    }

    /// `local@domain`, the local part re-quoted when it must be.
    public var description: String {
        let local = Self.needsQuoting(localPart) ? "\"" + localPart.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"") + "\"" : localPart
        return domain.isEmpty ? local : "\(local)@\(domain)"
    }

    public static func needsQuoting(_ local: String) -> Bool {
        if local.isEmpty || local.hasPrefix(".") || local.hasSuffix(".") || local.contains("..") { return true }
        return !local.utf8.allSatisfy { $0 >= 0x80 || SMTPGrammar.isAtext($0) || $0 == UInt8(ascii: ".") }
    }
}

/// RFC 3461 §4.3 and RFC 1870, RFC 6152, RFC 6531, RFC 4954 §5 parameters of MAIL FROM.
public struct SMTPMailParameters: Equatable, Sendable {
    public enum Body: String, Sendable, Codable {
        case sevenBit = "7BIT"
        case eightBitMIME = "8BITMIME"
        case binaryMIME = "BINARYMIME"
    }
    public enum Return: String, Sendable, Codable {
        case full = "FULL"
        case headers = "HDRS"
    }

    public var size: Int?
    public var body: Body?
    public var smtpUTF8 = false
    public var ret: Return?
    /// Decoded from xtext.
    public var envelopeID: String?
    /// RFC 4954 §5 `AUTH=`: decoded from xtext, nil for `<>`.
    public var auth: String?

    public init() {}
}

/// RFC 3461 §4.1–4.2 parameters of RCPT TO.
public struct SMTPRecipientParameters: Equatable, Sendable {
    public enum Notify: String, Sendable, Codable {
        case never = "NEVER", success = "SUCCESS", failure = "FAILURE", delay = "DELAY"
    }

    /// Empty when not given.
    public var notify: [Notify] = []
    /// `addr-type;address`, the address decoded from xtext.
    public var originalRecipient: String?

    public init() {}
}
