import Foundation

/// Why input was refused before it reached a parser.
public enum LineError: Error, Equatable, Sendable {
    /// A LF not preceded by CR (SMTP smuggling, CVE-2023-51764 and kin).
    case bareLineFeed
    /// A CR not followed by LF.
    case bareCarriageReturn
    /// Longer than the limit for its kind of line (RFC 5321 §4.5.3.1).
    case lineTooLong
}

/// Bytes received and not yet consumed, cut into command lines or handed to a body scanner;
/// shared by the SMTP, IMAP and POP3 readers. Only CRLF ends a line (RFC 5321 §2.3.8, RFC 9051
/// §2.2, RFC 1939 §3); a bare CR or LF anywhere is an error.
public struct LineBuffer: Sendable {
    private var bytes: [UInt8] = []
    private var start = 0

    public init() {}

    public var isEmpty: Bool { start == bytes.count }
    public var count: Int { bytes.count - start }

    public mutating func append(_ received: some Collection<UInt8>) {
        if start > 0 && start == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65_536 && start * 2 > bytes.count {
            bytes.removeSubrange(0..<start)
            start = 0
        }
        bytes.append(contentsOf: received)
    }

    /// Drops everything buffered (after STARTTLS: nothing sent in plain text may run inside TLS).
    @discardableResult
    public mutating func discardAll() -> Int {
        let dropped = count
        bytes.removeAll(keepingCapacity: false)
        start = 0
        return dropped
    }

    /// The next complete line without its CRLF, nil when more input is needed. `limit` counts
    /// the CRLF, as RFC 5321 §4.5.3.1.4 does.
    public mutating func nextLine(limit: Int) throws(LineError) -> ArraySlice<UInt8>? {
        var index = start
        let end = bytes.count
        while index < end {
            let byte = bytes[index]
            if byte == 0x0A { throw .bareLineFeed }
            if byte == 0x0D {
                guard index + 1 < end else { break }
                guard bytes[index + 1] == 0x0A else { throw .bareCarriageReturn }
                guard index + 2 - start <= limit else { throw .lineTooLong }
                let line = bytes[start..<index]
                start = index + 2
                return line
            }
            index += 1
        }
        if index - start + 2 > limit { throw .lineTooLong }
        return nil
    }

    /// Up to `count` bytes (a BDAT chunk, a literal).
    public mutating func take(upTo count: Int) -> ArraySlice<UInt8> {
        let taken = min(count, self.count)
        defer { start += taken }
        return bytes[start..<(start + taken)]
    }

    /// Hands the unread bytes to `body`, which returns how many of them it consumed.
    @discardableResult
    public mutating func consume(_ body: (UnsafeBufferPointer<UInt8>) -> Int) -> Int {
        let consumed = bytes.withUnsafeBufferPointer { buffer in
            body(UnsafeBufferPointer(rebasing: buffer[start...]))
        }
        start += consumed
        return consumed
    }
}
