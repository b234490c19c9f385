/// One line a client sends during a SASL exchange (SMTP AUTH, IMAP AUTHENTICATE, POP3 AUTH):
/// base64, or `*` to cancel (RFC 4954 §4, RFC 9051 §6.2.2, RFC 5034 §4).
public enum SASLResponseLine: Equatable, Sendable {
    case data([UInt8])
    case cancel
    case malformed

    public static func parse(_ line: some Collection<UInt8>) -> SASLResponseLine {
        let bytes = Array(line)
        if bytes == [UInt8(ascii: "*")] { return .cancel }
        guard let decoded = Base64.decode(bytes) else { return .malformed }
        return .data(decoded)
    }
}
