/// The services a client connects to, by listener. Events carry the raw value (`"pop3s"`), so
/// these names never change.
public enum ServiceKind: String, Codable, Sendable, CaseIterable {
    case smtp, submission, smtps
    case pop3, pop3s
    case imap, imaps

    /// TLS from the first byte (RFC 8314) rather than STARTTLS or STLS.
    public var implicitTLS: Bool { self == .smtps || self == .pop3s || self == .imaps }
}
