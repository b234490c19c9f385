import FuzzDriver
import MailCore

/// Any bytes as a stored message: the parser must return a summary whose offsets stay inside
/// the message, and never crash or run away.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMIME(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let message = Array(UnsafeBufferPointer(start: data, count: size))
    var limits = MIMELimits()
    limits.maxParts = 200
    let summary = MIMEParser.summarise(message, limits: limits)
    func check(_ part: BodyPart) {
        precondition(part.bodyOffset >= 0 && part.bodySize >= 0 && part.bodyOffset + part.bodySize <= message.count)
        precondition(part.headerOffset <= part.bodyOffset)
        part.parts.forEach(check)
    }
    check(summary.body)
    _ = MessageAddress.parseList(String(decoding: message, as: UTF8.self))
    _ = EncodedWord.decode(String(decoding: message, as: UTF8.self))
    _ = MessageDate.parse(String(decoding: message, as: UTF8.self))
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzMIME_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzMIME)
}
