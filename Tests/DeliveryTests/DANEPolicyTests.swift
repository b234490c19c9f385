import Crypto
import Foundation
import MailCore
import SwiftASN1
import Testing
import X509
@testable import Delivery

/// RFC 7672's certificate checks, on chains made here: a CA and a server certificate under it.
@Suite("DANE: TLSA records against certificate chains")
struct DANEPolicyTests {
    struct Chain {
        let leaf: DANEPolicy.Presented
        let authority: DANEPolicy.Presented
    }

    static func presented(_ certificate: Certificate) throws -> DANEPolicy.Presented {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        var spki = DER.Serializer()
        try spki.serialize(certificate.publicKey)
        return .init(der: serializer.serializedBytes, spki: spki.serializedBytes)
    }

    /// A CA and a certificate for `names` it issued, valid from yesterday to tomorrow.
    static func chain(names: [String], now: Date = Date()) throws -> Chain {
        let caKey = P256.Signing.PrivateKey(), leafKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("Test CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-86_400), notValidAfter: now.addingTimeInterval(86_400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-86_400), notValidAfter: now.addingTimeInterval(86_400),
            issuer: caName, subject: try DistinguishedName { CommonName(names[0]) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames(names.map { .dnsName($0) })
            },
            issuerPrivateKey: .init(caKey))
        return Chain(leaf: try presented(leaf), authority: try presented(ca))
    }

    static func tlsa(_ usage: UInt8, _ selector: UInt8, _ matching: UInt8, _ certificate: DANEPolicy.Presented) -> DNSRecordData.TLSA {
        let selected = selector == 0 ? certificate.der : certificate.spki
        let data: [UInt8] = switch matching {
        case 1: Array(SHA256.hash(data: selected))
        case 2: Array(SHA512.hash(data: selected))
        default: selected
        }
        return .init(usage: usage, selector: selector, matchingType: matching, data: data)
    }

    @Test("only DANE-TA and DANE-EE records with known selectors and digests of the right length are usable")
    func usable() {
        let digest = [UInt8](repeating: 1, count: 32)
        #expect(DANEPolicy(records: [.init(usage: 1, selector: 1, matchingType: 1, data: digest)], host: "mx") == nil, "PKIX-EE")
        #expect(DANEPolicy(records: [.init(usage: 0, selector: 1, matchingType: 1, data: digest)], host: "mx") == nil, "PKIX-TA")
        #expect(DANEPolicy(records: [.init(usage: 3, selector: 2, matchingType: 1, data: digest)], host: "mx") == nil, "selector 2")
        #expect(DANEPolicy(records: [.init(usage: 3, selector: 1, matchingType: 1, data: [1, 2])], host: "mx") == nil, "short digest")
        #expect(DANEPolicy(records: [.init(usage: 3, selector: 1, matchingType: 2, data: digest)], host: "mx") == nil, "SHA-512 of 32")
        let policy = DANEPolicy(records: [.init(usage: 1, selector: 1, matchingType: 1, data: digest),
                                          .init(usage: 3, selector: 1, matchingType: 1, data: digest)], host: "mx")
        #expect(policy?.records.count == 1)
    }

    @Test("DANE-EE: the server's key or certificate, in any digest, whatever its name and dates")
    func endEntity() async throws {
        let chain = try Self.chain(names: ["mx.example.com"])
        for (selector, matching) in [(UInt8(1), UInt8(1)), (0, 1), (1, 2), (0, 0), (1, 0)] {
            let policy = try #require(DANEPolicy(records: [Self.tlsa(3, selector, matching, chain.leaf)], host: "other.example.net"))
            #expect(await policy.check([chain.leaf], now: Date()) == nil, "3 \(selector) \(matching)")
            #expect(await policy.check([chain.leaf], now: Date().addingTimeInterval(10 * 86_400)) == nil, "expired")
        }
        let other = try Self.chain(names: ["mx.example.com"])
        let policy = try #require(DANEPolicy(records: [Self.tlsa(3, 1, 1, other.leaf)], host: "mx.example.com"))
        #expect(await policy.check([chain.leaf, chain.authority], now: Date()) != nil)
        #expect(await policy.check([], now: Date()) != nil)
    }

    @Test("DANE-TA: the CA in the chain, the server's certificate valid under it for the host's name and now")
    func trustAnchor() async throws {
        let chain = try Self.chain(names: ["mx.example.com"])
        let policy = try #require(DANEPolicy(records: [Self.tlsa(2, 1, 1, chain.authority)], host: "mx.example.com"))
        #expect(await policy.check([chain.leaf, chain.authority], now: Date()) == nil)
        #expect(await policy.check([chain.leaf], now: Date()) != nil, "the CA must be presented")
        #expect(await policy.check([chain.leaf, chain.authority], now: Date().addingTimeInterval(10 * 86_400)) != nil, "expired")
        let elsewhere = try #require(DANEPolicy(records: [Self.tlsa(2, 1, 1, chain.authority)], host: "mx.example.net"))
        let wrongName = await elsewhere.check([chain.leaf, chain.authority], now: Date())
        #expect(wrongName?.contains("not valid for mx.example.net") == true, "\(wrongName ?? "")")
        let stranger = try Self.chain(names: ["mx.example.com"])
        #expect(await policy.check([stranger.leaf, stranger.authority], now: Date()) != nil, "another CA")
    }
}
