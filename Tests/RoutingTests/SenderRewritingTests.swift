import Crypto
import Foundation
import Routing
import Testing

/// SRS: forward and reverse, the day stamp's window, the hash, long and empty senders.
@Suite("Sender Rewriting Scheme")
struct SenderRewritingTests {
    let srs = SenderRewriting(key: SymmetricKey(data: Array(repeating: UInt8(7), count: 32)), domain: "example.com")

    @Test("a sender rewritten and reversed within 21 days, with any case; not after, nor with another key or a changed part")
    func roundTrip() throws {
        let day = 20_000
        let rewritten = srs.forward("Sender@Remote.example", day: day)
        #expect(rewritten.hasPrefix("SRS0=") && rewritten.hasSuffix("=Remote.example=Sender@example.com"), "\(rewritten)")
        let local = String(rewritten.split(separator: "@")[0])
        #expect(srs.reverse(local, day: day) == "Sender@Remote.example")
        #expect(srs.reverse(local.lowercased(), day: day + 21) == "sender@remote.example")
        #expect(srs.reverse(local, day: day + 22) == nil)
        #expect(srs.reverse(local, day: day - 1) == nil || day % 1024 == 0)
        let other = SenderRewriting(key: SymmetricKey(data: Array(repeating: UInt8(8), count: 32)), domain: "example.com")
        #expect(other.reverse(local, day: day) == nil)
        #expect(srs.reverse(local.replacingOccurrences(of: "=Sender", with: "=Other"), day: day) == nil)
        for bad in ["SRS0=", "SRS0=abcd=ZZ=remote.example=x", "SRS0=abcd=A=remote.example=x", "SRS1=abcd=AB=x=y", "SRS0===="] {
            #expect(srs.reverse(bad, day: day) == nil, "\(bad)")
        }
    }

    @Test("the day stamp wraps every 1024 days")
    func wrap() {
        let rewritten = srs.forward("a@b.example", day: 1023)
        #expect(srs.reverse(String(rewritten.split(separator: "@")[0]), day: 1024 + 5) == "a@b.example")
    }

    @Test("left alone: a bounce's empty sender, our own domain, a sender too long for a local part")
    func leftAlone() {
        #expect(srs.forward("", day: 1) == "")
        #expect(srs.forward("me@example.com", day: 1) == "me@example.com")
        let long = String(repeating: "x", count: 60) + "@remote.example"
        #expect(srs.forward(long, day: 1) == long)
    }
}
