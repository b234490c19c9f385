import FuzzDriver
import IMAPWire
import WireCore

/// Any bytes as IMAP input: cut into commands by the reader (literals included) and parsed.
/// Nothing may crash or run away, and a reader that asked for a literal gets exactly its bytes;
/// a streamed APPEND literal comes out in pieces adding up to its announced size. The same bytes
/// are also an IMAP URL, and a server's responses as the collector reads them: each response bounded, FETCH
/// attributes taken apart.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMAP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var input = LineBuffer()
    input.append(bytes)
    var reader = IMAPCommandReader(lineLimit: 8_192, literalLimit: 1_024, streamedLiteralLimit: 65_536, commandLimit: 200_000)
    var steps = 0
    var streaming: Int?
    loop: while steps < 10_000 {
        steps += 1
        switch reader.next(from: &input) {
        case .command(let command):
            precondition(streaming == nil || streaming == 0, "a command ended inside its streamed literal")
            streaming = nil
            _ = IMAPParser.parse(command, maxDepth: 16, maxRanges: 1_000)
        case .literalStarts(let size, _, _):
            precondition(streaming == nil && size > 1_024 && size <= 65_536)
            streaming = size
        case .literalData(let piece):
            precondition(!piece.isEmpty && piece.count <= streaming ?? 0)
            streaming = (streaming ?? 0) - piece.count
        case .continuation, .refusedLiteral:
            continue
        case .needInput, .fatal:
            break loop
        }
    }
    // Also the whole input as one command, whatever the reader thought of it.
    _ = IMAPParser.parse(bytes, maxDepth: 16, maxRanges: 1_000)
    _ = ModifiedUTF7.decode(String(decoding: bytes, as: UTF8.self))
    // The bytes as an IMAP URL (CATENATE's parts): what parses has a UID and a mailbox without NUL.
    if let url = IMAPURL.parse(String(decoding: bytes.prefix(IMAPURL.maximumLength), as: UTF8.self)) {
        precondition(url.uid > 0 && url.mailbox?.contains("\0") != true)
    }
    var responses = IMAPClientReader(lineLimit: 4_096, responseLimit: 1 << 16)
    responses.append(bytes)
    for _ in 0..<1_000 {
        let before = responses.buffered
        guard let response = try? responses.next() else { break }
        precondition(before - responses.buffered <= 1 << 16)
        _ = response.fetch
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzIMAP_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzIMAP)
}
