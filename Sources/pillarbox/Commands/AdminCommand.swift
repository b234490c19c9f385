import ArgumentParser
import EventLog
import Facts
import Foundation
import Gateways
import Projections

/// `pillarbox admin token`: API tokens for the web admin's JSON API.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "The web admin: API tokens for scripts.", subcommands: [Token.self])

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "API tokens: sent as `Authorization: Bearer TOKEN`, they act as their user.",
            subcommands: [Create.self, List.self, Revoke.self])
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token; it is shown once, only its SHA-256 is kept.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "The token's name (letters, digits, dots, dashes).") var name: String
        @Option(help: "The administrator it acts as; default the main administrator.") var user: String?

        func run() async throws {
            guard (1...64).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_".contains($0)) }) else {
                throw CommandFailure("--name must be 1 to 64 letters, digits, dots, dashes or underscores")
            }
            let name = self.name, wanted = user
            let token = RandomText.hex(64)
            let hash = AdminTokenCreated.hash(of: token)
            try await options.withDirectory { directory in
                let engine = directory.engine
                let snapshot = try await directory.snapshot()
                let main = try await Settings(engine: engine).value(SettingKey<String>.mainAdministrator)
                let userName = wanted ?? main
                guard let user = snapshot.users[userName.lowercased()] else { throw CommandFailure("no user \(userName)") }
                guard user.admin else { throw CommandFailure("\(user.name) is not an administrator") }
                _ = try await engine.transaction { transaction in
                    _ = try await transaction.append([PendingEvent(AdminTokenCreated(name: name, user: user.name, hash: hash,
                                                                                      actor: commandLineActor))],
                                                     to: try AdminTokenCreated.stream(name: name), expectedVersion: .noStream)
                }
            }
            print(token)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The tokens, without their secrets.")
        @OptionGroup var options: DirectoryOptions

        func run() async throws {
            let rows = try await options.withDirectory { directory in
                let result = try await directory.engine.store.client.query("""
                    SELECT name, username, createdby, created, revoked FROM admin.tokens ORDER BY name
                    """, logger: directory.engine.logger)
                var rows: [[String]] = []
                for try await (name, user, by, created, revoked) in result.decode((String, String, String, Date, Date?).self) {
                    rows.append([name, user, by, created.formatted(.iso8601), revoked?.formatted(.iso8601) ?? ""])
                }
                return rows
            }
            options.output.print(columns: ["name", "user", "created_by", "created", "revoked"], rows: rows)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a token: requests with it are refused from now on.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String

        func run() async throws {
            let (configuration, logger) = try global.load()
            let name = self.name
            try await withProjectionEngine(configuration, logger: logger) { engine in
                guard try await engine.store.version(of: try AdminTokenCreated.stream(name: name)) != nil else {
                    throw CommandFailure("no token named \(name)")
                }
                _ = try await engine.transaction { transaction in
                    _ = try await transaction.append([PendingEvent(AdminTokenRevoked(name: name, actor: commandLineActor))],
                                                     to: try AdminTokenCreated.stream(name: name), expectedVersion: .any)
                }
            }
            print("\(name) revoked")
        }
    }
}
