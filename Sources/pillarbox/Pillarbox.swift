import ArgumentParser

@main
struct Pillarbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pillarbox",
        abstract: "A mail server whose store is an append-only event log in PostgreSQL.",
        version: PillarboxVersion.current,
        subcommands: [Serve.self, DomainCommand.self, UserCommand.self, AliasCommand.self, GroupCommand.self, ListCommand.self,
                      SettingsCommand.self, MailCommand.self, LogDBCommand.self, IDSCommand.self, BlocksCommand.self,
                      ReputationCommand.self, RebuildCommand.self, VerifyCommand.self, ReplayCommand.self, LogCommand.self,
                      DatabaseCommand.self, ConfigCommand.self]
    )
}
