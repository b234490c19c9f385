import FuzzDriver
import POP3Wire

/// Any bytes as POP3 command lines, as a stored message written out for RETR and TOP, and as a
/// server's answers read by the collector: no crash, bounded output, and the multi-line output
/// always ends with the terminating line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPOP3(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).prefix(1_000) {
        _ = POP3CommandParser.parse(line.last == 0x0D ? line.dropLast() : line)
    }
    // The same bytes as a server's answers to the collector: statuses, multi-line bodies,
    // UIDL and LIST listings, each bounded.
    var reader = POP3ClientReader(lineLimit: 4_096)
    reader.append(bytes)
    for _ in 0..<1_000 {
        guard let status = try? reader.status() else { break }
        guard status.isOK, let body = try? reader.multiline(limit: 1 << 20) else { continue }
        precondition(body.count <= 1 << 20)
        _ = try? POP3ClientReader.uniqueIDs(body)
        _ = try? POP3ClientReader.sizes(body)
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
