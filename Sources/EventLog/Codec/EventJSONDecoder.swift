import Foundation

/// Reads a JSON document into a `Decodable` value the way `EventCoding.decoder()` does, from a
/// flat list of the document's values (one parse, no dictionary per object): an object's
/// members are looked up by comparing the coding key's UTF-8 bytes with the stored key's.
///
/// Any error it throws makes `EventCoding.decode` try Foundation's decoder, so a document it
/// reads differently can only cost time, and errors keep Foundation's descriptions.
struct EventJSONDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let document = try JSONDocument(bytes)
        return try document.decode(T.self, at: 0, parent: nil, key: nil)
    }
}

/// One value of the document. Objects are followed by their members (a string node for the key,
/// then the value's nodes), arrays by their elements; `end` is then the index after them.
struct JSONNode {
    enum Kind: UInt8 { case object, array, string, number, bool, null }

    var kind: Kind
    /// A string with a backslash in it; a `true` for a boolean.
    var flag: Bool
    /// For strings and numbers: the bytes, quotes excluded.
    var start: Int32
    var stop: Int32
    /// The index after this value's nodes.
    var end: Int32
    /// Members or elements, for objects and arrays.
    var count: Int32
}

final class JSONDocument {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    let nodes: ContiguousArray<JSONNode>
    /// A `null` node after the document, for a `superDecoder()` of a key that is absent.
    let nullIndex: Int

    init(_ input: [UInt8]) throws {
        bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(input.count, 1))
        _ = bytes.initialize(from: input)
        var parser = JSONParser(bytes: bytes)
        do {
            try parser.parseDocument(count: input.count)
        } catch {
            bytes.deallocate()
            throw error
        }
        nullIndex = parser.nodes.count
        parser.nodes.append(JSONNode(kind: .null, flag: false, start: 0, stop: 0, end: Int32(nullIndex + 1), count: 0))
        nodes = parser.nodes
    }

    deinit { bytes.deallocate() }

    static func corrupt(_ text: String, path: [any CodingKey] = []) -> DecodingError {
        .dataCorrupted(.init(codingPath: path, debugDescription: "The given data was not valid JSON: " + text))
    }

    // MARK: Values

    func string(at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> String {
        let node = nodes[index]
        guard node.kind == .string else { throw mismatch(String.self, node, path()) }
        let slice = UnsafeBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.stop)])
        if !node.flag {
            guard let text = String(validating: slice, as: UTF8.self) else { throw Self.corrupt("a string that is not UTF-8", path: path()) }
            return text
        }
        return try unescape(slice, path: path())
    }

    private func unescape(_ slice: UnsafeBufferPointer<UInt8>, path: @autoclosure () -> [any CodingKey]) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(slice.count)
        var index = 0
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= slice.count else { throw Self.corrupt("a short \\u escape", path: path()) }
            var value: UInt32 = 0
            for byte in slice[at..<at + 4] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw Self.corrupt("a bad \\u escape", path: path())
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < slice.count {
            let byte = slice[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < slice.count else { throw Self.corrupt("a bad escape", path: path()) }
            let code = slice[index + 1]
            index += 2
            switch code {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(code)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 6 <= slice.count, slice[index] == UInt8(ascii: "\\"), slice[index + 1] == UInt8(ascii: "u") else {
                        throw Self.corrupt("an unpaired surrogate", path: path())
                    }
                    let low = try hex4(index + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw Self.corrupt("an unpaired surrogate", path: path()) }
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw Self.corrupt("an unpaired surrogate", path: path()) }
                out.append(contentsOf: String(Character(unicode)).utf8)
            default:
                throw Self.corrupt("a bad escape", path: path())
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw Self.corrupt("a string that is not UTF-8", path: path()) }
        return text
    }

    func bool(at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        let node = nodes[index]
        guard node.kind == .bool else { throw mismatch(Bool.self, node, path()) }
        return node.flag
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> I {
        let node = nodes[index]
        guard node.kind == .number else { throw mismatch(I.self, node, path()) }
        var position = Int(node.start)
        let stop = Int(node.stop)
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard position < stop else { throw Self.corrupt("a bad number", path: path()) }
        var value: I = 0
        var overflow = false
        while position < stop {
            let byte = bytes[position]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                // A fraction or exponent: exact integers only, as Foundation's decoder.
                let double = try self.double(at: index, path: path())
                guard let exact = I(exactly: double) else {
                    throw Self.corrupt("the number is not representable as \(I.self)", path: path())
                }
                return exact
            }
            let digit = I(byte - UInt8(ascii: "0"))
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            overflow = overflow || o1 || o2
            value = next
            position += 1
        }
        guard !overflow else { throw Self.corrupt("the number does not fit in \(I.self)", path: path()) }
        return value
    }

    func double(at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> Double {
        let node = nodes[index]
        guard node.kind == .number else { throw mismatch(Double.self, node, path()) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.stop)]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw Self.corrupt("a bad number \(text)", path: path()) }
        return value
    }

    func mismatch(_ type: Any.Type, _ node: JSONNode, _ path: [any CodingKey]) -> DecodingError {
        if node.kind == .null {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) value but found null instead."))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(node.kind) instead."))
    }

    // MARK: Decoding

    func decode<T: Decodable>(_ type: T.Type, at index: Int, parent: JSONTapeDecoder?, key: (any CodingKey)?) throws -> T {
        if T.self == String.self { return unsafeBitCast(try string(at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(Int.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try integer(Int64.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try integer(UInt32.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try double(at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try integer(Int32.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try integer(UInt64.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == UInt8.self { return unsafeBitCast(try integer(UInt8.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Int16.self { return unsafeBitCast(try integer(Int16.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == UInt16.self { return unsafeBitCast(try integer(UInt16.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Date.self {
            let text = try string(at: index, path: JSONTapeDecoder.path(parent, key))
            guard let date = EventCoding.parseTimestamp(text) else {
                throw Self.corrupt("not an ISO 8601 timestamp: \(text)", path: JSONTapeDecoder.path(parent, key))
            }
            return unsafeBitCast(date, to: T.self)
        }
        if T.self == Data.self {
            let text = try string(at: index, path: JSONTapeDecoder.path(parent, key))
            guard let data = Data(base64Encoded: text) else { throw Self.corrupt("not base 64", path: JSONTapeDecoder.path(parent, key)) }
            return unsafeBitCast(data, to: T.self)
        }
        if T.self == URL.self {
            let text = try string(at: index, path: JSONTapeDecoder.path(parent, key))
            guard let url = URL(string: text) else { throw Self.corrupt("not a URL", path: JSONTapeDecoder.path(parent, key)) }
            return unsafeBitCast(url, to: T.self)
        }
        if T.self == Int8.self { return unsafeBitCast(try integer(Int8.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == UInt.self { return unsafeBitCast(try integer(UInt.self, at: index, path: JSONTapeDecoder.path(parent, key)), to: T.self) }
        if T.self == Float.self {
            let double = try self.double(at: index, path: JSONTapeDecoder.path(parent, key))
            guard let float = Float(exactly: double) ?? Optional(Float(double)), float.isFinite else {
                throw Self.corrupt("the number does not fit in Float", path: JSONTapeDecoder.path(parent, key))
            }
            return unsafeBitCast(float, to: T.self)
        }
        if T.self == Decimal.self { throw Self.corrupt("Decimal is left to Foundation") }
        if let direct = T.self as? any DirectJSONCodable.Type, let value = try direct.init(json: self, at: index) as? T {
            return value
        }
        return try T(from: JSONTapeDecoder(document: self, index: index, parent: parent, key: key))
    }

    /// The value node of the member named `key` in the object at `object`, or nil.
    func member(_ key: String, in object: Int) -> Int? {
        var key = key
        return key.withUTF8 { wanted -> Int? in
            var index = object + 1
            let end = Int(nodes[object].end)
            while index < end {
                let name = nodes[index]
                let value = index + 1
                if !name.flag {
                    let length = Int(name.stop - name.start)
                    if length == wanted.count,
                       length == 0 || memcmp(bytes.baseAddress! + Int(name.start), wanted.baseAddress!, length) == 0 {
                        return value
                    }
                } else if let text = try? string(at: index, path: []), text.utf8.elementsEqual(wanted) {
                    return value
                }
                index = Int(nodes[value].end)
            }
            return nil
        }
    }
}

/// The `Decoder` handed to one value's `init(from:)`.
final class JSONTapeDecoder: Decoder {
    let document: JSONDocument
    let index: Int
    let parent: JSONTapeDecoder?
    let key: (any CodingKey)?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(document: JSONDocument, index: Int, parent: JSONTapeDecoder?, key: (any CodingKey)?) {
        self.document = document
        self.index = index
        self.parent = parent
        self.key = key
    }

    var codingPath: [any CodingKey] { Self.path(parent, key) }

    static func path(_ parent: JSONTapeDecoder?, _ key: (any CodingKey)?) -> [any CodingKey] {
        var path = parent?.codingPath ?? []
        if let key { path.append(key) }
        return path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let node = document.nodes[index]
        guard node.kind == .object else { throw document.mismatch([String: Any].self, node, codingPath) }
        return KeyedDecodingContainer(JSONKeyedDecoding<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let node = document.nodes[index]
        guard node.kind == .array else { throw document.mismatch([Any].self, node, codingPath) }
        return JSONUnkeyedDecoding(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        JSONSingleValueDecoding(decoder: self)
    }
}

struct JSONKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: JSONTapeDecoder
    var document: JSONDocument { decoder.document }
    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        var keys: [Key] = []
        var index = decoder.index + 1
        let end = Int(document.nodes[decoder.index].end)
        while index < end {
            if let name = try? document.string(at: index, path: []), let key = Key(stringValue: name) { keys.append(key) }
            index = Int(document.nodes[index + 1].end)
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { document.member(key.stringValue, in: decoder.index) != nil }

    private func value(_ key: Key) throws -> Int {
        guard let index = document.member(key.stringValue, in: decoder.index) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                       debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return index
    }

    func decodeNil(forKey key: Key) throws -> Bool { document.nodes[try value(key)].kind == .null }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try document.bool(at: try value(key), path: codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try document.string(at: try value(key), path: codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try document.double(at: try value(key), path: codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.integer(Int.self, at: try value(key), path: codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try document.integer(Int64.self, at: try value(key), path: codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try document.integer(UInt32.self, at: try value(key), path: codingPath + [key]) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try document.decode(T.self, at: try value(key), parent: decoder, key: key)
    }

    private func present(_ key: Key) -> Int? {
        guard let index = document.member(key.stringValue, in: decoder.index), document.nodes[index].kind != .null else { return nil }
        return index
    }

    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let index = present(key) else { return nil }
        return try document.string(at: index, path: codingPath + [key])
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let index = present(key) else { return nil }
        return try document.bool(at: index, path: codingPath + [key])
    }

    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        guard let index = present(key) else { return nil }
        return try document.integer(Int.self, at: index, path: codingPath + [key])
    }

    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
        guard let index = present(key) else { return nil }
        return try document.integer(Int64.self, at: index, path: codingPath + [key])
    }

    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let index = present(key) else { return nil }
        return try document.double(at: index, path: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let index = present(key) else { return nil }
        return try document.decode(T.self, at: index, parent: decoder, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONTapeDecoder(document: document, index: try value(key), parent: decoder, key: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try JSONTapeDecoder(document: document, index: try value(key), parent: decoder, key: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        let index = document.member("super", in: decoder.index) ?? document.nullIndex
        return JSONTapeDecoder(document: document, index: index, parent: decoder, key: JSONSuperKey())
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        let index = document.member(key.stringValue, in: decoder.index) ?? document.nullIndex
        return JSONTapeDecoder(document: document, index: index, parent: decoder, key: key)
    }
}

/// The key `super`, for `superDecoder()`.
struct JSONSuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}

struct JSONUnkeyedDecoding: UnkeyedDecodingContainer {
    let decoder: JSONTapeDecoder
    /// The node of the next element.
    private var next: Int
    private(set) var currentIndex = 0
    var document: JSONDocument { decoder.document }
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { Int(document.nodes[decoder.index].count) }
    var isAtEnd: Bool { currentIndex >= count! }

    init(decoder: JSONTapeDecoder) {
        self.decoder = decoder
        next = decoder.index + 1
    }

    private mutating func take(_ type: Any.Type) throws -> (node: Int, key: JSONIndexKey) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [JSONIndexKey(currentIndex)],
                                                          debugDescription: "Unkeyed container is at end."))
        }
        let node = next
        let key = JSONIndexKey(currentIndex)
        next = Int(document.nodes[node].end)
        currentIndex += 1
        return (node, key)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end."))
        }
        guard document.nodes[next].kind == .null else { return false }
        next = Int(document.nodes[next].end)
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: String.Type) throws -> String {
        let (node, key) = try take(type)
        return try document.string(at: node, path: codingPath + [key])
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, key) = try take(type)
        return try document.decode(T.self, at: node, parent: decoder, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (node, key) = try take(KeyedDecodingContainer<NestedKey>.self)
        return try JSONTapeDecoder(document: document, index: node, parent: decoder, key: key).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (node, key) = try take((any UnkeyedDecodingContainer).self)
        return try JSONTapeDecoder(document: document, index: node, parent: decoder, key: key).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, key) = try take((any Decoder).self)
        return JSONTapeDecoder(document: document, index: node, parent: decoder, key: key)
    }
}

struct JSONSingleValueDecoding: SingleValueDecodingContainer {
    let decoder: JSONTapeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.document.nodes[decoder.index].kind == .null }

    func decode(_ type: String.Type) throws -> String { try decoder.document.string(at: decoder.index, path: codingPath) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.document.bool(at: decoder.index, path: codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.document.decode(T.self, at: decoder.index, parent: decoder.parent, key: decoder.key)
    }
}

/// Reads a document's bytes into its nodes, checking that they are JSON.
struct JSONParser {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    var nodes: ContiguousArray<JSONNode> = []

    static let maximumDepth = 512

    init(bytes: UnsafeMutableBufferPointer<UInt8>) {
        self.bytes = bytes
        nodes.reserveCapacity(bytes.count / 8 + 4)
    }

    mutating func parseDocument(count: Int) throws {
        var position = 0
        try parseValue(&position, count: count, depth: 0)
        skipSpace(&position, count: count)
        guard position == count else { throw JSONDocument.corrupt("bytes after the JSON value at offset \(position)") }
    }

    private func skipSpace(_ position: inout Int, count: Int) {
        while position < count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func parseValue(_ position: inout Int, count: Int, depth: Int) throws {
        guard depth < Self.maximumDepth else { throw JSONDocument.corrupt("nested too deeply") }
        skipSpace(&position, count: count)
        guard position < count else { throw JSONDocument.corrupt("unexpected end of data") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            let index = nodes.count
            nodes.append(JSONNode(kind: .object, flag: false, start: Int32(position), stop: 0, end: 0, count: 0))
            position += 1
            var members: Int32 = 0
            skipSpace(&position, count: count)
            if position < count, bytes[position] == UInt8(ascii: "}") {
                position += 1
            } else {
                while true {
                    skipSpace(&position, count: count)
                    guard position < count, bytes[position] == UInt8(ascii: "\"") else { throw JSONDocument.corrupt("expected a key at offset \(position)") }
                    try parseString(&position, count: count)
                    skipSpace(&position, count: count)
                    guard position < count, bytes[position] == UInt8(ascii: ":") else { throw JSONDocument.corrupt("expected ':' at offset \(position)") }
                    position += 1
                    try parseValue(&position, count: count, depth: depth + 1)
                    members += 1
                    guard try another(&position, count: count, closer: UInt8(ascii: "}")) else { break }
                }
            }
            nodes[index].count = members
            nodes[index].end = Int32(nodes.count)
        case UInt8(ascii: "["):
            let index = nodes.count
            nodes.append(JSONNode(kind: .array, flag: false, start: Int32(position), stop: 0, end: 0, count: 0))
            position += 1
            var elements: Int32 = 0
            skipSpace(&position, count: count)
            if position < count, bytes[position] == UInt8(ascii: "]") {
                position += 1
            } else {
                while true {
                    try parseValue(&position, count: count, depth: depth + 1)
                    elements += 1
                    guard try another(&position, count: count, closer: UInt8(ascii: "]")) else { break }
                }
            }
            nodes[index].count = elements
            nodes[index].end = Int32(nodes.count)
        case UInt8(ascii: "\""):
            try parseString(&position, count: count)
        case UInt8(ascii: "t"):
            try literal("true", &position, count: count)
            nodes.append(JSONNode(kind: .bool, flag: true, start: 0, stop: 0, end: Int32(nodes.count + 1), count: 0))
        case UInt8(ascii: "f"):
            try literal("false", &position, count: count)
            nodes.append(JSONNode(kind: .bool, flag: false, start: 0, stop: 0, end: Int32(nodes.count + 1), count: 0))
        case UInt8(ascii: "n"):
            try literal("null", &position, count: count)
            nodes.append(JSONNode(kind: .null, flag: false, start: 0, stop: 0, end: Int32(nodes.count + 1), count: 0))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = position
            position += 1
            while position < count {
                switch bytes[position] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                     UInt8(ascii: "+"), UInt8(ascii: "-"):
                    position += 1
                    continue
                default:
                    break
                }
                break
            }
            nodes.append(JSONNode(kind: .number, flag: false, start: Int32(start), stop: Int32(position), end: Int32(nodes.count + 1), count: 0))
        default:
            throw JSONDocument.corrupt("unexpected character at offset \(position)")
        }
    }

    /// After a member or an element: true after a comma, false after the container's `closer`.
    private func another(_ position: inout Int, count: Int, closer: UInt8) throws -> Bool {
        skipSpace(&position, count: count)
        guard position < count else { throw JSONDocument.corrupt("unexpected end of data") }
        let byte = bytes[position]
        position += 1
        if byte == UInt8(ascii: ",") { return true }
        guard byte == closer else { throw JSONDocument.corrupt("expected ',' or '\(Character(Unicode.Scalar(closer)))' at offset \(position - 1)") }
        return false
    }

    private func literal(_ word: StaticString, _ position: inout Int, count: Int) throws {
        let length = word.utf8CodeUnitCount
        guard position + length <= count else { throw JSONDocument.corrupt("unexpected end of data") }
        for index in 0..<length where bytes[position + index] != word.utf8Start[index] {
            throw JSONDocument.corrupt("unexpected character at offset \(position + index)")
        }
        position += length
    }

    private mutating func parseString(_ position: inout Int, count: Int) throws {
        position += 1
        let start = position
        var escaped = false
        while position < count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                nodes.append(JSONNode(kind: .string, flag: escaped, start: Int32(start), stop: Int32(position), end: Int32(nodes.count + 1), count: 0))
                position += 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            guard byte >= 0x20 else { throw JSONDocument.corrupt("a control character in a string at offset \(position)") }
            position += 1
        }
        throw JSONDocument.corrupt("unterminated string")
    }
}
