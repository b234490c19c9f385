import FuzzDriver
import POP3Wire

/// Any bytes as POP3 command lines, and as a stored message written out for RETR and TOP: no
/// crash, and the multi-line output always ends with the terminating line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPOP3(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).prefix(1_000) {
        _ = POP3CommandParser.parse(line.last == 0x0D ? line.dropLast() : line)
    }
    for lines in [nil, 0, 3] as [Int?] {
        let output = POP3MessageWriter.multiline(bytes, bodyLines: lines)
        precondition(output.suffix(3) == [UInt8(ascii: "."), 0x0D, 0x0A])
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzPOP3_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzPOP3)
}
