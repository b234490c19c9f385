import Commands
import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import ServiceLifecycle

/// The local delivery agent: a `LogConsumer` of `message_accepted` events that puts each local
/// recipient's copy in their INBOX. A batch's deliveries and the agent's checkpoint commit in
/// one transaction, so every accepted message is delivered exactly once, also across crashes.
/// The SMTP gateway's `250` already waited for `MessageAccepted` to be durable; this agent
/// only moves it into mailboxes, usually within milliseconds.
public struct LocalDelivery: ConsumerAgent {
    public static let consumerName = "local-delivery"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, batchSize: Int = 200, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let filing = Filing(engine: engine, mail: MailStore(engine: engine), logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [MessageAccepted.category], store: engine.store,
                               registry: EventTypeRegistry([MessageAccepted.self], passingOver: EventCatalogue.all),
                               batchSize: batchSize, logger: logger) { batch, connection in
            try await filing.deliver(batch, on: connection)
        }
    }


}

/// What the agent does with a batch.
struct Filing: Sendable {
    let engine: ProjectionEngine
    let mail: MailStore
    let logger: Logger

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

    /// Files a batch's local copies, in the consumer's transaction.
    func deliver(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        let accepted = batch.items.compactMap { item in
            (item.event as? MessageAccepted).map { ($0, item.recorded.recordedAt) }
        }
        let local = accepted.filter { message, _ in message.recipients.contains { $0.route == .local } }
        guard !local.isEmpty else { return }
        let bodies = try await readBodies(Array(Set(local.map { $0.0.blob })), on: connection)
        var deliveries: [MailStore.Delivery] = []
        for (message, recordedAt) in local {
            guard let body = bodies[message.blob] else {
                logger.error("an accepted message's body is missing", metadata: ["message": "\(message.messageID)"])
                continue
            }
            let users = message.recipients.compactMap { $0.route == .local ? $0.user : nil }
            deliveries.append(MailStore.Delivery(blob: message.blob, size: Int64(body.count), summary: MIMEParser.summariseForStorage(body),
                                                 users: users, internalDate: recordedAt,
                                                 mailbox: message.junk == true ? "Junk" : "INBOX"))
        }
        guard !deliveries.isEmpty else { return }
        let transaction = try await engine.transaction(joining: connection)
        let (appends, skipped) = try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "DIST")) {
            try await mail.deliveries(deliveries, in: transaction)
        }
        if !skipped.isEmpty {
            logger.warning("recipients without a mailbox were skipped", metadata: ["users": "\(skipped)"])
        }
        if !appends.isEmpty { try await transaction.append(appends) }
    }
}
