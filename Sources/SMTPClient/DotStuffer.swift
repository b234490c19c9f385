/// RFC 5321 §4.5.2 transparency for a body sent in pieces: a line that starts with a period
/// gets one more, and the end is CRLF.CRLF (after a CRLF of its own when the body lacks one).
/// Bare CR or LF are passed as they are; the body arrives already in CRLF lines.
public struct DotStuffer: Sendable {
    private var atLineStart = true
    private var lastTwo: (UInt8, UInt8) = (0x0D, 0x0A)

    public init() {}

    public mutating func stuff(_ piece: some Collection<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(piece.count + piece.count / 64 + 4)
        for byte in piece {
            if atLineStart && byte == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
            output.append(byte)
            atLineStart = byte == 0x0A && lastTwo.1 == 0x0D
            lastTwo = (lastTwo.1, byte)
        }
        return output
    }

    /// The end of the data: `.` on a line of its own.
    public func finish() -> [UInt8] {
        lastTwo == (0x0D, 0x0A) ? Array(".\r\n".utf8) : Array("\r\n.\r\n".utf8)
    }
}
