/// A message's header as DKIM sees it: its fields as the bytes they arrived in (folding kept),
/// in order, and where the body starts. Pure; reads no more than the header.
public struct HeaderFields: Sendable {
    public struct Field: Sendable, Equatable {
        /// The name as written.
        public let name: String
        /// The whole field, `Name: value` with its folded lines and the final CRLF.
        public let raw: [UInt8]
        /// Where the field starts in the message.
        public let offset: Int

        public init(name: String, raw: [UInt8], offset: Int = 0) {
            self.name = name
            self.raw = raw
            self.offset = offset
        }

        /// The value as written: after the colon, without the final CRLF.
        public var value: ArraySlice<UInt8> {
            let colon = raw.firstIndex(of: UInt8(ascii: ":")) ?? raw.startIndex
            var end = raw.endIndex
            if end - colon >= 2, raw[end - 2] == 0x0D, raw[end - 1] == 0x0A { end -= 2 }
            return raw[(colon + 1)..<end]
        }
    }

    public let fields: [Field]
    /// The offset of the body: just after the empty line (the end when there is none).
    public let bodyStart: Int

    /// Bounds: a header larger than this, or with more fields, is not signed or verified.
    public static let maximumSize = 1 << 20
    public static let maximumFields = 1_000

    /// The header of `message` (CRLF lines, as stored and sent). Nil when it is not a header:
    /// a line without a colon that does not continue a field, or beyond the bounds.
    public init?(_ message: some RandomAccessCollection<UInt8>) {
        let bytes = Array(message.prefix(Self.maximumSize + 2))
        var fields: [Field] = []
        var index = 0
        var current: (start: Int, name: String)?
        func close(at end: Int) {
            if let open = current { fields.append(Field(name: open.name, raw: Array(bytes[open.start..<end]), offset: open.start)) }
            current = nil
        }
        while index < bytes.count {
            // The end of this line (after its LF).
            var end = index
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let lineEnd = min(end + 1, bytes.count)
            let line = bytes[index..<lineEnd]
            if line.elementsEqual([0x0D, 0x0A]) || line.elementsEqual([0x0A]) {
                close(at: index)
                guard fields.count <= Self.maximumFields else { return nil }
                self.fields = fields
                bodyStart = lineEnd
                return
            }
            if bytes[index] == 0x20 || bytes[index] == 0x09 {
                // A folded continuation of the open field.
                guard current != nil else { return nil }
            } else {
                close(at: index)
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > index else { return nil }
                var nameEnd = colon
                while nameEnd > index, bytes[nameEnd - 1] == 0x20 || bytes[nameEnd - 1] == 0x09 { nameEnd -= 1 }
                let name = bytes[index..<nameEnd]
                guard !name.isEmpty, name.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ":") }) else { return nil }
                current = (index, String(decoding: name, as: UTF8.self))
            }
            index = lineEnd
            guard index <= Self.maximumSize, fields.count <= Self.maximumFields else { return nil }
        }
        // No empty line: all header, no body.
        close(at: bytes.count)
        self.fields = fields
        bodyStart = bytes.count
    }

    /// The fields named `name` (case-insensitively), last first: the order DKIM takes them in.
    public func lastFirst(_ name: String) -> [Field] {
        let wanted = name.lowercased()
        return fields.reversed().filter { $0.name.lowercased() == wanted }
    }
}
