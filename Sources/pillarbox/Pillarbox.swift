import ArgumentParser

@main
struct Pillarbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pillarbox",
        abstract: "A mail server whose store is an append-only event log in PostgreSQL.",
        version: PillarboxVersion.current,
        subcommands: [Serve.self, LogCommand.self, DatabaseCommand.self, ConfigCommand.self]
    )
}
