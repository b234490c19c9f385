import EventLog
import Facts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The API's view of how mail leaves: the senders (direct or through relays), the LAN
/// forwarding rules, and the connections with their last run and next poll, plus "connect
/// now". Changing them is changing their settings (`PUT /settings/{key}`); passwords are
/// sealed secrets, shown only by their reference.
extension AdminAPI {
    struct ConnectionInfo: Encodable, Sendable {
        let connection: MailConnection
        let isDefault: Bool
        let sendsImmediately: Bool
        let online: Bool
        let lastStart: Date?
        let lastTrigger: String
        let lastResult: String
        let nextPoll: Date?
        let paused: Bool

        enum CodingKeys: String, CodingKey {
            case connection, isDefault = "default", sendsImmediately = "send_immediately", online, lastStart = "last_start"
            case lastTrigger = "last_trigger", lastResult = "last_result", nextPoll = "next_poll", paused
        }
    }

    /// `value` as a JSON response (dates in ISO 8601).
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    func addMailRoutes(to admins: RouterGroup<AdminRequestContext>) {
        admins.get("senders") { _, _ -> Response in
            try Self.json(environment.settings.value(SettingKey.senders))
        }
        admins.get("routes") { _, _ -> Response in
            try Self.json(environment.settings.value(SettingKey.lanForwarding))
        }
        admins.get("connections") { _, _ -> Response in
            let connections = MailConnections(environment.settings.value(SettingKey.connections))
            let senders = MailSenders(environment.settings.value(SettingKey.senders))
            var status: [String: (Bool, Date?, String, String, Date?, Bool)] = [:]
            let rows = try await environment.engine.store.client.query("""
                SELECT name, coalesce(online, false), laststart, coalesce(lasttrigger, ''), coalesce(lastresult, ''), nextpoll,
                       coalesce(paused, false)
                FROM outqueue.connections
                """, logger: environment.logger)
            for try await (name, online, start, trigger, result, next, paused)
                in rows.decode((String, Bool, Date?, String, String, Date?, Bool).self) {
                status[name.lowercased()] = (online, start, trigger, result, next, paused)
            }
            return try Self.json(connections.all.map { connection in
                let known = status[connection.name.lowercased()]
                return ConnectionInfo(connection: connection, isDefault: connection.isDefault || connections.defaults.contains(connection),
                                      sendsImmediately: connections.sendsImmediately(connection, senders: senders),
                                      online: known?.0 ?? false, lastStart: known?.1, lastTrigger: known?.2 ?? "",
                                      lastResult: known?.3 ?? "", nextPoll: known?.4, paused: known?.5 ?? false)
            })
        }
        admins.post("connections/:name/connect") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            let connections = MailConnections(environment.settings.value(SettingKey.connections))
            let chosen: String? = name == "default" ? nil : name
            if let chosen, connections.named(chosen) == nil {
                throw Problem(.notFound, "no connection named \(chosen)", field: "name")
            }
            try await environment.engine.store.append([StreamAppend(
                stream: try ConnectionFacts.stream,
                events: [try EventData(ConnectionRequested(connection: chosen, actor: context.actor))])])
            return .accepted
        }
    }
}
