import Crypto
import Foundation
import Logging
import NIOSSL
import SwiftASN1
import X509

/// The server's TLS context: from the configured PEM files, or from a self-signed certificate
/// made in the data directory on first start (and reused after), so STARTTLS and the implicit
/// TLS listeners work out of the box.
public enum TLSSetup {
    public struct Files: Sendable, Equatable {
        public let certificate: String
        public let key: String
        public let selfSigned: Bool
    }

    /// The files to use, creating the self-signed pair when no files are configured.
    public static func files(certificate: String?, key: String?, dataDirectory: String, hostname: String,
                             logger: Logger) throws -> Files {
        if let certificate, let key { return Files(certificate: certificate, key: key, selfSigned: false) }
        let directory = dataDirectory + "/tls"
        let certificatePath = directory + "/selfsigned-cert.pem", keyPath = directory + "/selfsigned-key.pem"
        if FileManager.default.fileExists(atPath: certificatePath) && FileManager.default.fileExists(atPath: keyPath) {
            return Files(certificate: certificatePath, key: keyPath, selfSigned: true)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let (certificatePEM, keyPEM) = try makeSelfSigned(hostname: hostname)
        FileManager.default.createFile(atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: certificatePath, contents: Data(certificatePEM.utf8),
                                       attributes: [.posixPermissions: 0o644])
        logger.notice("created a self-signed TLS certificate; configure tls.certificate and tls.key to use your own",
                      metadata: ["certificate": "\(certificatePath)", "hostname": "\(hostname)"])
        return Files(certificate: certificatePath, key: keyPath, selfSigned: true)
    }

    public static func context(_ files: Files) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        let key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                    privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = Self.cipherSuites
        return try NIOSSLContext(configuration: configuration)
    }

    /// TLS 1.2's suites: ECDHE key exchange and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305),
    /// as Mozilla's "intermediate" profile; no CBC, no SHA-1 MAC, no static RSA. TLS 1.3's
    /// suites are all AEAD and not set here.
    static let cipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// A P-256 certificate for `hostname`, `localhost` and the loopback addresses, valid ten years.
    static func makeSelfSigned(hostname: String) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            CommonName(hostname)
            OrganizationName("Pillarbox self-signed")
        }
        let now = Date()
        var names: [GeneralName] = [.dnsName(hostname)]
        if hostname != "localhost" { names.append(.dnsName("localhost")) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])))
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }
}
