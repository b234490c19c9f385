import MailCore

/// A type the log's coder writes and reads without going through `Codable`: the few that make
/// up most of the bytes of the hot events (a stored message's summary: its envelope and its
/// body structure, part by part). Swift's generic `Codable` machinery, not the JSON, was most of
/// their cost.
///
/// Both directions must agree with the type's `Codable` conformance, which stays the reference:
/// `writeJSON` writes exactly the bytes Foundation's encoder writes with sorted keys (debug
/// builds compare every event's encoding with Foundation's), and `init(json:at:)` reads what
/// `init(from:)` reads. It may throw on anything unusual (an escaped key, a missing member):
/// `EventCoding.decode` then reads the document again with Foundation, so a document it refuses
/// costs time and never a different value.
protocol DirectJSONCodable: Codable {
    func writeJSON(to sink: JSONSink)
    init(json document: JSONDocument, at index: Int) throws
}

/// Writes one object's members, which the caller gives in the order of their keys' bytes.
struct JSONObjectWriter {
    let sink: JSONSink
    private var empty = true

    init(_ sink: JSONSink) {
        self.sink = sink
        sink.bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: StaticString) {
        if !empty { sink.bytes.append(UInt8(ascii: ",")) }
        empty = false
        sink.bytes.append(UInt8(ascii: "\""))
        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        sink.bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        sink.writeString(value)
    }

    /// An optional member is left out when nil, as `encodeIfPresent` does.
    mutating func member(_ name: StaticString, _ value: String?) {
        if let value { member(name, value) }
    }

    mutating func member(_ name: StaticString, _ value: Int) {
        key(name)
        sink.writeInteger(value)
    }

    mutating func member(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(name)
        sink.writeInteger(value)
    }

    mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        sink.writeBool(value)
    }

    mutating func member(_ name: StaticString, _ values: [String]) {
        key(name)
        Self.writeArray(values, to: sink)
    }

    mutating func member(_ name: StaticString, _ values: [[String]]) {
        key(name)
        sink.bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { sink.bytes.append(UInt8(ascii: ",")) }
            Self.writeArray(value, to: sink)
        }
        sink.bytes.append(UInt8(ascii: "]"))
    }

    mutating func member<T: DirectJSONCodable>(_ name: StaticString, _ value: T?) {
        guard let value else { return }
        key(name)
        value.writeJSON(to: sink)
    }

    mutating func member<T: DirectJSONCodable>(_ name: StaticString, _ values: [T]) {
        key(name)
        sink.bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { sink.bytes.append(UInt8(ascii: ",")) }
            value.writeJSON(to: sink)
        }
        sink.bytes.append(UInt8(ascii: "]"))
    }

    func close() {
        sink.bytes.append(UInt8(ascii: "}"))
    }

    private static func writeArray(_ values: [String], to sink: JSONSink) {
        sink.bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { sink.bytes.append(UInt8(ascii: ",")) }
            sink.writeString(value)
        }
        sink.bytes.append(UInt8(ascii: "]"))
    }
}

/// Reads one object's members by key, with the rules of synthesized `init(from:)`: a required
/// member must be there and not null, an optional one may be absent or null, unknown keys are
/// passed over.
struct JSONObjectReader {
    let document: JSONDocument
    let index: Int

    struct Refused: Error {}

    init(_ document: JSONDocument, at index: Int) throws {
        guard document.nodes[index].kind == .object else { throw Refused() }
        self.document = document
        self.index = index
    }

    private func value(_ key: String) throws -> Int {
        guard let value = present(key) else { throw Refused() }
        return value
    }

    private func present(_ key: String) -> Int? {
        guard let value = document.member(key, in: index), document.nodes[value].kind != .null else { return nil }
        return value
    }

    func string(_ key: String) throws -> String {
        try document.string(at: value(key), path: [])
    }

    func optionalString(_ key: String) throws -> String? {
        try present(key).map { try document.string(at: $0, path: []) }
    }

    func int(_ key: String) throws -> Int {
        try document.integer(Int.self, at: value(key), path: [])
    }

    func optionalInt64(_ key: String) throws -> Int64? {
        try present(key).map { try document.integer(Int64.self, at: $0, path: []) }
    }

    func bool(_ key: String) throws -> Bool {
        try document.bool(at: value(key), path: [])
    }

    func strings(_ key: String) throws -> [String] {
        try Self.strings(document, at: value(key))
    }

    func stringLists(_ key: String) throws -> [[String]] {
        try Self.elements(document, at: value(key)).map { try Self.strings(document, at: $0) }
    }

    func object<T: DirectJSONCodable>(_ key: String, as type: T.Type) throws -> T {
        try T(json: document, at: value(key))
    }

    func optionalObject<T: DirectJSONCodable>(_ key: String, as type: T.Type) throws -> T? {
        try present(key).map { try T(json: document, at: $0) }
    }

    func objects<T: DirectJSONCodable>(_ key: String, as type: T.Type) throws -> [T] {
        try Self.elements(document, at: value(key)).map { try T(json: document, at: $0) }
    }

    /// The node indices of an array's elements.
    private static func elements(_ document: JSONDocument, at array: Int) throws -> [Int] {
        let node = document.nodes[array]
        guard node.kind == .array else { throw Refused() }
        var indices: [Int] = []
        indices.reserveCapacity(Int(node.count))
        var element = array + 1
        while element < Int(node.end) {
            indices.append(element)
            element = Int(document.nodes[element].end)
        }
        return indices
    }

    private static func strings(_ document: JSONDocument, at array: Int) throws -> [String] {
        try elements(document, at: array).map { try document.string(at: $0, path: []) }
    }
}

// The members in each `writeJSON` go in the order of their keys' bytes; each type's list of keys
// is its stored properties' names, as its synthesized `Codable` conformance has them.

extension MessageAddress: DirectJSONCodable {
    func writeJSON(to sink: JSONSink) {
        var object = JSONObjectWriter(sink)
        object.member("host", host)
        object.member("mailbox", mailbox)
        object.member("name", name)
        object.member("route", route)
        object.close()
    }

    init(json document: JSONDocument, at index: Int) throws {
        let object = try JSONObjectReader(document, at: index)
        self.init(name: try object.optionalString("name"), route: try object.optionalString("route"),
                  mailbox: try object.optionalString("mailbox"), host: try object.optionalString("host"))
    }
}

extension Envelope: DirectJSONCodable {
    func writeJSON(to sink: JSONSink) {
        var object = JSONObjectWriter(sink)
        object.member("bcc", bcc)
        object.member("cc", cc)
        object.member("date", date)
        object.member("from", from)
        object.member("inReplyTo", inReplyTo)
        object.member("messageID", messageID)
        object.member("replyTo", replyTo)
        object.member("sender", sender)
        object.member("subject", subject)
        object.member("to", to)
        object.close()
    }

    init(json document: JSONDocument, at index: Int) throws {
        let object = try JSONObjectReader(document, at: index)
        self.init(date: try object.optionalString("date"), subject: try object.optionalString("subject"),
                  from: try object.objects("from", as: MessageAddress.self),
                  sender: try object.objects("sender", as: MessageAddress.self),
                  replyTo: try object.objects("replyTo", as: MessageAddress.self),
                  to: try object.objects("to", as: MessageAddress.self), cc: try object.objects("cc", as: MessageAddress.self),
                  bcc: try object.objects("bcc", as: MessageAddress.self), inReplyTo: try object.optionalString("inReplyTo"),
                  messageID: try object.optionalString("messageID"))
    }
}

extension BodyPart: DirectJSONCodable {
    func writeJSON(to sink: JSONSink) {
        var object = JSONObjectWriter(sink)
        object.member("bodyOffset", bodyOffset)
        object.member("bodySize", bodySize)
        object.member("description", description)
        object.member("disposition", disposition)
        object.member("dispositionParameters", dispositionParameters)
        object.member("encoding", encoding)
        object.member("envelope", envelope)
        object.member("headerOffset", headerOffset)
        object.member("id", id)
        object.member("language", language)
        object.member("lines", lines)
        object.member("location", location)
        object.member("md5", md5)
        object.member("parameters", parameters)
        object.member("parts", parts)
        object.member("subtype", subtype)
        object.member("type", type)
        object.close()
    }

    init(json document: JSONDocument, at index: Int) throws {
        let object = try JSONObjectReader(document, at: index)
        self.init(type: try object.string("type"), subtype: try object.string("subtype"),
                  parameters: try object.stringLists("parameters"), id: try object.optionalString("id"),
                  description: try object.optionalString("description"), encoding: try object.string("encoding"),
                  md5: try object.optionalString("md5"), disposition: try object.optionalString("disposition"),
                  dispositionParameters: try object.stringLists("dispositionParameters"),
                  language: try object.strings("language"), location: try object.optionalString("location"),
                  headerOffset: try object.int("headerOffset"), bodyOffset: try object.int("bodyOffset"),
                  bodySize: try object.int("bodySize"), lines: try object.int("lines"),
                  parts: try object.objects("parts", as: BodyPart.self),
                  envelope: try object.optionalObject("envelope", as: Envelope.self))
    }
}

extension MessageSummary: DirectJSONCodable {
    func writeJSON(to sink: JSONSink) {
        var object = JSONObjectWriter(sink)
        object.member("body", body)
        object.member("envelope", envelope)
        object.member("headerSize", headerSize)
        object.member("preview", preview)
        object.member("sentDate", sentDate)
        object.member("size", size)
        object.member("subjectText", subjectText)
        object.member("threadRoot", threadRoot)
        object.member("truncated", truncated)
        object.close()
    }

    init(json document: JSONDocument, at index: Int) throws {
        let object = try JSONObjectReader(document, at: index)
        self.init(envelope: try object.object("envelope", as: Envelope.self), body: try object.object("body", as: BodyPart.self),
                  headerSize: try object.int("headerSize"), size: try object.int("size"),
                  subjectText: try object.optionalString("subjectText"), sentDate: try object.optionalInt64("sentDate"),
                  truncated: try object.bool("truncated"))
        preview = try object.optionalString("preview")
        threadRoot = try object.optionalString("threadRoot")
    }
}
