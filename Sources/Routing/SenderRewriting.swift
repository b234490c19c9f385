import Crypto
import Foundation

/// The Sender Rewriting Scheme for mail this server forwards to another domain: the envelope
/// sender becomes an address of ours, so the destination's SPF check passes against our own
/// domain, and a bounce sent to it comes back here and goes on to the original sender.
///
///     SRS0=HHHH=TT=domain.example=local@forwarder.example
///
/// `TT` is the day (days since 1970 modulo 1024, two base32 characters), `HHHH` the first four
/// base64 characters of HMAC-SHA256 over `TT`, the domain and the local part (lower-cased), with
/// a key only this server has; an address older than `maximumAge` days, or whose hash does not
/// match, is refused. Pure: the key and the day are given.
public struct SenderRewriting: Sendable {
    let key: SymmetricKey
    /// Our domain, on the right of every rewritten address.
    public let domain: String
    public static let maximumAge = 21
    static let base32 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    public init(key: SymmetricKey, domain: String) {
        self.key = key
        self.domain = domain
    }

    /// The rewritten sender for a message forwarded on `day` (days since 1970); the sender as
    /// it is when it is empty (a bounce), already ours, or would not fit in a local part.
    public func forward(_ sender: String, day: Int) -> String {
        guard let at = sender.lastIndex(of: "@") else { return sender }
        let local = String(sender[..<at]), senderDomain = String(sender[sender.index(after: at)...])
        guard !local.isEmpty, !senderDomain.isEmpty, senderDomain.lowercased() != domain.lowercased() else { return sender }
        let stamp = Self.stamp(day)
        let rewritten = "SRS0=\(hash(stamp: stamp, domain: senderDomain, local: local))=\(stamp)=\(senderDomain)=\(local)"
        guard rewritten.utf8.count <= 64 else { return sender }
        return "\(rewritten)@\(domain)"
    }

    /// The original sender behind a local part of ours, when it is a valid SRS0 address not
    /// older than `maximumAge` days on `day`.
    public func reverse(_ localPart: String, day: Int) -> String? {
        let fields = localPart.split(separator: "=", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].uppercased() == "SRS0", fields[2].count == 2 else { return nil }
        let hash = String(fields[1]), stamp = String(fields[2]).uppercased(), senderDomain = String(fields[3]), local = String(fields[4])
        guard !senderDomain.isEmpty, !local.isEmpty, let stamped = Self.day(of: stamp) else { return nil }
        let age = ((day % 1024) - stamped + 1024) % 1024
        guard age <= Self.maximumAge else { return nil }
        // Case-insensitive comparison: some servers lower-case local parts on the way back.
        guard hash.lowercased() == self.hash(stamp: stamp, domain: senderDomain, local: local).lowercased() else { return nil }
        return "\(local)@\(senderDomain)"
    }

    func hash(stamp: String, domain: String, local: String) -> String {
        let input = Array((stamp + domain + local).lowercased().utf8)
        let code = HMAC<SHA256>.authenticationCode(for: input, using: key)
        return String(Data(code).base64EncodedString().prefix(4))
    }

    static func stamp(_ day: Int) -> String {
        let value = ((day % 1024) + 1024) % 1024
        return String([base32[value >> 5], base32[value & 31]])
    }

    static func day(of stamp: String) -> Int? {
        let characters = Array(stamp)
        guard characters.count == 2, let high = base32.firstIndex(of: characters[0]),
              let low = base32.firstIndex(of: characters[1]) else { return nil }
        return high << 5 | low
    }

    /// Days since 1970 of `date`.
    public static func day(_ date: Date) -> Int { Int(date.timeIntervalSince1970 / 86_400) }
}
