import FuzzDriver
import MailCore

/// Any bytes as a domain name: accepted names parse again to themselves.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDomainName(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let name = try? DomainName(text) {
        precondition((try? DomainName(name.value)) == name)
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzDomainName_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzDomainName)
}
