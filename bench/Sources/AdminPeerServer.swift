import ArgumentParser
import EventLog
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The peer of `bench/admin`: the least a web handler can do to serve the admin API's user
/// listing — one Hummingbird route that reads a page of the same `directory.users` table with
/// one query and answers it as JSON, with no authentication. Runs until killed.
struct AdminPeerServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin-peer",
                                                    abstract: "A minimal Hummingbird handler serving GET /api/v1/users.")

    @Option(help: "The database whose directory.users table is listed.")
    var databaseURL: String
    @Option(help: "Loopback port to listen on.")
    var port: Int

    struct User: Encodable {
        let name: String
        let admin: Bool
        let protocols: [String]
        let maySendInternetMail: Bool
        let lockedOut: Bool
        let forwardTo: String
        let useForwarding: Bool
        let replyTo: String
        let comments: String

        enum CodingKeys: String, CodingKey {
            case name, admin, protocols, maySendInternetMail = "may_send_internet_mail", lockedOut = "locked_out"
            case forwardTo = "forward_to", useForwarding = "use_forwarding", replyTo = "reply_to", comments
        }
    }

    struct Page: ResponseEncodable {
        let items: [User]
        let total: Int
        let offset: Int
        let limit: Int
    }

    func run() async throws {
        let logger = benchLogger()
        let client = PostgresClient(configuration: try DatabaseEndpoint(url: databaseURL).clientConfiguration(maximumConnections: 20), backgroundLogger: logger)
        let router = Router()
        router.get("/api/v1/users") { request, _ -> Page in
            let limit = Int(request.uri.queryParameters["limit"].map(String.init) ?? "100") ?? 100
            let rows = try await client.query("""
                SELECT name, admin, protocols, may_send_internet_mail, locked_out, forward_to, use_forwarding, reply_to, comments,
                       count(*) OVER ()
                FROM directory.users ORDER BY lower(name) LIMIT \(limit)
                """, logger: logger)
            var users: [User] = [], total = 0
            for try await (name, admin, protocols, internet, locked, forward, forwarding, reply, comments, count)
                in rows.decode((String, Bool, [String], Bool, Bool, String, Bool, String, String, Int).self) {
                users.append(User(name: name, admin: admin, protocols: protocols, maySendInternetMail: internet, lockedOut: locked,
                                  forwardTo: forward, useForwarding: forwarding, replyTo: reply, comments: comments))
                total = count
            }
            return Page(items: users, total: total, offset: 0, limit: limit)
        }
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        // Both run until SIGTERM or SIGINT, which end them gracefully.
        try await ServiceGroup(services: [client, application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}
