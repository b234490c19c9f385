import Foundation
import Gateways
import HTTPTypes
import Hummingbird

/// The connections open now in this process (`GET /sessions`) and ending one
/// (`DELETE /sessions/{number}`), as VPOP3's Sessions page: type with its number, user or
/// address, time active and what it is doing.
extension AdminAPI {
    struct LiveSessionInfo: Encodable, Sendable {
        let number: Int
        let listener: String
        let clientIP: String
        let started: Date
        let activeSeconds: Int
        let sessionID: String
        let user: String
        let detail: String
        let tls: String

        init(_ entry: LiveSessions.Entry, now: Date) {
            number = entry.number
            listener = entry.listener
            clientIP = entry.clientAddress
            started = entry.started
            activeSeconds = max(0, Int(now.timeIntervalSince(entry.started)))
            sessionID = entry.sessionID
            user = entry.user
            detail = entry.detail
            tls = entry.tls
        }

        enum CodingKeys: String, CodingKey {
            case number, listener, clientIP = "client_ip", started, activeSeconds = "active_seconds", sessionID = "session_id"
            case user, detail, tls
        }
    }

    struct ListenerInfo: Encodable, Sendable {
        let name: String
        let address: String
        let port: Int
        let sessions: Int
    }

    struct LiveSessionsInfo: Encodable, Sendable {
        let listeners: [ListenerInfo]
        let sessions: [LiveSessionInfo]
    }

    /// The listeners bound, each with its open sessions, and the sessions oldest first.
    func liveSessions(now: Date = Date()) -> LiveSessionsInfo {
        let registry = environment.liveSessions
        let counts = registry.counts()
        return LiveSessionsInfo(
            listeners: registry.listeners().map { ListenerInfo(name: $0.name, address: $0.address, port: $0.port, sessions: counts[$0.name] ?? 0) },
            sessions: registry.snapshot().map { LiveSessionInfo($0, now: now) })
    }

    func addSessions(to admins: RouterGroup<AdminRequestContext>) {
        admins.get("sessions") { _, _ -> Response in
            try Self.json(liveSessions())
        }
        admins.delete("sessions/:number") { _, context -> HTTPResponse.Status in
            guard let number = Int(try context.parameters.require("number")), number > 0 else {
                throw Problem(.notFound, "no such session", field: "number")
            }
            guard environment.liveSessions.end(number) else { throw Problem(.notFound, "no session \(number) is open", field: "number") }
            environment.logger.notice("session ended by an administrator", metadata: ["number": "\(number)", "actor": "\(context.actor)"])
            return .noContent
        }
    }
}
