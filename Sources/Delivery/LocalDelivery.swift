import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import ServiceLifecycle

/// The local delivery agent: follows `message_accepted` events and puts each local
/// recipient's copy in their INBOX. A batch's deliveries and the agent's checkpoint commit in
/// one transaction, so every accepted message is delivered exactly once, also across crashes.
/// The SMTP gateway's `250` already waited for `MessageAccepted` to be durable; this agent
/// only moves it into mailboxes, usually within milliseconds.
public struct LocalDelivery: Service {
    public static let consumerName = "local-delivery"

    let engine: ProjectionEngine
    let mail: MailStore
    let batchSize: Int
    let logger: Logger

    public init(engine: ProjectionEngine, batchSize: Int = 200, logger: Logger) {
        self.engine = engine
        self.mail = MailStore(engine: engine)
        self.batchSize = batchSize
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await engine.store.follow(logger: logger, what: "local delivery") { try await catchUp() }
        }
    }

    /// Delivers everything accepted so far; returns how many messages it read.
    @discardableResult
    public func catchUp() async throws -> Int {
        var total = 0
        while true {
            guard let count = try await deliverBatch() else { return total }
            total += count
            if count < batchSize { return total }
        }
    }

    /// The bodies of a batch. A body that fails its SHA-256 check (altered in the database) is
    /// left out, and its message is not delivered, rather than holding up every later message.
    private func readBodies(_ ids: [BlobID], on connection: PostgresConnection) async throws -> [BlobID: [UInt8]] {
        do {
            return try await engine.store.blobs(ids, on: connection)
        } catch is BlobTampered {
            var bodies: [BlobID: [UInt8]] = [:]
            for id in ids {
                do {
                    bodies.merge(try await engine.store.blobs([id], on: connection)) { $1 }
                } catch let error as BlobTampered {
                    logger.critical("not delivering a message whose body was altered", metadata: ["blob": "\(error.blob.hex)"])
                }
            }
            return bodies
        }
    }

    /// One batch in one transaction; nil when another process is delivering.
    private func deliverBatch() async throws -> Int? {
        let store = engine.store
        let decoder = EventCoding.decoder()
        return try await engine.transaction { transaction in
            let connection = transaction.connection
            let lockRows = try await connection.query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended('pillarbox consumer ' || \(Self.consumerName), 0))",
                logger: logger)
            var locked = false
            for try await value in lockRows.decode(Bool.self) { locked = value }
            guard locked else { return nil }

            let cursor = try await ConsumerCheckpoints.load(Self.consumerName, on: connection, logger: logger)
            let events = try await store.read(after: cursor, categories: [MessageAccepted.category], limit: batchSize,
                                              on: connection)
            guard let last = events.last else { return 0 }
            var accepted: [(MessageAccepted, Date)] = []
            for recorded in events where recorded.type == MessageAccepted.eventType {
                do {
                    accepted.append((try decoder.decode(MessageAccepted.self, from: Data(recorded.json)), recorded.recordedAt))
                } catch {
                    logger.error("skipping an accepted message that does not decode",
                                 metadata: ["position": "\(recorded.position)", "error": "\(error)"])
                }
            }
            let local = accepted.filter { message, _ in message.recipients.contains { $0.route == .local } }
            let bodies = try await readBodies(Array(Set(local.map { $0.0.blob })), on: connection)
            var batch: [MailStore.Delivery] = []
            for (message, recordedAt) in local {
                guard let body = bodies[message.blob] else {
                    logger.error("an accepted message's body is missing", metadata: ["message": "\(message.messageID)"])
                    continue
                }
                let users = message.recipients.compactMap { $0.route == .local ? $0.user : nil }
                batch.append(MailStore.Delivery(blob: message.blob, size: Int64(body.count), summary: MIMEParser.summarise(body),
                                                users: users, internalDate: recordedAt))
            }
            if !batch.isEmpty {
                let (appends, skipped) = try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "DIST")) {
                    try await mail.deliveries(batch, in: transaction)
                }
                if !skipped.isEmpty {
                    logger.warning("recipients without a mailbox were skipped", metadata: ["users": "\(skipped)"])
                }
                if !appends.isEmpty { try await transaction.append(appends) }
            }
            try await ConsumerCheckpoints.save(Self.consumerName, cursor: LogCursor(transaction: last.transaction, position: last.position),
                                               on: connection, logger: logger)
            return events.count
        }
    }
}
