import Foundation
import WireCore

extension LineBuffer {
    /// Feeds buffered bytes to `scanner` until it finishes (then what follows stays buffered)
    /// or the buffer is empty. Returns whether the scanner finished.
    public mutating func scan(into scanner: inout SMTPBodyScanner, output: inout [UInt8]) -> Bool {
        consume { scanner.scan($0, into: &output) }
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

    public enum State: Sendable {
        case lineStart, inLine, carriageReturn, dotAtStart, dotCarriageReturn, finished
    }

    public let mode: Mode
    /// Text line limit including CRLF; 0 for none.
    public let lineLimit: Int
    private var state: State
    private var lineLength = 0
    public private(set) var error: LineError?
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

    public mutating func fail(_ error: LineError) {
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
