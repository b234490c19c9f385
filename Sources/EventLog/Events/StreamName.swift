/// A stream's key, `category-id` (or a bare `category` for a singleton stream such as `settings`).
///
/// The category is what consumers filter on; it is 1–48 characters of `[a-z0-9_]` starting with
/// a letter, so the first hyphen always ends it. The id is any text of 1–200 bytes without
/// control characters.
public struct StreamName: Hashable, Sendable, CustomStringConvertible {
    public let category: String
    public let id: String?

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case invalidCategory(String)
        case invalidID(String)

        public var description: String {
            switch self {
            case .invalidCategory(let category):
                "\"\(category)\" is not a stream category (1–48 characters of a-z, 0-9 and _, starting with a letter)"
            case .invalidID(let id):
                "\"\(id)\" is not a stream id (1–200 bytes, no control characters)"
            }
        }
    }

    public init(category: String, id: String? = nil) throws(ParseError) {
        guard Self.isValidCategory(category) else { throw .invalidCategory(category) }
        if let id {
            guard !id.isEmpty, id.utf8.count <= 200, !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw .invalidID(id)
            }
        }
        self.category = category
        self.id = id
    }

    /// Parses a stored key back into its parts.
    public init(key: String) throws(ParseError) {
        if let hyphen = key.firstIndex(of: "-") {
            try self.init(category: String(key[..<hyphen]), id: String(key[key.index(after: hyphen)...]))
        } else {
            try self.init(category: key)
        }
    }

    public var key: String { id.map { "\(category)-\($0)" } ?? category }
    public var description: String { key }

    public static func isValidCategory(_ category: String) -> Bool {
        guard let first = category.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              category.utf8.count <= 48 else { return false }
        return category.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }
}
