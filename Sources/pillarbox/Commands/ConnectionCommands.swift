import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import Projections

/// `pillarbox connection`: the connections of `connections.list`, with their last run and next
/// poll as the queue's projection shows them.
struct ConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection", abstract: "Connections: each links a mail sender; the connector schedule starts them.",
        subcommands: [Set.self, List.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a connection or change one; options not given keep their values.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The connection's name (letters, digits, -, _ and .).") var name: String
        @Option(help: "network or dial-up (modelled only: its runs fail).") var method: MailConnection.Method?
        @Option(help: "The mail sender it links; empty for the default sender.") var sender: String?
        @Option(help: "Send mail as soon as it is due while online (true, false, or default: on for a direct sender).")
        var sendImmediately: String?
        @Option(help: "Make it a default connection (true or false).") var `default`: Bool?
        @Option(help: "The dial-up entry, for a dial-up connection.") var dialUpEntry: String?

        func run() async throws {
            var immediately: Bool??
            switch sendImmediately {
            case nil: immediately = nil
            case "default": immediately = .some(nil)
            case "true": immediately = .some(true)
            case "false": immediately = .some(false)
            default: throw ValidationError("--send-immediately takes true, false or default")
            }
            let command = self, choice = immediately
            let all = try await options.withDirectory { directory in
                try await SettingWriter(engine: directory.engine).update(.connections, actor: commandLineActor) { connections, _ in
                    let index = connections.firstIndex { $0.name.lowercased() == command.name.lowercased() }
                    var connection = index.map { connections[$0] } ?? MailConnection(name: command.name)
                    if let method = command.method { connection.method = method }
                    if let sender = command.sender { connection.sender = sender.isEmpty ? nil : sender }
                    if let choice { connection.sendImmediately = choice }
                    if let isDefault = command.default { connection.isDefault = isDefault }
                    if let entry = command.dialUpEntry { connection.dialUpEntry = entry.isEmpty ? nil : entry }
                    if let index { connections[index] = connection } else { connections.append(connection) }
                }
            }
            let connection = all.first { $0.name.lowercased() == name.lowercased() }!
            options.output.print(record: [
                ("name", connection.name), ("method", connection.method.rawValue), ("sender", connection.sender ?? "(default sender)"),
                ("default", connection.isDefault ? "yes" : "no"),
                ("send_immediately", connection.sendImmediately.map { $0 ? "yes" : "no" } ?? "default"),
            ])
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the connections with their last run and next poll.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let rows = try await options.withDirectory { directory in
                let settings = Settings(engine: directory.engine)
                let connections = MailConnections(try await settings.value(SettingKey.connections))
                let senders = MailSenders(try await settings.value(SettingKey.senders))
                var status: [String: [String]] = [:]
                let query = try await directory.engine.store.client.query("""
                    SELECT name, online, laststart, coalesce(lasttrigger, ''), coalesce(lastresult, ''), nextpoll, coalesce(paused, false)
                    FROM outqueue.connections
                    """, logger: directory.engine.logger)
                for try await (name, online, start, trigger, result, next, paused)
                    in query.decode((String, Bool?, Date?, String, String, Date?, Bool).self) {
                    status[name.lowercased()] = [online == true ? "online" : "", start?.formatted(.iso8601) ?? "", trigger, result,
                                                 paused ? "paused" : next?.formatted(.iso8601) ?? ""]
                }
                return connections.all.map { connection in
                    [connection.name, connection.method.rawValue, connection.sender ?? senders.defaultSender.name,
                     connection.isDefault || connections.defaults.contains(connection) ? "yes" : "",
                     connections.sendsImmediately(connection, senders: senders) ? "yes" : "no"]
                        + (status[connection.name.lowercased()] ?? ["", "", "", "", ""])
                }
            }
            options.output.print(columns: ["name", "method", "sender", "default", "send_immediately", "state", "last_start",
                                           "last_trigger", "last_result", "next_poll"], rows: rows)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a connection.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            let name = self.name
            try await options.withDirectory { directory in
                try await SettingWriter(engine: directory.engine).update(.connections, actor: commandLineActor) { connections, _ in
                    guard let index = connections.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                        throw SettingProblem("no connection named \(name)")
                    }
                    connections.remove(at: index)
                }
            }
            options.output.done("removed connection \(name)")
        }
    }
}

/// `pillarbox schedule`: the connector schedule's items.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "The connector schedule: when connections are started, and when they are denied.",
        subcommands: [Set.self, List.self, Remove.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a schedule item or change one: --every N --from HH:MM --until HH:MM, or --at HH:MM.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Option(help: "connect or deny.") var action: ScheduleItem.Action?
        @Option(name: .customLong("connection"), help: "A connection it starts; repeat for more; none for the default connections.")
        var connections: [String] = []
        @Flag(help: "Start the default connections (forget the connections named).") var defaultConnections = false
        @Option(help: "Every this many minutes, between --from and --until.") var every: Int?
        @Option(help: "The first time of day, HH:MM.") var from: String?
        @Option(help: "The last time of day, HH:MM (not past midnight).") var until: String?
        @Option(help: "Once a day at this time, HH:MM.") var at: String?
        @Option(help: "Whether the item acts (true or false).") var enabled: Bool?

        func run() async throws {
            let command = self
            let items = try await options.withDirectory { directory in
                try await SettingWriter(engine: directory.engine).update(.schedule, actor: commandLineActor) { items, _ in
                    let index = items.firstIndex { $0.name.lowercased() == command.name.lowercased() }
                    var item = index.map { items[$0] } ?? ScheduleItem(name: command.name)
                    if let action = command.action { item.action = action }
                    if command.defaultConnections { item.connections = [] }
                    if !command.connections.isEmpty { item.connections = command.connections }
                    if let at = command.at {
                        item.at = at
                        item.every = nil
                        item.from = nil
                        item.until = nil
                    }
                    if let every = command.every {
                        item.every = every
                        item.at = nil
                    }
                    if let from = command.from { item.from = from }
                    if let until = command.until { item.until = until }
                    if let enabled = command.enabled { item.enabled = enabled }
                    if let index { items[index] = item } else { items.append(item) }
                }
            }
            let item = items.first { $0.name.lowercased() == name.lowercased() }!
            options.output.print(record: ScheduleCommand.record(item))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the schedule's items.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let (items, paused) = try await options.withDirectory { directory in
                let settings = Settings(engine: directory.engine)
                return (try await settings.value(SettingKey.schedule), try await settings.value(SettingKey<Bool>.connectionsPaused))
            }
            if paused { options.output.done("scheduling is paused (pillarbox connect resume)") }
            options.output.print(columns: ["name", "action", "connections", "when", "enabled"], rows: items.map { item in
                let record = Dictionary(ScheduleCommand.record(item), uniquingKeysWith: { first, _ in first })
                return [item.name, item.action.rawValue, record["connections"] ?? "", record["when"] ?? "", item.enabled ? "yes" : "no"]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a schedule item.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            let name = self.name
            try await options.withDirectory { directory in
                try await SettingWriter(engine: directory.engine).update(.schedule, actor: commandLineActor) { items, _ in
                    guard let index = items.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                        throw SettingProblem("no schedule item named \(name)")
                    }
                    items.remove(at: index)
                }
            }
            options.output.done("removed schedule item \(name)")
        }
    }

    static func record(_ item: ScheduleItem) -> [(String, String)] {
        let when = item.at.map { "once at \($0)" } ?? "every \(item.every ?? 0) minutes from \(item.from ?? "?") until \(item.until ?? "?")"
        let connections = item.action == .deny ? "(all)" : item.connections.isEmpty ? "(default)" : item.connections.joined(separator: " ")
        return [("name", item.name), ("action", item.action.rawValue), ("connections", connections), ("when", when),
                ("enabled", item.enabled ? "yes" : "no")]
    }
}

/// `pillarbox connect`: a connection now, or the schedule paused and resumed.
struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect", abstract: "Start a connection now, or pause and resume the connector schedule.",
        subcommands: [Now.self, Pause.self, Resume.self])

    struct Now: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a connection (or the default ones) now.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The connection; none for the default connections.") var name: String?
        func run() async throws {
            let name = self.name
            try await options.withDirectory { directory in
                if let name {
                    let connections = MailConnections(try await Settings(engine: directory.engine).value(SettingKey.connections))
                    guard connections.named(name) != nil else { throw SettingProblem("no connection named \(name)") }
                }
                try await directory.engine.store.append([StreamAppend(
                    stream: try ConnectionFacts.stream,
                    events: [try EventData(ConnectionRequested(connection: name, actor: commandLineActor))])])
            }
            options.output.done("asked for \(name.map { "connection \($0)" } ?? "the default connections"); the running server starts it")
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause the schedule: it starts no connections until resumed.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            try await options.withDirectory { directory in
                _ = try await SettingWriter(engine: directory.engine).set("connections.paused", to: "true", actor: commandLineActor)
            }
            options.output.done("scheduling paused")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume the schedule.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            try await options.withDirectory { directory in
                _ = try await SettingWriter(engine: directory.engine).set("connections.paused", to: "false", actor: commandLineActor)
            }
            options.output.done("scheduling resumed")
        }
    }
}

extension MailConnection.Method: ExpressibleByArgument {}
extension ScheduleItem.Action: ExpressibleByArgument {}
