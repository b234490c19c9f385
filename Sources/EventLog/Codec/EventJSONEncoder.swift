import Foundation

/// Writes an `Encodable` value as the bytes `EventCoding.encoder()` (Foundation's `JSONEncoder`
/// with sorted keys, unescaped slashes and the log's timestamps) would write, without building
/// a tree of values first: every value goes straight into one buffer, and an object whose keys
/// arrived out of order has its members moved into order when it closes.
///
/// It covers what events use. A shape it cannot stream (a `superEncoder`, a key written twice,
/// a container reopened after its parent moved on, `Decimal`) throws `Unsupported`, and
/// `EventCoding.encode` then hands the value to Foundation, so the bytes are the same either way.
struct EventJSONEncoder {
    struct Unsupported: Error {
        var reason: String
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let sink = JSONSink()
        try sink.write(value, parent: nil, key: nil)
        sink.closeAll()
        if let reason = sink.failure { throw Unsupported(reason: reason) }
        return sink.bytes
    }
}

/// One object or array still open in the buffer.
final class JSONFrame {
    enum Kind { case object, array }

    struct Member {
        var key: String
        /// `"key":value`, without the comma before it.
        var range: Range<Int>
    }

    let kind: Kind
    /// Where its `{` or `[` is.
    let start: Int
    /// Elements written, for an array (an object counts its `members`).
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var members: [Member] = []
    var inOrder = true
    var closed = false
    /// The member of the frame around it that this frame is the value of, to end it on close.
    weak var parent: JSONFrame?
    var parentMember = -1

    init(kind: Kind, start: Int) {
        self.kind = kind
        self.start = start
    }
}

final class JSONSink {
    // One sink serves one value's encoding on one thread, and no access to these overlaps
    // another: the run-time exclusivity checks would cost a tenth of the encoding.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    @exclusivity(unchecked) var stack: [JSONFrame] = []
    var failure: String?

    init() { bytes.reserveCapacity(512) }

    func fail(_ reason: String) {
        if failure == nil { failure = reason }
    }

    // MARK: Frames

    func open(_ kind: JSONFrame.Kind) -> JSONFrame {
        let frame = JSONFrame(kind: kind, start: bytes.count)
        bytes.append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        stack.append(frame)
        return frame
    }

    /// Makes `frame` the innermost open one, closing those opened inside it since; false when it
    /// was closed already (a container used after its encoder moved on).
    func enter(_ frame: JSONFrame) -> Bool {
        if frame.closed {
            fail("a container was written to after it ended")
            return false
        }
        while let last = stack.last, last !== frame { close(last) }
        return stack.last === frame
    }

    /// Closes `frame` and every frame opened inside it.
    func close(upTo frame: JSONFrame) {
        guard !frame.closed else { return }
        while let last = stack.last {
            close(last)
            if last === frame { return }
        }
    }

    func closeAll() {
        while let last = stack.last { close(last) }
    }

    private func close(_ frame: JSONFrame) {
        stack.removeLast()
        frame.closed = true
        switch frame.kind {
        case .array:
            bytes.append(UInt8(ascii: "]"))
        case .object:
            if !frame.inOrder { sortMembers(of: frame) }
            bytes.append(UInt8(ascii: "}"))
        }
        if let parent = frame.parent, frame.parentMember >= 0 {
            parent.members[frame.parentMember].range = parent.members[frame.parentMember].range.lowerBound ..< bytes.count
        }
    }

    /// Rewrites an object's members in the order of their keys' UTF-8 bytes, as Foundation's
    /// sorted keys do; the object's length does not change.
    private func sortMembers(of frame: JSONFrame) {
        let base = frame.start + 1
        let region = Array(bytes[base..<bytes.count])
        let order = frame.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        var position = base
        for (index, member) in order.enumerated() {
            if index > 0 {
                bytes[position] = UInt8(ascii: ",")
                position += 1
            }
            let from = member.range.lowerBound - base, to = member.range.upperBound - base
            bytes.replaceSubrange(position ..< position + (to - from), with: region[from..<to])
            position += to - from
        }
    }

    // MARK: Members

    /// Starts a member of `frame` named `key` (the comma before it, the key and the colon) and
    /// returns its index, or nil when the frame cannot take it.
    func beginMember(_ key: String, of frame: JSONFrame) -> Int? {
        guard enter(frame) else { return nil }
        if let last = frame.members.last {
            if !last.key.utf8.lexicographicallyPrecedes(key.utf8) {
                if last.key == key || frame.members.contains(where: { $0.key == key }) {
                    fail("the key \(key) was written twice")
                    return nil
                }
                frame.inOrder = false
            }
            bytes.append(UInt8(ascii: ","))
        }
        let start = bytes.count
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        frame.members.append(JSONFrame.Member(key: key, range: start ..< start))
        return frame.members.count - 1
    }

    func endMember(_ index: Int, of frame: JSONFrame) {
        frame.members[index].range = frame.members[index].range.lowerBound ..< bytes.count
    }

    /// Starts an element of an array frame (the comma before it).
    func beginElement(of frame: JSONFrame) -> Bool {
        guard enter(frame) else { return false }
        if frame.count > 0 { bytes.append(UInt8(ascii: ",")) }
        frame.count += 1
        return true
    }

    // MARK: Values

    func write<T: Encodable>(_ value: T, parent: JSONStreamEncoder?, key: (any CodingKey)?) throws {
        if writePrimitive(value) { return }
        if T.self == Date.self {
            writeString(EventCoding.formatTimestamp(unsafeBitCast(value, to: Date.self)))
            return
        }
        if T.self == Data.self {
            writeString(unsafeBitCast(value, to: Data.self).base64EncodedString())
            return
        }
        if T.self == URL.self {
            writeString(unsafeBitCast(value, to: URL.self).absoluteString)
            return
        }
        if T.self == Decimal.self {
            fail("Decimal")
            return
        }
        if let direct = value as? any DirectJSONCodable {
            direct.writeJSON(to: self)
            return
        }
        let encoder = JSONStreamEncoder(sink: self, parent: parent, key: key)
        try value.encode(to: encoder)
        encoder.finish()
    }

    /// Writes strings, booleans and numbers; false for any other type.
    @inline(__always)
    func writePrimitive<T>(_ value: T) -> Bool {
        if T.self == String.self { writeString(unsafeBitCast(value, to: String.self)); return true }
        if T.self == Int.self { writeInteger(unsafeBitCast(value, to: Int.self)); return true }
        if T.self == Int64.self { writeInteger(unsafeBitCast(value, to: Int64.self)); return true }
        if T.self == Bool.self { writeBool(unsafeBitCast(value, to: Bool.self)); return true }
        if T.self == UInt32.self { writeInteger(unsafeBitCast(value, to: UInt32.self)); return true }
        if T.self == Int32.self { writeInteger(unsafeBitCast(value, to: Int32.self)); return true }
        if T.self == Double.self { writeDouble(unsafeBitCast(value, to: Double.self)); return true }
        if T.self == UInt64.self { writeInteger(unsafeBitCast(value, to: UInt64.self)); return true }
        if T.self == UInt8.self { writeInteger(unsafeBitCast(value, to: UInt8.self)); return true }
        if T.self == Int16.self { writeInteger(unsafeBitCast(value, to: Int16.self)); return true }
        if T.self == UInt16.self { writeInteger(unsafeBitCast(value, to: UInt16.self)); return true }
        if T.self == Int8.self { writeInteger(unsafeBitCast(value, to: Int8.self)); return true }
        if T.self == UInt.self { writeInteger(unsafeBitCast(value, to: UInt.self)); return true }
        if T.self == Float.self { writeFloat(unsafeBitCast(value, to: Float.self)); return true }
        return false
    }

    func writeNull() {
        bytes.append(contentsOf: "null".utf8)
    }

    func writeBool(_ value: Bool) {
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    func writeInteger<I: FixedWidthInteger>(_ value: I) {
        if value >= 0 && value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value))
            return
        }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "-")
            }
            bytes.append(contentsOf: buffer[index...])
        }
    }

    func writeDouble(_ value: Double) { writeFloatingPoint(value) }

    func writeFloat(_ value: Float) { writeFloatingPoint(value) }

    /// Swift's shortest exact description, without a trailing `.0`, as Foundation writes it.
    private func writeFloatingPoint<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F) {
        guard value.isFinite else {
            fail("a number that is not finite")
            return
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\b \f \n \r \t` or `\u00xx`,
    /// everything else (slashes, non-ASCII) as its UTF-8 bytes.
    func writeString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var copy = value
        copy.withUTF8 { utf8 in
            var mark = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if index > mark { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[mark..<index])) }
                mark = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
                }
            }
            if utf8.count > mark { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[mark...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// The `Encoder` one value writes itself with: its container goes into the shared sink.
final class JSONStreamEncoder: Encoder {
    let sink: JSONSink
    /// The encoder of the value around this one and this one's key in it: the coding path,
    /// worked out only when asked for.
    let parent: JSONStreamEncoder?
    let key: (any CodingKey)?
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private var frame: JSONFrame?
    private var wroteSingle = false

    init(sink: JSONSink, parent: JSONStreamEncoder?, key: (any CodingKey)?) {
        self.sink = sink
        self.parent = parent
        self.key = key
    }

    var codingPath: [any CodingKey] {
        var path = parent?.codingPath ?? []
        if let key { path.append(key) }
        return path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if let frame, frame.kind == .object {
            return KeyedEncodingContainer(JSONKeyedEncoding<Key>(sink: sink, frame: frame, encoder: self))
        }
        if frame != nil || wroteSingle { sink.fail("a second container for one value") }
        let opened = sink.open(.object)
        frame = opened
        return KeyedEncodingContainer(JSONKeyedEncoding<Key>(sink: sink, frame: opened, encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if frame != nil || wroteSingle { sink.fail("a second container for one value") }
        let opened = sink.open(.array)
        frame = opened
        return JSONUnkeyedEncoding(sink: sink, frame: opened, encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        if frame != nil { sink.fail("a second container for one value") }
        return JSONSingleValueEncoding(encoder: self)
    }

    /// Called once the value's `encode(to:)` has returned.
    func finish() {
        if let frame {
            sink.close(upTo: frame)
        } else if !wroteSingle {
            sink.fail("a value that encoded nothing")
        }
    }

    func claimSingle() -> Bool {
        if wroteSingle || frame != nil {
            sink.fail("a single value written twice")
            return false
        }
        wroteSingle = true
        return true
    }
}

struct JSONKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: JSONSink
    let frame: JSONFrame
    let encoder: JSONStreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func member(_ key: Key, _ write: () throws -> Void) rethrows {
        guard let index = sink.beginMember(key.stringValue, of: frame) else { return }
        try write()
        sink.endMember(index, of: frame)
    }

    mutating func encodeNil(forKey key: Key) throws { member(key) { sink.writeNull() } }
    mutating func encode(_ value: Bool, forKey key: Key) throws { member(key) { sink.writeBool(value) } }
    mutating func encode(_ value: String, forKey key: Key) throws { member(key) { sink.writeString(value) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { member(key) { sink.writeDouble(value) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { member(key) { sink.writeFloat(value) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { member(key) { sink.writeInteger(value) } }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try member(key) { try sink.write(value, parent: encoder, key: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let index = sink.beginMember(key.stringValue, of: frame) ?? -1
        let nested = sink.open(.object)
        nested.parent = frame
        nested.parentMember = index
        return KeyedEncodingContainer(JSONKeyedEncoding<NestedKey>(sink: sink, frame: nested,
                                                                   encoder: JSONStreamEncoder(sink: sink, parent: encoder, key: key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let index = sink.beginMember(key.stringValue, of: frame) ?? -1
        let nested = sink.open(.array)
        nested.parent = frame
        nested.parentMember = index
        return JSONUnkeyedEncoding(sink: sink, frame: nested, encoder: JSONStreamEncoder(sink: sink, parent: encoder, key: key))
    }

    mutating func superEncoder() -> any Encoder {
        sink.fail("superEncoder")
        return JSONStreamEncoder(sink: JSONSink(), parent: nil, key: nil)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        sink.fail("superEncoder")
        return JSONStreamEncoder(sink: JSONSink(), parent: nil, key: nil)
    }
}

struct JSONUnkeyedEncoding: UnkeyedEncodingContainer {
    let sink: JSONSink
    let frame: JSONFrame
    let encoder: JSONStreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { frame.count }

    private func element(_ write: () throws -> Void) rethrows {
        guard sink.beginElement(of: frame) else { return }
        try write()
    }

    mutating func encodeNil() throws { element { sink.writeNull() } }
    mutating func encode(_ value: Bool) throws { element { sink.writeBool(value) } }
    mutating func encode(_ value: String) throws { element { sink.writeString(value) } }
    mutating func encode(_ value: Double) throws { element { sink.writeDouble(value) } }
    mutating func encode(_ value: Float) throws { element { sink.writeFloat(value) } }
    mutating func encode(_ value: Int) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: Int8) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: Int16) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: Int32) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: Int64) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt8) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt16) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt32) throws { element { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt64) throws { element { sink.writeInteger(value) } }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = frame.count
        try element { try sink.write(value, parent: encoder, key: JSONIndexKey(index)) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let index = frame.count
        _ = sink.beginElement(of: frame)
        let nested = sink.open(.object)
        return KeyedEncodingContainer(JSONKeyedEncoding<NestedKey>(sink: sink, frame: nested,
                                                                   encoder: JSONStreamEncoder(sink: sink, parent: encoder, key: JSONIndexKey(index))))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = frame.count
        _ = sink.beginElement(of: frame)
        let nested = sink.open(.array)
        return JSONUnkeyedEncoding(sink: sink, frame: nested, encoder: JSONStreamEncoder(sink: sink, parent: encoder, key: JSONIndexKey(index)))
    }

    mutating func superEncoder() -> any Encoder {
        sink.fail("superEncoder")
        return JSONStreamEncoder(sink: JSONSink(), parent: nil, key: nil)
    }
}

struct JSONSingleValueEncoding: SingleValueEncodingContainer {
    let encoder: JSONStreamEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    private var sink: JSONSink { encoder.sink }

    private func single(_ write: () throws -> Void) rethrows {
        guard encoder.claimSingle() else { return }
        try write()
    }

    mutating func encodeNil() throws { single { sink.writeNull() } }
    mutating func encode(_ value: Bool) throws { single { sink.writeBool(value) } }
    mutating func encode(_ value: String) throws { single { sink.writeString(value) } }
    mutating func encode(_ value: Double) throws { single { sink.writeDouble(value) } }
    mutating func encode(_ value: Float) throws { single { sink.writeFloat(value) } }
    mutating func encode(_ value: Int) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: Int8) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: Int16) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: Int32) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: Int64) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt8) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt16) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt32) throws { single { sink.writeInteger(value) } }
    mutating func encode(_ value: UInt64) throws { single { sink.writeInteger(value) } }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try single { try sink.write(value, parent: encoder.parent, key: encoder.key) }
    }
}

/// The coding key of an array element, for coding paths.
struct JSONIndexKey: CodingKey {
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
    let index: Int

    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { index = intValue }
}
