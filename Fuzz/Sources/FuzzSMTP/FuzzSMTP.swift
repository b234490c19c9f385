import FuzzDriver
import SMTPWire
import WireCore

/// Any bytes as SMTP input: cut into command lines and parsed, and read as a DATA body and as
/// BDAT chunks. Nothing may crash, and a body the scanner accepted must hold CRLF line ends only.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSMTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    var input = LineBuffer()
    input.append(bytes)
    var lines = 0
    while lines < 10_000, let line = try? input.nextLine(limit: 2_048) {
        _ = SMTPCommandParser.parse(line)
        _ = SASLResponseLine.parse(line)
        lines += 1
    }

    for mode in [SMTPBodyScanner.Mode.data, .chunk] {
        var scanner = SMTPBodyScanner(mode: mode, lineLimit: 1_000)
        var body: [UInt8] = []
        // Fed in two pieces, so state carries across a boundary.
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        var consumed = bytes[..<split].withUnsafeBufferPointer { scanner.scan($0, into: &body) }
        if !scanner.isFinished {
            consumed += bytes[split...].withUnsafeBufferPointer { scanner.scan($0, into: &body) }
        }
        precondition(consumed <= bytes.count)
        if scanner.error == nil {
            for (index, byte) in body.enumerated() {
                if byte == 0x0A { precondition(index > 0 && body[index - 1] == 0x0D, "bare LF in an accepted body") }
                if byte == 0x0D { precondition(index + 1 < body.count && body[index + 1] == 0x0A, "bare CR in an accepted body") }
            }
        }
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzSMTP_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzSMTP)
}
