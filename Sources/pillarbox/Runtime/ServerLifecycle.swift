import EventLog
import Facts
import Foundation
import Gateways
import Logging
import ServiceLifecycle

/// Records the server's start and graceful stop in the log, and says when it is ready. Listed
/// last in the service group, so it stops first, while the event store still runs.
struct ServerLifecycle: Service {
    let store: EventStore
    let configuration: BootstrapConfiguration
    let embeddedDatabase: Bool
    let logger: Logger

    func run() async throws {
        let stream = try StreamName(category: "server", id: configuration.hostname.value)
        var listeners: [String: String] = [:]
        // The listeners this server binds.
        for kind in ListenerConfiguration.Kind.allCases {
            if let address = configuration.listeners[kind] { listeners[kind.rawValue] = address.description }
        }
        let processID = ProcessInfo.processInfo.processIdentifier
        let started = ServerStarted(hostname: configuration.hostname.value, version: PillarboxVersion.current,
                                    processID: processID, listeners: listeners, embeddedDatabase: embeddedDatabase)
        let result = try await store.append([EventData(started)], to: stream)
        logger.notice("pillarbox is ready", metadata: [
            "hostname": "\(configuration.hostname)", "position": "\(result.positions[0])",
        ])

        try? await gracefulShutdown()

        logger.notice("pillarbox is shutting down")
        do {
            try await store.append([EventData(ServerStopped(hostname: configuration.hostname.value, processID: processID))], to: stream)
        } catch {
            logger.error("recording the server's stop failed", metadata: ["error": "\(DatabaseErrorText.describe(error))"])
        }
    }
}
