import FuzzDriver
import MailAuth

/// Any bytes as a DKIM-Signature value, a key record, a message and an SPF record: the tag
/// list, signature and key parsers, the header splitter, both canonicalizations, and the SPF
/// record and macro parsers end without a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMailAuth(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if SPFRecord.isSPF(bytes) { _ = try? SPFRecord(parsing: String(decoding: bytes, as: UTF8.self)) }
    _ = try? DKIMTagList(parsing: bytes)
    _ = try? DKIMSignature(value: bytes)
    _ = try? DKIMKeyRecord(parsing: bytes)
    if let header = HeaderFields(bytes) {
        for field in header.fields.prefix(50) {
            _ = DKIMCanonicalization.relaxed.header(field.raw)
            if field.name.lowercased() == "dkim-signature" { _ = try? DKIMSignature(value: field.value) }
        }
        for canonicalization in [DKIMCanonicalization.simple, .relaxed] {
            var hasher = DKIMCanonicalization.BodyHasher(canonicalization, limit: size / 2)
            hasher.update(bytes.dropFirst(header.bodyStart))
            _ = hasher.finish()
        }
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzMailAuth_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzMailAuth)
}
