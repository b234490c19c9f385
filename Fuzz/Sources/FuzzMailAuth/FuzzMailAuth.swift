import FuzzDriver
import MailAuth

/// Any bytes as a DKIM-Signature value, a key record, a message, an SPF record, a DMARC
/// record, an Authentication-Results value, a DMARC aggregate report (plain and gzipped), an
/// MTA-STS record and policy, a TLS-RPT record and report, and a domain for the Public
/// Suffix List: every parser ends without a crash.
let suffixes = PublicSuffixList(text: "com\nco.uk\n*.ck\n!www.ck\n公司.cn\n// comment\n")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMailAuth(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if SPFRecord.isSPF(bytes) { _ = try? SPFRecord(parsing: String(decoding: bytes, as: UTF8.self)) }
    _ = try? DKIMTagList(parsing: bytes)
    _ = try? DKIMSignature(value: bytes)
    _ = try? DKIMKeyRecord(parsing: bytes)
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? DMARCRecord(parsing: text)
    _ = AuthenticationResults.authservID(ofValue: bytes)
    _ = try? DMARCAggregateReport(xml: bytes)
    if let xml = try? Gzip.decompress(bytes, limit: 1 << 20) { _ = try? DMARCAggregateReport(xml: xml) }
    _ = suffixes.organizationalDomain(of: text)
    _ = MTASTSRecord(parsing: text)
    _ = TLSRPTRecord(parsing: text)
    _ = try? TLSReport(json: bytes)
    if let policy = try? MTASTSPolicy(parsing: bytes) { _ = policy.allows(mx: "mx.example.net") }
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
