import EventLog
import Testing

@Suite("zstd")
struct ZstdTests {
    @Test("round trip, with and without a dictionary", arguments: [0, 1, 100, 70_000])
    func roundTrip(size: Int) throws {
        let input = (0..<size).map { UInt8(truncatingIfNeeded: $0 % 251 * 7) }
        let compressed = try Zstd.compress(input, level: 3)
        #expect(try Zstd.decompress(compressed, limit: size) == input)

        let samples = (0..<200).map { Array(#"{"event":"delivery","attempt":\#($0),"host":"mx.example.net"}"#.utf8) }
        let dictionary = try ZstdDictionary(id: 1, bytes: try Zstd.trainDictionary(samples: samples, capacity: 4_096), level: 3)
        let withDictionary = try Zstd.compress(input, level: 3, dictionary: dictionary)
        #expect(try Zstd.decompress(withDictionary, dictionary: dictionary, limit: size) == input)
    }

    @Test("a frame declaring more than the limit is refused before decompressing")
    func limit() throws {
        let compressed = try Zstd.compress([UInt8](repeating: 0, count: 1 << 20), level: 3)
        #expect(throws: ZstdError.self) { try Zstd.decompress(compressed, limit: 1 << 19) }
    }

    @Test("garbage and truncated frames are errors, not crashes")
    func garbage() throws {
        #expect(throws: ZstdError.self) { try Zstd.decompress([1, 2, 3, 4, 5, 6, 7, 8], limit: 100) }
        let compressed = try Zstd.compress(Array("hello hello hello hello".utf8), level: 3)
        #expect(throws: ZstdError.self) { try Zstd.decompress(Array(compressed.dropLast(3)), limit: 100) }
        #expect(throws: ZstdError.self) { try Zstd.trainDictionary(samples: [[1]], capacity: 1_024) }
    }
}
