import Crypto

/// RFC 6376 §3.4: the `simple` and `relaxed` canonicalizations of header fields and body.
public enum DKIMCanonicalization: String, Sendable, Equatable {
    case simple
    case relaxed

    /// A header field as it is hashed (§3.4.1, §3.4.2). `raw` is the whole field with its CRLF.
    public func header(_ raw: some Collection<UInt8>) -> [UInt8] {
        switch self {
        case .simple:
            return Array(raw)
        case .relaxed:
            let bytes = Array(raw)
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return bytes }
            // The name in lower case, without whitespace before the colon.
            var out = bytes[..<colon].filter { $0 != 0x20 && $0 != 0x09 }.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
            out.append(UInt8(ascii: ":"))
            // The value unfolded, whitespace runs as one space, none at either end.
            var pendingSpace = false
            var started = false
            for byte in bytes[(colon + 1)...] {
                switch byte {
                case 0x0D, 0x0A: continue
                case 0x20, 0x09: pendingSpace = started
                default:
                    if pendingSpace { out.append(0x20) }
                    pendingSpace = false
                    started = true
                    out.append(byte)
                }
            }
            out += [0x0D, 0x0A]
            return out
        }
    }

    /// The body's canonical form, fed piece by piece into a hash, with an optional length limit
    /// (`l=`, counted in canonical bytes).
    public struct BodyHasher: Sendable {
        public let canonicalization: DKIMCanonicalization
        public let limit: Int?
        private var hash = SHA256()
        private var line: [UInt8] = []
        /// Empty lines seen and not yet written: trailing ones are dropped (§3.4.3, §3.4.4).
        private var blankLines = 0
        private var written = 0
        private var sawCR = false

        public init(_ canonicalization: DKIMCanonicalization, limit: Int? = nil) {
            self.canonicalization = canonicalization
            self.limit = limit
        }

        /// Canonical bytes hashed so far.
        public var length: Int { written }

        public mutating func update(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                if byte == 0x0A, sawCR {
                    sawCR = false
                    endLine()
                    continue
                }
                if sawCR { line.append(0x0D) }
                sawCR = byte == 0x0D
                if !sawCR { line.append(byte) }
                // A line cannot grow without bound: flush what cannot change any more.
                if line.count > 8 * 1024 { flushLong() }
            }
        }

        private mutating func endLine() {
            var content = line
            line = []
            if canonicalization == .relaxed { content = Self.relaxed(content) }
            if content.isEmpty {
                blankLines += 1
                return
            }
            emitBlankLines()
            emit(content)
            emit([0x0D, 0x0A])
        }

        /// A very long line: its start is written now (its whitespace handled as it stands).
        private mutating func flushLong() {
            var keep = 0
            // Trailing whitespace may still be dropped or reduced: keep it back.
            while keep < line.count, line[line.count - 1 - keep] == 0x20 || line[line.count - 1 - keep] == 0x09 { keep += 1 }
            let head = Array(line[..<(line.count - keep)])
            guard !head.isEmpty else { return }
            line = Array(line[(line.count - keep)...])
            emitBlankLines()
            emit(canonicalization == .relaxed ? Self.relaxedRun(head) : head)
            // Whitespace kept back after a flushed head is a run inside the line.
            if canonicalization == .relaxed, !line.isEmpty { line = [0x20] }
        }

        private mutating func emitBlankLines() {
            while blankLines > 0 {
                emit([0x0D, 0x0A])
                blankLines -= 1
            }
        }

        private mutating func emit(_ bytes: [UInt8]) {
            var bytes = bytes[...]
            if let limit {
                let room = max(0, limit - written)
                bytes = bytes.prefix(room)
            }
            hash.update(data: Array(bytes))
            written += bytes.count
        }

        /// The body hash. A body with no content is a single CRLF under `simple` and nothing
        /// under `relaxed`.
        public mutating func finish() -> [UInt8] {
            if sawCR { line.append(0x0D); sawCR = false }
            if !line.isEmpty {
                // A last line without CRLF is taken as if it had one.
                endLine()
            }
            if written == 0 && canonicalization == .simple { emit([0x0D, 0x0A]) }
            return Array(hash.finalize())
        }

        /// §3.4.4: whitespace at the end of the line removed, runs inside it made one space.
        static func relaxed(_ line: [UInt8]) -> [UInt8] {
            var end = line.count
            while end > 0, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
            return relaxedRun(Array(line[..<end]))
        }

        static func relaxedRun(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var inRun = false
            for byte in bytes {
                if byte == 0x20 || byte == 0x09 {
                    if !inRun { out.append(0x20) }
                    inRun = true
                } else {
                    inRun = false
                    out.append(byte)
                }
            }
            return out
        }
    }
}
