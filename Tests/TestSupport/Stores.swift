import Commands
import EventLog
import Facts
import Projections

// Stores over a fresh database, with every projection prepared, for tests of the commands and
// of what the projections make of their facts.

/// A store with the mailbox projection, prepared, for one test.
public func withMailStore<T: Sendable>(_ body: @Sendable (MailStore, ProjectionEngine) async throws -> T) async throws -> T {
    try await TestDatabase.withStore { store in
        let engine = ProjectionEngine(store: store, projections: PillarboxProjections.all, logger: TestDatabase.logger)
        try await engine.prepare()
        return try await body(MailStore(engine: engine), engine)
    }
}

public func openAccount(_ user: String, _ mail: MailStore) async throws {
    try await mail.engine.transaction { try await mail.openAccount(user, in: $0) }
}

public func sampleMessage(_ number: Int, bodyLines: Int = 3) -> [UInt8] {
    var text = "From: Sender \(number) <sender\(number)@example.net>\r\nTo: alice@example.com\r\n"
        + "Subject: message \(number)\r\nMessage-ID: <m\(number)@example.net>\r\n\r\n"
    for line in 0..<bodyLines { text += "line \(line) of message \(number)\r\n" }
    return Array(text.utf8)
}

/// Cheap password hashing for tests: the parameters are stored with each hash.
public let testCost = Credentials.Cost(scryptLogN: 10, scryptBlockSize: 8, scramIterations: 4_096)

public func withDirectory<T: Sendable>(_ body: @Sendable (Directory, ProjectionEngine) async throws -> T) async throws -> T {
    try await withMailStore { _, engine in
        try await body(Directory(engine: engine, passwordCost: testCost), engine)
    }
}

/// Brings every async projection to the end of the log, as their runners in `serve` would.
public func catchUpAsync(_ engine: ProjectionEngine) async throws {
    try await engine.store.awaitReadable()
    for projection in engine.projections where projection.mode == .async {
        try await ProjectionRunner(engine: engine, projection: projection).catchUp()
    }
}
