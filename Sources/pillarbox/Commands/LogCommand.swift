import ArgumentParser
import EventLog
import Facts
import Foundation
import Logging

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Read, verify and tune the event log.",
        subcommands: [Dump.self, Verify.self, Head.self, TrainDictionary.self, CompactErased.self]
    )

    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print events as JSON, one object per line, in position order.",
            discussion: "Each line holds position, stream, version, type, recorded_at, event_id and the decoded data."
        )

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this stream (its full key, e.g. server-mail.example.com).")
        var stream: String?
        @Option(help: "Only streams of this category.")
        var category: String?
        @Option(help: "First global position to print.")
        var from: Int64 = 1
        @Option(help: "Last global position to print.")
        var to: Int64 = .max

        func run() async throws {
            let (configuration, logger) = try global.load()
            let stream = try self.stream.map { try StreamName(key: $0) }
            guard from <= to else { throw ValidationError("--from must not be after --to") }
            try await withEventStore(configuration, logger: logger) { store in
                var next = from
                let output = FileHandle.standardOutput
                while next <= to {
                    let events = try await store.read(positions: next...to, stream: stream, category: category, limit: 1_000)
                    guard let last = events.last else { break }
                    var text = ""
                    for event in events { text += EventDumpLine(event).text + "\n" }
                    try output.write(contentsOf: Data(text.utf8))
                    if last.position == .max { break }
                    next = last.position + 1
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every event's hash, the ledger's hash chain and every message body's SHA-256.",
            discussion: """
                Checks the chain against the signed heads in the database (signed with the key in the key \
                directory) and, with --head, against a head kept outside the database. Exits with status 1 and \
                names the first event or body that does not match when the log was altered.
                """
        )

        @OptionGroup var global: GlobalOptions
        @Option(help: "A head printed earlier by `pillarbox log head`, kept outside the database, that the log must still match.")
        var head: String?
        @Flag(help: "Skip re-hashing message bodies (a quicker check of the events and the chain only).")
        var noBlobs = false

        func run() async throws {
            let (configuration, logger) = try global.load()
            let kept = try head.map { path -> LedgerHead in
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CommandFailure("cannot read \(path)") }
                return try LedgerHead(json: text)
            }
            let trusted = try configuration.keys.ledgerPublicKey().map { Array($0.rawRepresentation) }
            let options = LedgerVerifier.Options(trustedKey: trusted, head: kept, checkBlobs: !noBlobs,
                                                 erasureTypes: EventCatalogue.erasingBodies)
            let report = try await withEventStore(configuration, logger: logger) { store in
                try await LedgerVerifier(store: store, logger: logger).verify(options)
            }
            if let failure = report.failure {
                FileHandle.standardError.write(Data("pillarbox: log verification failed: \(failure)\n".utf8))
                throw ExitCode(1)
            }
            var text = "log intact: \(report.sealed) sealed events match the ledger; \(report.unsealed) not sealed yet match their hashes"
            text += "; \(report.signedHeads) signed heads match"
            if let newest = report.newestHead {
                text += " (newest: seq \(newest.seq), signed \(newest.signedAt.formatted(.iso8601)) with key \(newest.keyID))"
            }
            if kept != nil { text += ", the head given included" }
            if !noBlobs { text += "; \(report.blobs) message bodies match their SHA-256" }
            if !noBlobs, report.erasedBlobs > 0 {
                text += "; \(report.erasedBlobs) erased (sealed, no key left"
                let checked = report.erasedBlobs - report.erasedUnrecorded
                if checked > 0 { text += ", \(checked) matching the digest their erasure recorded" }
                if report.erasedUnrecorded > 0 { text += ", \(report.erasedUnrecorded) erased before digests were recorded" }
                text += ")"
            }
            if !noBlobs, report.removedBlobs > 0 { text += "; \(report.removedBlobs) erased and removed by compact-erased" }
            if trusted == nil && report.signedHeads > 0 {
                text += "\nnote: no signing key in \(configuration.keys.path): the heads were checked against the key they carry"
            }
            print(text)
        }
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the newest signed ledger head, as one line of JSON to keep outside the database.",
            discussion: """
                Keep the line somewhere the database's holders cannot write (another machine, a printout, an \
                auditor's mail); `pillarbox log verify --head FILE` later proves the log still matches it. With \
                --now, seals what is pending and signs the current head first (needs the key directory).
                """
        )

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Seal pending events and sign the current head before printing it.")
        var now = false

        func run() async throws {
            let (configuration, logger) = try global.load()
            let signing: LedgerSealer.Signing? = now ? .init(key: try configuration.keys.ledgerSigningKey()) : nil
            let head = try await withEventStore(configuration, logger: logger) { store -> LedgerHead? in
                let sealer = LedgerSealer(store: store, signing: signing, logger: logger)
                if now {
                    try await sealer.sealPending()
                    return try await sealer.signHead()
                }
                return try await LedgerSealer.latestHead(client: store.client, logger: logger)
            }
            guard let head else { throw CommandFailure("no signed ledger head yet (the server signs one within seconds of sealing events)") }
            print(head.json)
        }
    }

    struct TrainDictionary: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-dict",
            abstract: "Train a zstd dictionary from recent events; new events are compressed with it.",
            discussion: "Earlier events keep the dictionary they were written with; dictionaries are never deleted."
        )

        @OptionGroup var global: GlobalOptions
        @Option(help: "How many of the most recent events to learn from.")
        var samples = 20_000
        @Option(help: "Largest dictionary size in bytes.")
        var size = 65_536

        func run() async throws {
            let (configuration, logger) = try global.load()
            guard (1_000...1 << 20).contains(size) else { throw ValidationError("--size must be 1000 to 1048576 bytes") }
            guard samples >= 10 else { throw ValidationError("--samples must be at least 10") }
            let trained = try await withEventStore(configuration, logger: logger) { store in
                try await DictionaryTrainer(store: store, logger: logger).train(samples: samples, capacity: size)
            }
            print("stored zstd dictionary \(trained.id): \(trained.bytes) bytes from \(trained.samples) events; "
                  + "on those events \(trained.bytesWithout) bytes compressed without it, \(trained.bytesWith) with it "
                  + String(format: "(%.2f×)", Double(trained.bytesWithout) / Double(max(trained.bytesWith, 1))))
        }
    }
}
