import AsyncHTTPClient
import DNS
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// HTTPS requests of the delivery side (MTA-STS policies, TLS reports): the host's address
/// from Pillarbox's own resolver, its certificate checked against the system's roots and,
/// optionally, a PEM file of more; HTTP/1.1; no redirects followed.
enum HTTPS {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `body` with a client that reaches `host` at its first address.
    static func withClient<T: Sendable>(for host: String, resolver: any DNS.Resolver, trust: String?, timeout: Duration,
                                        _ body: (HTTPClient) async throws -> T) async throws -> T {
        let address: IPAddress
        do {
            guard case .records(let found, _) = try await resolver.addresses(host), let first = found.first else {
                throw Failure(description: "\(host) has no address")
            }
            address = first
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(error)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let trust { tls.additionalTrustRoots = [.file(trust)] }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .init(timeout), read: .init(timeout)))
        configuration.dnsOverride = [host: address.description]
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        let result: Result<T, any Error>
        do { result = .success(try await body(client)) } catch { result = .failure(error) }
        try? await client.shutdown()
        return try result.get()
    }

    /// Whether an error is the TLS layer's (a certificate refused, a handshake failed).
    static func isTLS(_ error: any Error) -> Bool {
        error is NIOSSLError || error is BoringSSLError
    }
}
