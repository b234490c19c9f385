/// RFC 5321 §4.5.2 transparency for a body sent in pieces: a line that starts with a period
/// gets one more, and the end is CRLF.CRLF (after a CRLF of its own when the body lacks one).
/// Bare CR or LF are passed as they are; the body arrives already in CRLF lines.
public struct DotStuffer: Sendable {
    private var atLineStart = true
    private var lastTwo: (UInt8, UInt8) = (0x0D, 0x0A)

    public init() {}

    public mutating func stuff(_ piece: some Collection<UInt8>) -> [UInt8] {
        if let stuffed = piece.withContiguousStorageIfAvailable({ stuff(buffer: $0) }) { return stuffed }
        return Array(piece).withUnsafeBufferPointer { stuff(buffer: $0) }
    }

    /// Copies runs between line starts whole; only a period at a line's start adds a byte.
    private mutating func stuff(buffer bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        let period = UInt8(ascii: ".")
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + bytes.count / 64 + 4)
        var runStart = 0
        if atLineStart, bytes[0] == period { output.append(period) }
        var searchFrom = 0
        while let lineFeed = bytes[searchFrom...].firstIndex(of: 0x0A) {
            let next = lineFeed + 1
            guard next < bytes.count else { break }
            let before = lineFeed > 0 ? bytes[lineFeed - 1] : lastTwo.1
            if before == 0x0D, bytes[next] == period {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<next]))
                output.append(period)
                runStart = next
            }
            searchFrom = next
        }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        lastTwo = bytes.count >= 2 ? (bytes[bytes.count - 2], bytes[bytes.count - 1]) : (lastTwo.1, bytes[0])
        atLineStart = lastTwo == (0x0D, 0x0A)
        return output
    }

    /// The end of the data: `.` on a line of its own.
    public func finish() -> [UInt8] {
        lastTwo == (0x0D, 0x0A) ? Array(".\r\n".utf8) : Array("\r\n.\r\n".utf8)
    }
}
