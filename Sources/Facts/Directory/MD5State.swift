import Foundation

/// MD5 (RFC 1321) with its chaining state exposed, for CRAM-MD5 secrets: the state after
/// hashing `key XOR ipad` and `key XOR opad` (RFC 2195 via RFC 2104) lets a server check a
/// CRAM-MD5 response without keeping the password, as Dovecot's CRAM-MD5 scheme does.
/// Not for anything else: MD5 is broken as a hash.
struct MD5State: Equatable {
    var a: UInt32 = 0x6745_2301
    var b: UInt32 = 0xefcd_ab89
    var c: UInt32 = 0x98ba_dcfe
    var d: UInt32 = 0x1032_5476

    private static let shifts: [UInt32] = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                           5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                           4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                           6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
    private static let constants: [UInt32] = (0..<64).map { UInt32(truncatingIfNeeded: Int64(abs(sin(Double($0 + 1))) * 4_294_967_296)) }

    /// Processes one 64-byte block.
    mutating func compress(_ block: ArraySlice<UInt8>) {
        precondition(block.count == 64)
        var words = [UInt32](repeating: 0, count: 16)
        let base = block.startIndex
        for index in 0..<16 {
            let offset = base + index * 4
            words[index] = UInt32(block[offset]) | UInt32(block[offset + 1]) << 8 | UInt32(block[offset + 2]) << 16
                | UInt32(block[offset + 3]) << 24
        }
        var (aa, bb, cc, dd) = (a, b, c, d)
        for round in 0..<64 {
            var f: UInt32
            var g: Int
            switch round {
            case 0..<16: f = (bb & cc) | (~bb & dd); g = round
            case 16..<32: f = (dd & bb) | (~dd & cc); g = (5 * round + 1) % 16
            case 32..<48: f = bb ^ cc ^ dd; g = (3 * round + 5) % 16
            default: f = cc ^ (bb | ~dd); g = (7 * round) % 16
            }
            f = f &+ aa &+ Self.constants[round] &+ words[g]
            aa = dd
            dd = cc
            cc = bb
            bb = bb &+ ((f << Self.shifts[round]) | (f >> (32 - Self.shifts[round])))
        }
        a = a &+ aa
        b = b &+ bb
        c = c &+ cc
        d = d &+ dd
    }

    /// Hashes `message` as the continuation of `prefixLength` bytes already compressed into this state.
    func finish(_ message: [UInt8], prefixLength: Int) -> [UInt8] {
        var state = self
        var data = message
        let bitLength = UInt64(prefixLength + message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for shift in stride(from: 0, to: 64, by: 8) { data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        for start in stride(from: 0, to: data.count, by: 64) { state.compress(data[start..<(start + 64)]) }
        return state.bytes
    }

    var bytes: [UInt8] {
        [a, b, c, d].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    }

    init() {}

    init?(bytes: ArraySlice<UInt8>) {
        guard bytes.count == 16 else { return nil }
        func word(_ index: Int) -> UInt32 {
            let offset = bytes.startIndex + index * 4
            return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                | UInt32(bytes[offset + 3]) << 24
        }
        (a, b, c, d) = (word(0), word(1), word(2), word(3))
    }
}

