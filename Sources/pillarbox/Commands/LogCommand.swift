import ArgumentParser
import EventLog
import Foundation
import Logging

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Read, verify and tune the event log.",
        subcommands: [Dump.self, Verify.self, TrainDictionary.self]
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
            abstract: "Recompute every event's hash and the ledger's hash chain.",
            discussion: "Exits with status 1 and names the first event that does not match when the log was altered."
        )

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (configuration, logger) = try global.load()
            let report = try await withEventStore(configuration, logger: logger) { store in
                try await LedgerVerifier(client: store.client, logger: logger).verify()
            }
            if let failure = report.failure {
                FileHandle.standardError.write(Data("pillarbox: log verification failed: \(failure)\n".utf8))
                throw ExitCode(1)
            }
            print("log intact: \(report.sealed) sealed events match the ledger; \(report.unsealed) not sealed yet match their hashes")
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

/// One line of `pillarbox log dump`: a JSON object with the event's data inlined as stored.
struct EventDumpLine {
    let text: String

    init(_ event: RecordedEvent) {
        var text = "{\"position\":\(event.position)"
        text += ",\"stream\":" + Self.quoted(event.stream)
        text += ",\"version\":\(event.streamVersion)"
        text += ",\"type\":" + Self.quoted(event.type)
        text += ",\"recorded_at\":" + Self.quoted(event.recordedAt.formatted(Self.timestamp))
        text += ",\"event_id\":" + Self.quoted(event.eventID.uuidString.lowercased())
        if let correlation = event.correlationID { text += ",\"correlation_id\":" + Self.quoted(correlation.uuidString.lowercased()) }
        if let causation = event.causationID { text += ",\"causation_id\":" + Self.quoted(causation.uuidString.lowercased()) }
        let data = String(decoding: event.json, as: UTF8.self)
        let isJSON = (try? JSONSerialization.jsonObject(with: Data(event.json), options: [.fragmentsAllowed])) != nil
        text += ",\"data\":" + (isJSON ? data : Self.quoted(data)) + "}"
        self.text = text
    }

    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// A JSON string literal (RFC 8259 §7).
    static func quoted(_ value: String) -> String {
        var text = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20: text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}
