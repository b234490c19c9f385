import Foundation

/// A DKIM signing key as the setting `dkim.keys` lists it: its domain and selector, its
/// algorithm, and the vault id of the private key (purpose `dkim-key`, subject
/// `dkim:<selector>._domainkey.<domain>`), sealed with the key outside the database. Mail
/// leaving with a From address in the domain (or a subdomain of it) is signed with every key of
/// the domain that is not retired.
public struct DKIMKeyEntry: Codable, Sendable, Equatable {
    public var domain: String
    public var selector: String
    /// `rsa-sha256` or `ed25519-sha256`.
    public var algorithm: String
    public var secret: UUID
    /// The record to publish at `<selector>._domainkey.<domain>`.
    public var record: String
    public var created: Date
    /// A retired key signs nothing; its record can be removed from DNS once mail signed with
    /// it has been delivered.
    public var retired: Bool

    public init(domain: String, selector: String, algorithm: String, secret: UUID, record: String, created: Date, retired: Bool = false) {
        self.domain = domain.lowercased()
        self.selector = selector.lowercased()
        self.algorithm = algorithm
        self.secret = secret
        self.record = record
        self.created = created
        self.retired = retired
    }

    public static let purpose = "dkim-key"
    public var subject: String { "dkim:\(selector)._domainkey.\(domain)" }

    /// Keys that sign mail from `domain`: the domain's own, else its nearest parent's.
    public static func signing(_ keys: [DKIMKeyEntry], for domain: String) -> [DKIMKeyEntry] {
        var name = domain.lowercased()
        while !name.isEmpty {
            let found = keys.filter { !$0.retired && $0.domain == name }
            if !found.isEmpty { return found }
            guard let dot = name.firstIndex(of: ".") else { break }
            name = String(name[name.index(after: dot)...])
            // Never a top-level domain's key.
            if !name.contains(".") { break }
        }
        return []
    }

    public static func problem(_ keys: [DKIMKeyEntry]) -> String? {
        for key in keys {
            if !["rsa-sha256", "ed25519-sha256"].contains(key.algorithm) { return "\(key.subject): unknown algorithm \(key.algorithm)" }
            let labels = (key.selector + "." + key.domain).split(separator: ".", omittingEmptySubsequences: false)
            if labels.contains(where: { $0.isEmpty || $0.utf8.count > 63 })
                || !key.selector.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }) {
                return "\(key.subject): not a selector and domain name"
            }
        }
        let names = keys.map(\.subject)
        if Set(names).count != names.count { return "two keys have the same selector and domain" }
        return nil
    }
}
