import ArgumentParser
import EventLog
import Foundation

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the embedded PostgreSQL cluster under the data directory.",
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the embedded cluster (creating it on first use) and apply migrations.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (configuration, logger) = try global.load()
            let embedded = try embeddedCluster(configuration)
            let result = try await embedded.start()
            let database = Database(embedded: embedded, configuration, startedHere: false)
            try await database.withClient(configuration, logger: logger) { _ in }
            print(result == .started ? "started" : "already running", embedded.endpoint.redactedURL)
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the embedded cluster.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (configuration, _) = try global.load()
            let embedded = try embeddedCluster(configuration)
            if DataDirectoryLock.isHeld(directory: embedded.directory) {
                throw ValidationError("pillarbox serve is running with this data directory; stop it instead")
            }
            let running = try await embedded.isRunning()
            try await embedded.stop()
            print(running ? "stopped" : "not running")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the embedded cluster runs; exit status 3 when it does not.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (configuration, _) = try global.load()
            let embedded = try embeddedCluster(configuration)
            if try await embedded.isRunning() {
                print("running", embedded.endpoint.redactedURL)
            } else {
                print("stopped")
                throw ExitCode(3)
            }
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "url",
            abstract: "Print the database URL of the role that owns the log (for psql and other tools); passwords are left out.",
            discussion: "With --serving, the URL of the role the server works as, which can read and append but not rewrite the log.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "The serving role's URL instead of the owner's.") var serving = false

        func run() async throws {
            let (configuration, _) = try global.load()
            if let endpoint = try configuration.externalDatabase() {
                print((serving ? endpoint : try configuration.externalOwner() ?? endpoint).redactedURL)
            } else {
                var endpoint = EmbeddedPostgres(directory: configuration.dataDirectory, logger: .init(label: "pillarbox")).endpoint
                if serving { endpoint.username = DatabaseRoles.embeddedServingRole }
                print(endpoint.redactedURL)
            }
        }
    }
}

private func embeddedCluster(_ configuration: BootstrapConfiguration) throws -> EmbeddedPostgres {
    guard configuration.databaseURL == nil else {
        throw ValidationError("a database URL is configured; these commands manage the embedded cluster only")
    }
    return EmbeddedPostgres(directory: configuration.dataDirectory, logger: .init(label: "pillarbox"))
}
