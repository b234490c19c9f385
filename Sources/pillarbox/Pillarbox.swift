import ArgumentParser
import EventLog
import PostgresNIO

@main
struct Pillarbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pillarbox",
        abstract: "A mail server whose store is an append-only event log in PostgreSQL.",
        version: PillarboxVersion.current,
        subcommands: [Serve.self, DomainCommand.self, UserCommand.self, AliasCommand.self, GroupCommand.self, ListCommand.self,
                      SettingsCommand.self, MailCommand.self, LogDBCommand.self, IDSCommand.self, BlocksCommand.self,
                      ReputationCommand.self, RebuildCommand.self, VerifyCommand.self, ReplayCommand.self, LogCommand.self,
                      DatabaseCommand.self, ConfigCommand.self, SenderCommand.self, LANCommand.self,
                      ConnectionCommand.self, ScheduleCommand.self, ConnectCommand.self, DKIMCommand.self, DMARCCommand.self,
                      TLSReportCommand.self, SummaryCommand.self, ErrorsCommand.self, AdminCommand.self, CollectorCommand.self, CollectCommand.self,
                      AutoresponderCommand.self, FolderCommand.self, EraseCommand.self]
    )

    /// As ArgumentParser's, except that a database error is reported with PostgreSQL's own
    /// message (postgres-nio's errors print a generic text on purpose).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: readable(error))
        }
    }

    static func readable(_ error: any Error) -> any Error {
        guard error is PSQLError || error is PostgresTransactionError else { return error }
        return CommandFailure(DatabaseErrorText.describe(error))
    }
}
