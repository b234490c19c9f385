import Crypto
import DNS
import Foundation
import MailCore
import X509

/// DANE for one MX host (RFC 7672): its TLSA records, validated with DNSSEC, that a server's
/// certificate chain must meet. Only DANE-TA(2) and DANE-EE(3) records count in SMTP (§3.1.3).
struct DANEPolicy: Sendable, Hashable {
    /// The usable records.
    let records: [DNSRecordData.TLSA]
    /// The names a certificate under a DANE-TA record must carry (§3.2.2): the MX host's.
    let names: [String]

    private init(records: [DNSRecordData.TLSA], names: [String]) {
        self.records = records
        self.names = names
    }

    /// The key every DANE connection's TLS context is kept under.
    static let any = DANEPolicy(records: [], names: [])

    /// Nil when no record of `records` is usable: the host is then sent to as without DANE.
    init?(records: [DNSRecordData.TLSA], host: String) {
        let usable = records.filter { record in
            (record.usage == 2 || record.usage == 3) && record.selector <= 1 && record.matchingType <= 2
                && (record.matchingType != 1 || record.data.count == 32) && (record.matchingType != 2 || record.data.count == 64)
        }
        guard !usable.isEmpty else { return nil }
        self.records = usable
        self.names = [host]
    }

    /// A certificate as the records look at it: whole (selector 0) or its public key (1).
    struct Presented: Sendable {
        var der: [UInt8]
        var spki: [UInt8]
    }

    /// Whether `record` names `certificate`.
    static func matches(_ record: DNSRecordData.TLSA, _ certificate: Presented) -> Bool {
        let selected = record.selector == 0 ? certificate.der : certificate.spki
        switch record.matchingType {
        case 0: return selected == record.data
        case 1: return Array(SHA256.hash(data: selected)) == record.data
        case 2: return Array(SHA512.hash(data: selected)) == record.data
        default: return false
        }
    }

    /// Checks a server's chain (its certificate first). DANE-EE: the server's own certificate
    /// matches, whatever its names and dates (§3.1.1). DANE-TA: a certificate of the chain
    /// matches, and the server's certificate is valid under it for the host's name at `now`
    /// (§3.1.2, §3.2.2). Nil when met; why not otherwise.
    func check(_ chain: [Presented], now: Date) async -> String? {
        guard let leaf = chain.first else { return "the server presented no certificate" }
        if records.contains(where: { $0.usage == 3 && Self.matches($0, leaf) }) { return nil }
        let anchors = chain.filter { certificate in records.contains { $0.usage == 2 && Self.matches($0, certificate) } }
        guard !anchors.isEmpty else { return "no certificate of the server's chain matches its TLSA records" }
        do {
            let roots = try anchors.map { try Certificate(derEncoded: $0.der) }
            let intermediates = try chain.dropFirst().map { try Certificate(derEncoded: $0.der) }
            let certificate = try Certificate(derEncoded: leaf.der)
            for name in names {
                var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
                    RFC5280Policy(validationTime: now)
                    ServerIdentityPolicy(serverHostname: name, serverIP: nil)
                }
                if case .validCertificate = await verifier.validate(leaf: certificate, intermediates: CertificateStore(intermediates)) {
                    return nil
                }
            }
            return "the server's certificate is not valid for \(names.joined(separator: ", ")) under the trust anchor its TLSA records name"
        } catch {
            return "a certificate of the server's chain does not parse: \(error)"
        }
    }
}
