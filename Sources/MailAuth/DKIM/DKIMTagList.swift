/// A DKIM tag list (RFC 6376 §3.2): `tag=value` pairs separated by `;`, as DKIM-Signature
/// header fields and key records are written. Parsed from bytes, strictly: a tag may appear
/// once, names are `ALPHA *(ALPHA / DIGIT / "_")`, values are printable ASCII without `;`
/// with folding whitespace inside.
public struct DKIMTagList: Sendable, Equatable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badName(String)
        case missingEquals(String)
        case badValue(tag: String)
        case duplicate(String)
        case tooLong

        public var description: String {
            switch self {
            case .badName(let name): "a tag name is not ALPHA *(ALPHA / DIGIT / _): \(name)"
            case .missingEquals(let name): "tag \(name) has no ="
            case .badValue(let tag): "tag \(tag) has a character that is not allowed in a value"
            case .duplicate(let tag): "tag \(tag) appears twice"
            case .tooLong: "the tag list is too long"
            }
        }
    }

    /// The tags in order, each value with its surrounding whitespace removed (inner folding
    /// whitespace is kept as written).
    public let tags: [(name: String, value: String)]

    public static func == (lhs: DKIMTagList, rhs: DKIMTagList) -> Bool {
        lhs.tags.map(\.name) == rhs.tags.map(\.name) && lhs.tags.map(\.value) == rhs.tags.map(\.value)
    }

    /// Bounds the work on hostile input: header fields and TXT records are far shorter.
    public static let maximumLength = 64 * 1024

    public subscript(_ name: String) -> String? { tags.first { $0.name == name }?.value }

    public init(parsing bytes: some Collection<UInt8>) throws(Failure) {
        guard bytes.count <= Self.maximumLength else { throw .tooLong }
        var tags: [(name: String, value: String)] = []
        var seen = Set<String>()
        for spec in Array(bytes).split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
            // RFC 6376 §3.2: a trailing ";" (and whitespace after it) is allowed.
            if spec.allSatisfy(Self.isWhitespace) { continue }
            guard let equals = spec.firstIndex(of: UInt8(ascii: "=")) else {
                throw .missingEquals(String(decoding: Self.trim(spec[...]), as: UTF8.self))
            }
            let name = Self.trim(spec[spec.startIndex..<equals])
            let text = String(decoding: name, as: UTF8.self)
            guard let first = name.first, Self.isAlpha(first),
                  name.allSatisfy({ Self.isAlpha($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "_") }) else {
                throw .badName(text)
            }
            let value = Self.trim(spec[(equals + 1)...])
            // VALCHAR = %x21-3A / %x3C-7E, with FWS between runs.
            guard value.allSatisfy({ (0x21...0x7E).contains($0) || Self.isWhitespace($0) }) else { throw .badValue(tag: text) }
            guard seen.insert(text).inserted else { throw .duplicate(text) }
            tags.append((text, String(decoding: value, as: UTF8.self)))
        }
        self.tags = tags
    }

    static func isAlpha(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }

    static func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWhitespace(last) { slice = slice.dropLast() }
        return slice
    }

    /// A value with every whitespace character removed: base64 (`b=`, `bh=`, `p=`) and
    /// colon-separated lists (`h=`) may be folded anywhere.
    public static func compact(_ value: String) -> String {
        String(value.unicodeScalars.filter { !($0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n") })
    }
}
