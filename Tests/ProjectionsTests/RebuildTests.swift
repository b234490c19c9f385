import Commands
import EventLog
import Facts
import Foundation
import PostgresNIO
@testable import Projections
import Synchronization
import TestSupport
import Testing

/// A deterministic generator, so a failing workload can be run again.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Mixed mail and directory operations against a store, as several clients at once would do them.
struct Workload {
    let directory: Directory
    var mail: MailStore { directory.mail }
    static let users = (0..<8).map { "user\($0)" }

    func setUp() async throws {
        try await directory.addDomain("example.com")
        var admin = UserRecord(name: "postmaster")
        admin.admin = true
        try await directory.createUser(admin, password: "admin1")
        for user in Self.users { try await directory.createUser(UserRecord(name: user), password: "secret-\(user)") }
    }

    /// Runs `count` operations over `clients` concurrent tasks, each with its own seeded generator.
    func run(_ count: Int, clients: Int, seed: UInt64) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var random = SplitMix64(state: seed &+ UInt64(client) &* 7919)
                    for number in 0..<(count / clients) {
                        try await operation(number, client: client, random: &random)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func operation(_ number: Int, client: Int, random: inout SplitMix64) async throws {
        let user = Self.users.randomElement(using: &random)!
        let roll = Int.random(in: 0..<100, using: &random)
        let mailboxes = try await mail.reader.mailboxes(user).filter(\.selectable)
        let mailbox = mailboxes.randomElement(using: &random)!
        let uids = try await mail.reader.messages(user, mailboxID: mailbox.id).map(\.uid)
        let some = uids.filter { _ in Bool.random(using: &random) }
        do {
            switch roll {
            case 0..<40:
                let recipients = Array(Self.users.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random)))
                try await mail.deliver(sampleMessage(client * 100_000 + number, bodyLines: number % 7), to: recipients,
                                       flags: roll < 5 ? ["\\Seen"] : [])
            case 40..<60:
                let operations: [MailStore.FlagOperation] = [.add, .remove, .replace]
                let flags = [["\\Seen"], ["\\Flagged", "$Work"], ["\\Answered"], ["\\Deleted"]].randomElement(using: &random)!
                _ = try await mail.setFlags(user: user, mailboxID: mailbox.id, uids: some,
                                            operations.randomElement(using: &random)!, flags)
            case 60..<68:
                let target = mailboxes.randomElement(using: &random)!
                _ = try await mail.copy(user: user, from: mailbox.id, uids: some, to: target.id)
            case 68..<76:
                let target = mailboxes.randomElement(using: &random)!
                if target.id != mailbox.id { _ = try await mail.move(user: user, from: mailbox.id, uids: some, to: target.id) }
            case 76..<84:
                _ = try await mail.setFlags(user: user, mailboxID: mailbox.id, uids: some, .add, ["\\Deleted"])
                try await mail.expunge(user: user, mailboxID: mailbox.id, uids: Bool.random(using: &random) ? nil : some)
            case 84..<88:
                let name = "Folder\(Int.random(in: 0..<4, using: &random))"
                if let existing = try await mail.reader.mailbox(user, named: name) {
                    if Bool.random(using: &random) {
                        try await mail.renameMailbox(user: user, from: existing.name, to: "\(name)-\(client)-\(number)")
                    } else {
                        try await mail.deleteMailbox(user: user, name: existing.name)
                    }
                } else {
                    try await mail.createMailbox(user: user, name: "\(name)/Sub\(number % 3)")
                }
            case 88..<94:
                try await directory.updateUser(user) { $0.comments = "note \(client)-\(number)" }
            default:
                let alias = "alias\(Int.random(in: 0..<6, using: &random))@example.com"
                if try await directory.snapshot().aliases[alias] != nil {
                    try await directory.removeAlias(alias)
                } else {
                    try await directory.addAlias(alias, target: user)
                }
            }
        } catch is MailStoreError {
            // A folder another client renamed or deleted first: the operation is refused, as a client's would be.
        } catch is DirectoryError {
            // An alias another client added or removed first.
        }
    }
}

func liveDigests(_ engine: ProjectionEngine) async throws -> [String: [ProjectionEngine.TableDigest]] {
    var digests: [String: [ProjectionEngine.TableDigest]] = [:]
    for projection in engine.projections { digests[projection.name] = try await engine.digests(projection) }
    return digests
}

func lastPosition(_ engine: ProjectionEngine) async throws -> Int64 {
    for try await position in try await engine.client.query(
        "SELECT coalesce(max(global_position), 0) FROM eventlog.events", logger: TestDatabase.logger).decode(Int64.self) {
        return position
    }
    return 0
}

@Suite("Rebuild, verify and replay")
struct RebuildTests {
    @Test("10 000 mixed operations: verify matches, rebuild reproduces every table, replay restores the middle")
    func randomisedWorkload() async throws {
        let total = Int(ProcessInfo.processInfo.environment["PILLARBOX_WORKLOAD_OPERATIONS"] ?? "") ?? 10_000
        try await withDirectory { directory, engine in
            let workload = Workload(directory: directory)
            try await workload.setUp()
            try await workload.run(total / 2, clients: 4, seed: 42)

            try await catchUpAsync(engine)
            let middle = try await liveDigests(engine)
            let middlePosition = try await lastPosition(engine)
            try await workload.run(total - total / 2, clients: 4, seed: 4242)

            try await catchUpAsync(engine)
            for projection in engine.projections {
                let verification = try await engine.verify(projection)
                #expect(verification.matches, "\(projection.name): \(verification.differences)")
            }
            let before = try await liveDigests(engine)
            #expect(before["mailbox"]?.first { $0.table == "messages" }?.rows ?? 0 > 100)
            for projection in engine.projections { try await engine.rebuild(projection) }
            #expect(try await liveDigests(engine) == before)

            try await engine.store.awaitReadable()
            _ = try await engine.replay(until: .position(middlePosition), into: "replay_middle")
            for projection in engine.projections {
                #expect(try await engine.digests(projection, replayedInto: "replay_middle") == middle[projection.name],
                        "\(projection.name)")
            }
        }
    }

    @Test("a rebuild swaps in new tables while writers keep appending")
    func rebuildUnderLoad() async throws {
        try await withDirectory { directory, engine in
            let workload = Workload(directory: directory)
            try await workload.setUp()
            try await workload.run(200, clients: 2, seed: 7)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await workload.run(200, clients: 2, seed: 8) }
                group.addTask { try await engine.rebuild(MailboxProjection()) }
                try await group.waitForAll()
            }
            let verification = try await engine.verify(MailboxProjection())
            #expect(verification.matches, "\(verification.differences)")
        }
    }
}

/// An async projection writing one row per event; it fails once, part-way through a batch, at a chosen event.
struct TrappedProjection: Projection {
    final class Trap: Sendable {
        let armedAt = Mutex<Int64?>(nil)
    }

    let name = "trapped"
    let schema = "trapped"
    let mode = ProjectionMode.async
    let version = 1
    let categories = [MailboxStream.category]
    let trap: Trap

    static let seen = ProjectionTable("seen", columns: [.init("position", .bigint), .init("type", .text)], primaryKey: 1)
    var tables: [ProjectionTable] { [Self.seen] }
    var eventTypes: [any Event.Type] { MailboxProjection().eventTypes }

    struct Crash: Error {}

    func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        let fire = trap.armedAt.withLock { armed in
            guard armed == context.position else { return false }
            armed = nil
            return true
        }
        if fire { throw Crash() }
        rows.insert(into: Self.seen, [.int(context.position), .text(type(of: event).eventType)])
    }
}

@Suite("Async projections")
struct AsyncProjectionTests {
    @Test("an async projection that dies mid-batch resumes with no duplicate and no gap")
    func resumesAfterCrash() async throws {
        try await withMailStore { mail, engine in
            let trap = TrappedProjection.Trap()
            let projection = TrappedProjection(trap: trap)
            let asyncEngine = ProjectionEngine(store: engine.store, projections: engine.projections + [projection],
                                               logger: TestDatabase.logger)
            try await asyncEngine.prepare()
            try await openAccount("alice", mail)
            for number in 0..<40 { try await mail.deliver(sampleMessage(number), to: ["alice"]) }
            try await engine.store.awaitReadable()
            var positions: [Int64] = []
            for try await position in try await engine.client.query("""
                SELECT e.global_position FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                WHERE s.category = 'mailbox' ORDER BY e.global_position
                """).decode(Int64.self) { positions.append(position) }
            trap.armedAt.withLock { $0 = positions[17] }

            let runner = ProjectionRunner(engine: asyncEngine, projection: projection, batchSize: 10)
            await #expect(throws: TrappedProjection.Crash.self) { try await runner.catchUp() }
            var seen: [Int64] = []
            for try await position in try await engine.client.query("SELECT position FROM trapped.seen ORDER BY position")
                .decode(Int64.self) { seen.append(position) }
            #expect(seen == Array(positions[..<10]), "the failed batch left nothing behind")

            try await runner.catchUp()
            seen = []
            for try await position in try await engine.client.query("SELECT position FROM trapped.seen ORDER BY position")
                .decode(Int64.self) { seen.append(position) }
            #expect(seen == positions)
            let verification = try await asyncEngine.verify(projection)
            #expect(verification.matches)
        }
    }
}
