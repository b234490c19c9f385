@testable import EventLog
import Foundation
import Testing

/// The log's own JSON coder must write exactly Foundation's bytes (sorted keys, unescaped
/// slashes, the log's timestamps) and read back what either wrote.
@Suite("Event JSON")
struct EventJSONTests {
    enum Choice: Codable, Equatable {
        case one(String)
        case two(a: Int, b: [String])
        case three
    }

    enum Colour: String, Codable { case red, green }

    struct Inner: Codable, Equatable {
        var name: String
        var count: Int64?
        var colour: Colour
    }

    struct Sample: Codable, Equatable {
        var zeta: String
        var alpha: Int
        var middle: [Inner]
        var optional: String?
        var nothing: Int?
        var date: Date
        var data: Data
        var doubles: [Double]
        var map: [String: Int]
        var choices: [Choice]
        var nested: [[Int?]]
        var url: URL
        var big: UInt64
        var negative: Int64
        var small: Int8
        var flag: Bool
        var uid: UInt32
        var empty: [String]
        var emptyMap: [String: String]
        var float: Float
    }

    static let awkward = "quote \" backslash \\ slash / tab \t newline \n return \r bell \u{07} unit \u{1F} é 😀 \u{2028} end"

    static func sample(_ text: String = awkward) -> Sample {
        Sample(
            zeta: text, alpha: -42,
            middle: [Inner(name: "b", count: 7, colour: .red), Inner(name: text, count: nil, colour: .green)],
            optional: "present", nothing: nil,
            date: Date(timeIntervalSince1970: 1_765_151_198.125), data: Data([0, 1, 2, 250, 255]),
            doubles: [0.1, 1.0, 100, -0.0, 1e-7, 1.5e300, 123_456_789.125, 5e-324, -2.5, 1e21, 0.3],
            map: ["zz": 1, "Aa": 2, "aa": 3, "a_b": 4, "a1": 5, "a10": 6, "a2": 7, "$sealed": 8, "": 9, "é": 10],
            choices: [.one("x"), .two(a: 3, b: ["p", "q"]), .three],
            nested: [[1, nil, 3], [], [nil]],
            url: URL(string: "https://example.test/path?q=1&r=a/b")!,
            big: UInt64.max, negative: Int64.min, small: -128, flag: true, uid: UInt32.max,
            empty: [], emptyMap: [:], float: 1.25
        )
    }

    @Test("writes Foundation's bytes for strings, numbers, dates, data, maps and enums")
    func sameBytes() throws {
        for text in [Self.awkward, "", "plain", String(repeating: "long ", count: 400), "\u{0}\u{1}\u{8}\u{C}"] {
            let value = Self.sample(text)
            let fast = try EventJSONEncoder.encode(value)
            let reference = Array(try EventCoding.encoder().encode(value))
            #expect(String(decoding: fast, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
        }
    }

    @Test("top-level values that are not objects")
    func topLevel() throws {
        #expect(try EventJSONEncoder.encode("a/b") == Array(try EventCoding.encoder().encode("a/b")))
        #expect(try EventJSONEncoder.encode([3, 1, 2]) == Array(try EventCoding.encoder().encode([3, 1, 2])))
        #expect(try EventJSONEncoder.encode(Optional<Int>.none) == Array(try EventCoding.encoder().encode(Optional<Int>.none)))
        #expect(try EventJSONEncoder.encode(12.5) == Array(try EventCoding.encoder().encode(12.5)))
    }

    /// Two containers written to by turns: the streaming encoder cannot do it, says so, and the
    /// log's entry point gives Foundation's bytes.
    struct Interleaved: Encodable {
        enum Keys: String, CodingKey { case first, second, value }
        func encode(to encoder: any Encoder) throws {
            var outer = encoder.container(keyedBy: Keys.self)
            var first = outer.nestedContainer(keyedBy: Keys.self, forKey: .first)
            var second = outer.nestedContainer(keyedBy: Keys.self, forKey: .second)
            try first.encode(1, forKey: .value)
            try second.encode(2, forKey: .value)
            try first.encode(3, forKey: .second)
        }
    }

    @Test("a shape it cannot stream falls back to Foundation")
    func fallback() throws {
        #expect(throws: EventJSONEncoder.Unsupported.self) { try EventJSONEncoder.encode(Interleaved()) }
        #expect(try EventCoding.encode(Interleaved()) == Array(try EventCoding.encoder().encode(Interleaved())))
    }

    /// Nested containers used one after the other, as hand-written `encode(to:)` do.
    struct NestedInTurn: Encodable {
        enum Keys: String, CodingKey { case zed, alpha, list, value }
        func encode(to encoder: any Encoder) throws {
            var outer = encoder.container(keyedBy: Keys.self)
            var zed = outer.nestedContainer(keyedBy: Keys.self, forKey: .zed)
            try zed.encode("z", forKey: .value)
            var list = outer.nestedUnkeyedContainer(forKey: .list)
            try list.encode(1)
            var inner = list.nestedContainer(keyedBy: Keys.self)
            try inner.encode(true, forKey: .value)
            try list.encode("after")
            try outer.encode(5, forKey: .alpha)
        }
    }

    @Test("nested containers opened one after another")
    func nestedInTurn() throws {
        #expect(try EventJSONEncoder.encode(NestedInTurn()) == Array(try EventCoding.encoder().encode(NestedInTurn())))
    }

    @Test("reads back what Foundation wrote, and the same with spaces as jsonb prints it")
    func readsBack() throws {
        let value = Self.sample()
        let json = Array(try EventCoding.encoder().encode(value))
        #expect(try EventJSONDecoder.decode(Sample.self, from: json) == value)
        let spaced = #"{ "name" : "a\/b\u00e9\ud83d\ude00" , "colour": "red", "count": 1e3, "ignored": [1, {"x": null}] }"#
        let inner = try EventJSONDecoder.decode(Inner.self, from: Array(spaced.utf8))
        #expect(inner == Inner(name: "a/bé😀", count: 1000, colour: .red))
        let escapedKey = #"{"n\u0061me":"k","colour":"green"}"#
        #expect(try EventJSONDecoder.decode(Inner.self, from: Array(escapedKey.utf8)) == Inner(name: "k", count: nil, colour: .green))
    }

    @Test("refuses what is not JSON or not the type, without crashing", arguments: [
        "", "{", "{\"name\":}", "{\"name\":\"a\",}", "[1,2", "{\"name\":\"a\"} x", "{\"name\":\"\u{1}\"}", "\"\\ud800\"",
        "{\"name\":5,\"colour\":\"red\"}", "{\"name\":\"a\",\"colour\":\"blue\"}", "{\"colour\":\"red\"}",
        "{\"name\":\"a\",\"colour\":\"red\",\"count\":1.5}", "{\"name\":\"a\",\"colour\":\"red\",\"count\":99999999999999999999}",
        "{\"name\":\"a\",\"colour\":\"red\",\"count\":\"1\"}", "nul", "-", "{\"name\":\"\\x\"}",
    ])
    func refuses(_ text: String) {
        #expect(throws: (any Error).self) { try EventJSONDecoder.decode(Inner.self, from: Array(text.utf8)) }
    }

    @Test("deep nesting is an error, not a crash")
    func deep() {
        let text = String(repeating: "[", count: 2_000) + String(repeating: "]", count: 2_000)
        #expect(throws: (any Error).self) { try EventJSONDecoder.decode([Int].self, from: Array(text.utf8)) }
    }

    @Test("the log's entry points round-trip")
    func entryPoints() throws {
        let value = Self.sample()
        #expect(try EventCoding.decode(Sample.self, from: try EventCoding.encode(value)) == value)
    }
}
