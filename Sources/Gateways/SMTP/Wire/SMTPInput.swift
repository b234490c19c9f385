import Foundation

/// Why input was refused before it reached the parser.
public enum SMTPInputError: Error, Equatable, Sendable {
    /// A LF not preceded by CR (SMTP smuggling, CVE-2023-51764 and kin).
    case bareLineFeed
    /// A CR not followed by LF.
    case bareCarriageReturn
    /// Longer than the limit for its kind of line (RFC 5321 §4.5.3.1).
    case lineTooLong
}

/// Bytes received and not yet consumed, cut into command lines or handed to a body scanner.
/// Only CRLF ends a line (RFC 5321 §2.3.8); a bare CR or LF anywhere is an error.
public struct SMTPInput: Sendable {
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
    public mutating func nextLine(limit: Int) throws(SMTPInputError) -> ArraySlice<UInt8>? {
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

    /// Up to `count` bytes, for BDAT chunks.
    public mutating func take(upTo count: Int) -> ArraySlice<UInt8> {
        let taken = min(count, self.count)
        defer { start += taken }
        return bytes[start..<(start + taken)]
    }

    /// Feeds buffered bytes to `scanner` until it finishes (then what follows stays buffered)
    /// or the buffer is empty. Returns whether the scanner finished.
    public mutating func scan(into scanner: inout SMTPBodyScanner, output: inout [UInt8]) -> Bool {
        let consumed = bytes.withUnsafeBufferPointer { buffer in
            scanner.scan(UnsafeBufferPointer(rebasing: buffer[start...]), into: &output)
        }
        start += consumed
        return scanner.isFinished
    }
}

/// Reads a message body: DATA (dot-unstuffing, ends at exactly CRLF.CRLF) or a BDAT chunk
/// (no dots, no terminator). Either way every line must end in CRLF: a bare CR or LF is an
/// error (SMTP smuggling), and so is a line longer than RFC 5321 §4.5.3.1.6 allows.
///
/// After an error the scanner keeps consuming DATA input up to the real terminator without
/// output, so the reply reaches a client still sending and nothing it sent runs as a command.
public struct SMTPBodyScanner: Sendable {
    public enum Mode: Sendable {
        case data
        case chunk
    }

    enum State: Sendable {
        case lineStart, inLine, carriageReturn, dotAtStart, dotCarriageReturn, finished
    }

    public let mode: Mode
    /// Text line limit including CRLF; 0 for none.
    public let lineLimit: Int
    private var state: State
    private var lineLength = 0
    public private(set) var error: SMTPInputError?
    /// Body bytes produced (after unstuffing).
    public private(set) var produced = 0
    /// Whether the body ended with CRLF (DATA always does).
    public var endsWithLineBreak: Bool { state == .lineStart }

    public init(mode: Mode, lineLimit: Int = 1_000) {
        self.mode = mode
        self.lineLimit = lineLimit
        self.state = .lineStart
    }

    public var isFinished: Bool { state == .finished }

    mutating func fail(_ error: SMTPInputError) {
        if self.error == nil { self.error = error }
    }

    /// Scans `input`, appending body bytes to `output` (none once an error is recorded).
    /// Returns how many input bytes were consumed (all of them, unless the end was reached).
    public mutating func scan(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) -> Int {
        var index = 0
        let count = input.count
        var runStart = -1 // start of a run of plain bytes to copy in one go
        func flushRun(_ end: Int, _ output: inout [UInt8]) {
            if runStart >= 0 {
                if error == nil { output.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<end])) }
                produced += end - runStart
                runStart = -1
            }
        }
        while index < count {
            let byte = input[index]
            switch state {
            case .finished:
                flushRun(index, &output)
                return index
            case .lineStart, .inLine:
                if byte == 0x0D {
                    flushRun(index, &output)
                    state = .carriageReturn
                } else if byte == 0x0A {
                    flushRun(index, &output)
                    // A bare LF ends nothing: what follows is not at a line start.
                    fail(.bareLineFeed)
                    state = .inLine
                    lineLength = 0
                } else if state == .lineStart && byte == UInt8(ascii: ".") && mode == .data {
                    flushRun(index, &output)
                    state = .dotAtStart
                    lineLength = 1
                } else {
                    if runStart < 0 { runStart = index }
                    if state == .lineStart { lineLength = 0 }
                    state = .inLine
                    lineLength += 1
                    if lineLimit > 0 && lineLength > lineLimit - 2 { fail(.lineTooLong) }
                }
            case .carriageReturn:
                if byte == 0x0A {
                    if error == nil { output.append(0x0D); output.append(0x0A) }
                    produced += 2
                    state = .lineStart
                    lineLength = 0
                } else {
                    fail(.bareCarriageReturn)
                    state = .inLine
                    continue // look at this byte again as ordinary line content
                }
            case .dotAtStart:
                if byte == 0x0D {
                    state = .dotCarriageReturn
                } else if byte == 0x0A {
                    fail(.bareLineFeed)
                    state = .inLine
                    lineLength = 0
                } else {
                    // RFC 5321 §4.5.2: the first dot of a line is removed; the rest is content.
                    state = .inLine
                    continue
                }
            case .dotCarriageReturn:
                if byte == 0x0A {
                    state = .finished
                    index += 1
                    return index
                } else {
                    // "." CR x: the dot was stuffing, the CR is bare.
                    fail(.bareCarriageReturn)
                    state = .inLine
                    continue
                }
            }
            index += 1
        }
        flushRun(index, &output)
        return index
    }

    /// Marks the end of a BDAT LAST chunk: a body must not end inside a line break.
    public mutating func finishChunks() {
        if state == .carriageReturn { fail(.bareCarriageReturn) }
        state = .finished
    }
}
