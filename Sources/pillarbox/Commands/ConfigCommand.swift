import ArgumentParser
import EventLog
import Foundation

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the bootstrap configuration.",
        subcommands: [Show.self, Keys.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the effective configuration (defaults, file, environment and flags merged) as JSON.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (configuration, _) = try global.load(extra: server.flags)
            var lines: [String] = []
            for key in ConfigurationKey.all {
                let value = key.current(configuration).map(EventDumpLine.quoted) ?? "null"
                lines.append("  \(EventDumpLine.quoted(key.path)): \(value)")
            }
            print("{\n" + lines.joined(separator: ",\n") + "\n}")
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every configuration key with its variable, flag and default.")

        func run() async throws {
            let defaults = BootstrapConfiguration.defaults()
            for key in ConfigurationKey.all {
                let flag = key.flag.map { "--\($0)" } ?? "-"
                let value = key.current(defaults) ?? "(unset)"
                print("\(key.path)\t\(key.environment)\t\(flag)\tdefault: \(value.isEmpty ? "(disabled)" : value)\n    \(key.summary)")
            }
        }
    }
}
