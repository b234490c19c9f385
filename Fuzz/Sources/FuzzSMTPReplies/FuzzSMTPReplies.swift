import FuzzDriver
import SMTPWire

/// Any bytes as a remote server's replies, fed whole and then in two pieces: the same replies
/// (or the same refusal) either way; every reply has a code from 200 to 599, its lines bounded
/// in count, and EHLO capabilities read from it without a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSMTPReplies(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    func read(_ pieces: [ArraySlice<UInt8>]) -> ([SMTPReply], SMTPReplyError?) {
        var reader = SMTPReplyReader()
        var replies: [SMTPReply] = []
        do {
            for piece in pieces {
                reader.append(piece)
                while let reply = try reader.next() { replies.append(reply) }
            }
        } catch {
            return (replies, error)
        }
        return (replies, nil)
    }
    let whole = read([bytes[...]])
    let split = read([bytes[..<(size / 2)], bytes[(size / 2)...]])
    precondition(whole.0 == split.0 && whole.1 == split.1)
    for reply in whole.0 {
        precondition((200...599).contains(reply.code) && reply.lines.count <= SMTPReplyReader.lineCountLimit)
        _ = SMTPServerCapabilities(ehloReply: reply).maximumSize
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzSMTPReplies_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzSMTPReplies)
}
