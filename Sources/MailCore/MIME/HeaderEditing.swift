/// Header fields dropped and added, the rest of the message as it was (folding kept). Pure:
/// bytes in, bytes out; a message without a header-ending empty line is all header.
public enum HeaderEditing {
    /// `message` without the fields named in `removed` (lower-case names), with `added` after
    /// the fields kept.
    public static func edit(_ message: [UInt8], removed: Set<String>, added: [(name: String, value: String)] = []) -> [UInt8] {
        let (fields, bodyStart) = ListPost.fields(of: message)
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 256)
        for field in fields where !removed.contains(field.name) {
            out += field.raw
            if field.raw.last != 0x0A { out += [0x0D, 0x0A] }
        }
        for field in added {
            out += Array("\(field.name): \(field.value)\r\n".utf8)
        }
        out += [0x0D, 0x0A]
        if bodyStart < message.count { out += message[bodyStart...] }
        return out
    }

    /// Fields that ask for a receipt (delivery, read or transmission), as mail clients write
    /// them; monitored copies go without them.
    public static let receiptRequests: Set<String> = [
        "disposition-notification-to", "disposition-notification-options", "return-receipt-to", "read-receipt-to",
        "x-confirm-reading-to", "generate-delivery-report",
    ]
}
