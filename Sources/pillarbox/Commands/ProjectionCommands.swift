import ArgumentParser
import EventLog
import Foundation
import Projections

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild projections from the log and swap them in atomically.",
        discussion: "Builds into a scratch schema while the server keeps serving from the live tables. Names: "
            + PillarboxProjections.all.map(\.name).joined(separator: ", ") + "; none means all."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Projections to rebuild.") var names: [String] = []

    func run() async throws {
        let (configuration, logger) = try global.load()
        try await withProjectionEngine(configuration, logger: logger) { engine in
            for projection in try engine.projections(named: names) {
                let started = ContinuousClock.now
                let cursor = try await engine.rebuild(projection)
                print("rebuilt \(projection.name) up to \(cursor) in \(ContinuousClock.now - started)")
            }
        }
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Rebuild projections into scratch and compare their digests with the live tables.",
        discussion: "Exits 1 when any differ, printing up to 20 rows found on one side only "
            + "(- live only, + rebuilt only)."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Projections to verify; none means all.") var names: [String] = []

    func run() async throws {
        let (configuration, logger) = try global.load()
        let allMatch = try await withProjectionEngine(configuration, logger: logger) { engine in
            var allMatch = true
            for projection in try engine.projections(named: names) {
                let result = try await engine.verify(projection)
                print("\(projection.name): \(result.matches ? "ok" : "DIFFERS")")
                for (live, rebuilt) in zip(result.live, result.rebuilt) {
                    let mark = live == rebuilt ? " " : "!"
                    print("  \(mark) \(live.table): live \(live.rows) rows \(live.hash), rebuilt \(rebuilt.rows) rows \(rebuilt.hash)")
                }
                for difference in result.differences { print("    \(difference)") }
                allMatch = allMatch && result.matches
            }
            return allMatch
        }
        if !allMatch { throw ExitCode(1) }
    }
}

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Materialise every projection as it stood at a point in the log.",
        discussion: "Tables land in the new schema as <projection>_<table>, e.g. SCHEMA.mailbox_messages."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "A global position, or a time (2026-11-17T18:00:00Z, or a date: the end of that day UTC).")
    var until: String
    @Option(help: "Schema to create (lower-case letters, digits, _).")
    var into: String

    func run() async throws {
        let limit = try Self.parseLimit(until)
        let (configuration, logger) = try global.load()
        try await withProjectionEngine(configuration, logger: logger) { engine in
            let cursors = try await engine.replay(until: limit, into: into)
            for (name, cursor) in cursors.sorted(by: { $0.key < $1.key }) {
                print("\(name): replayed up to \(cursor) into \(into).\(name)_*")
            }
        }
    }

    static func parseLimit(_ text: String) throws -> EventStore.ReadLimit {
        if let position = Int64(text) { return .position(position) }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return .time(date) }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return .time(date) }
        if let day = try? Date.ISO8601FormatStyle().year().month().day().parse(text) { return .time(day.addingTimeInterval(86_399.999)) }
        throw ValidationError("--until takes a position or an ISO 8601 time, not \(text)")
    }
}
