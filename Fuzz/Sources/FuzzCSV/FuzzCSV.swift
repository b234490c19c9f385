import FuzzDriver
import MailCore

/// Any bytes as an uploaded user list: the reader returns records or says where a quoted field
/// was left open, and what it returns written out again reads back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let records = try? CSV.records(text) else { return 0 }
    let written = records.map { $0.map(CSV.quote).joined(separator: ",") + "\r\n" }.joined()
    precondition((try? CSV.records(written)) == records, "a written CSV reads back differently")
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzCSV_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzCSV)
}
