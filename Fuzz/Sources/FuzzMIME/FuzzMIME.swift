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
    // A mailing list's rewriting keeps the body and ends the header once.
    let rewritten = ListPost.rewrite(message, subjectPrefix: "[list]", replaced: ["reply-to"], added: [("List-Id", "<list.example>")])
    precondition(rewritten.count >= message.count - ListPost.fields(of: message).bodyStart + 2)
    _ = ListPost.withoutReturnPath(message)
    let edited = HeaderEditing.edit(message, removed: HeaderEditing.receiptRequests, added: [("X-Added", "1")])
    precondition(edited.count >= message.count - ListPost.fields(of: message).bodyStart + 2)
    // The plain text of a message stays within its limit; decoding undoes what encoding did.
    precondition(MessageText.plain(message, limit: 4_096).utf8.count <= 4_096 * 3)
    let header = Array(message.prefix(ListPost.fields(of: message).bodyStart))
    if let modified = HeaderModifier.apply([HeaderModifier(action: .remove, name: "X-", prefix: true),
                                            HeaderModifier(action: .replace, name: "Subject", value: "s"),
                                            HeaderModifier(action: .add, name: "X-Added", value: "1")], to: header) {
        precondition(modified.count <= header.count + 64 && modified.suffix(2) == [0x0D, 0x0A])
    }
    // A preview is text: no control characters, within its length.
    let preview = MessageText.preview(summary) { range in
        Array(message[min(range.lowerBound, message.count)..<min(range.upperBound, message.count)])
    }
    precondition(preview.count <= 200 && !preview.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
    _ = TransferEncoding.decode(message, encoding: "quoted-printable")
    _ = TransferEncoding.decode(message, encoding: "base64")
    // The ListServer reads at most its limit of lines.
    let text = String(decoding: message, as: UTF8.self)
    let reading = ListServerCommand.read(subject: String(text.prefix(200)), body: text)
    precondition(reading.commands.count + reading.unknown.count <= ListServerCommand.lineLimit)
    // A mail command's problems are bounded by its line limit.
    let request = MailCommandRequest.read(subject: String(text.prefix(80)), body: text)
    precondition(request.problems.count <= MailCommandRequest.lineLimit + 8)
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzMIME_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzMIME)
}
