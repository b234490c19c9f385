import EventLog
import Foundation
import Testing
import TestSupport

@Suite("Migrations")
struct MigrationTests {
    @Test("the binary carries its migrations, numbered from 1")
    func embedded() {
        #expect(!Migration.all.isEmpty)
        #expect(Migration.all.map(\.version) == Array(1...Migration.all.count))
        #expect(Migration.all[0].sql.contains("CREATE TABLE eventlog.events"))
    }

    @Test("running the migrations again is a no-op")
    func idempotent() async throws {
        try await TestDatabase.withClient { client, _ in
            let runner = MigrationRunner(logger: TestDatabase.logger)
            #expect(try await runner.migrate(client: client).isEmpty)
            let rows = try await client.query("SELECT count(*) FROM public.pillarbox_migrations")
            for try await count in rows.decode(Int.self) { #expect(count == Migration.all.count) }
        }
    }

    @Test("an applied migration whose text changed is refused")
    func changedMigration() async throws {
        try await TestDatabase.withClient { client, _ in
            let original = Migration.all[0]
            let edited = Migration(version: original.version, name: original.name, sql: original.sql + "\n-- edited",
                                   checksum: "0000")
            await #expect(throws: MigrationRunner.Failure.self) {
                try await MigrationRunner(migrations: [edited], logger: TestDatabase.logger).migrate(client: client)
            }
        }
    }
}
