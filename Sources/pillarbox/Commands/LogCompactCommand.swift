import ArgumentParser
import EventLog
import Facts
import Foundation
import PostgresNIO

extension LogCommand {
    /// `pillarbox log compact-erased`: the stored bytes of erased bodies deleted for good.
    struct CompactErased: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compact-erased",
            abstract: "Delete the stored bytes of message bodies no key opens any more.",
            discussion: """
                A body whose every wrap was destroyed (`erase user`, `erase messages`, `mail.retention`) can no \
                longer be read by anyone. Its erasure recorded the digest of its stored bytes in the log; a body \
                still matching it is deleted from eventlog.blobs, and `erased_bodies_removed` records which went. \
                `log verify` then counts them as erased and removed. Bodies erased without a recorded digest, or \
                whose bytes no longer match it, are kept and listed. Runs as the database's owner.
                """
        )

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Only say what would be deleted.") var dryRun = false
        @Flag(help: "Print the result as JSON.") var json = false

        func run() async throws {
            let (configuration, logger) = try global.load()
            let database = try await Database.open(configuration, logger: logger)
            let dryRun = self.dryRun
            let compaction: EventStore.Compaction
            do {
                compaction = try await database.withStore(configuration, logger: logger) { store in
                    let records = try await store.erasureRecords(types: EventCatalogue.erasingBodies)
                    return try await (database.owner ?? database.endpoint).withConnection(
                        applicationName: "pillarbox-compact", logger: logger) { connection in
                        let result = try await store.compactErased(records: records, dryRun: dryRun, on: connection) { blobs, bytes in
                            StreamAppend(stream: try StreamName(category: "erasure", id: "main"), events: [
                                try EventData(ErasedBodiesRemoved(actor: commandLineActor, blobs: blobs, bytes: bytes)),
                            ])
                        }
                        if !dryRun && !result.removed.isEmpty {
                            // The space the rows took is reused from now on.
                            for statement in ["VACUUM eventlog.blob_chunks", "VACUUM eventlog.blobs"] {
                                do {
                                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                                } catch {
                                    logger.warning("could not vacuum after removing erased bodies",
                                                   metadata: ["statement": "\(statement)", "error": "\(String(reflecting: error))"])
                                }
                            }
                        }
                        return result
                    }
                }
            } catch {
                await database.close(logger: logger)
                throw error
            }
            await database.close(logger: logger)
            if json {
                print(String(decoding: try JSONEncoder().encode(compaction), as: UTF8.self))
                return
            }
            print("\(dryRun ? "would remove" : "removed") \(compaction.removed.count) erased bodies (\(compaction.bytes) stored bytes)")
            if compaction.unrecorded > 0 {
                print("kept \(compaction.unrecorded) unreadable bodies erased before erasures recorded digests")
            }
            if !compaction.altered.isEmpty {
                print("kept \(compaction.altered.count) erased bodies whose stored bytes do not match their erasure's record "
                      + "(run `pillarbox log verify`): " + compaction.altered.map(\.hex).joined(separator: ", "))
            }
        }
    }
}
