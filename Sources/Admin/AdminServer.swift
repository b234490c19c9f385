import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The web admin's listener (`listeners.admin`): the JSON API and health checks over HTTPS
/// with the server's certificate, or over plain HTTP when it listens on loopback only.
public struct AdminServer: Service {
    let environment: AdminEnvironment
    let host: String
    let port: Int
    let tls: TLSConfiguration?

    /// `tls` nil serves plain HTTP, which only a loopback address may.
    public init(environment: AdminEnvironment, host: String, port: Int, tls: TLSConfiguration?) throws {
        if tls == nil && !Self.isLoopback(host) {
            throw Problem(.internalServerError, "the admin listener on \(host) needs TLS: plain HTTP is allowed on loopback only")
        }
        self.environment = environment
        self.host = host
        self.port = port
        self.tls = tls
    }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public func run() async throws {
        let router = Router(context: AdminRequestContext.self)
        router.add(middleware: AdminAuthentication(sessions: environment.sessions, engine: environment.engine,
                                                   directory: environment.directory))
        let api = AdminAPI(environment: environment, secure: tls != nil)
        api.add(to: router)
        AdminPages(api: api).add(to: router)
        let logger = environment.logger
        let onRunning: @Sendable (any Channel) async -> Void = { channel in
            let address = channel.localAddress
            logger.notice("listening", metadata: [
                "listener": "admin", "address": "\(address?.ipAddress ?? host):\(address?.port ?? 0)",
            ])
        }
        let configuration = ApplicationConfiguration(address: .hostname(host, port: port), serverName: "Pillarbox")
        let environment = environment
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await environment.jobs.run(engine: environment.engine, ledgerKey: environment.ledgerKey, logger: logger)
            }
            if let tls {
                let application = Application(router: router, server: try .tls(tlsConfiguration: tls), configuration: configuration,
                                              onServerRunning: onRunning, logger: logger)
                try await application.run()
            } else {
                let application = Application(router: router, configuration: configuration, onServerRunning: onRunning, logger: logger)
                try await application.run()
            }
            group.cancelAll()
        }
    }
}
