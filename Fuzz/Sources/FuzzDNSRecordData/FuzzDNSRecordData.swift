import FuzzDriver
import MailCore

/// Any bytes as the record data of an MX, A, AAAA, TXT or TLSA answer: decoded or refused, never a
/// crash; a decoded MX exchange is a name of at most 253 printable characters.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNSRecordData(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let mx = try? DNSRecordData.mx(bytes) {
        precondition(mx.host.utf8.count <= 254 && mx.host.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f })
    }
    if let tlsa = try? DNSRecordData.tlsa(bytes) { precondition(tlsa.data.count == bytes.count - 3) }
    _ = try? DNSRecordData.ipv4(bytes)
    _ = try? DNSRecordData.ipv6(bytes)
    if let strings = try? DNSRecordData.txt(bytes) {
        precondition(strings.reduce(0) { $0 + $1.count + 1 } == bytes.count)
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzDNSRecordData_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzDNSRecordData)
}
