import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections
import ServiceLifecycle

/// Replies to the notices of messages left on an ISP's server for their size. A notice's
/// reply address is `collector-fetch+TOKEN@<local domain>`, which the router accepts and
/// discards; this consumer of `message_accepted` finds such a recipient, looks the token up in
/// `collection.left`, and appends `collected_message_fetch_requested` in its batch's
/// transaction (so the request is recorded exactly once), after which the collector's next run
/// downloads the message, if it was first left at most 14 days ago.
public struct CollectionReplies: ConsumerAgent {
    public static let consumerName = "collection-replies"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        consumer = LogConsumer(name: Self.consumerName, categories: [MessageAccepted.category], store: engine.store,
                               registry: EventTypeRegistry([MessageAccepted.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { [logger] batch, connection in
            try await Self.handle(batch, engine: engine, on: connection, logger: logger)
        }
    }


    /// The token in a reply address, when it is one.
    static func token(in address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let local = address[..<at].lowercased()
        guard local.hasPrefix(MessageLeftOnServer.replyPrefix) else { return nil }
        let token = local.dropFirst(MessageLeftOnServer.replyPrefix.count)
        guard token.count == 32, token.allSatisfy(\.isHexDigit) else { return nil }
        return String(token)
    }

    static func handle(_ batch: ConsumerBatch, engine: ProjectionEngine, on connection: PostgresConnection, logger: Logger) async throws {
        var requests: [CollectedMessageFetchRequested] = []
        var seen = Set<String>()
        for item in batch.items {
            guard let message = item.event as? MessageAccepted else { continue }
            for recipient in message.recipients where recipient.route == .discarded {
                guard let token = token(in: recipient.address), seen.insert(token).inserted,
                      let left = try await CollectionProjection.left(token: token, on: connection, logger: logger) else { continue }
                guard !left.fetchRequested else { continue }
                guard item.recorded.recordedAt.timeIntervalSince(left.firstSeen) <= MessageLeftOnServer.fetchWindow else {
                    logger.info("a reply asked for a message left on the server too long ago",
                                metadata: ["collector": "\(left.collector)", "uidl": "\(left.uidl)"])
                    continue
                }
                requests.append(CollectedMessageFetchRequested(collector: left.collector, uidl: left.uidl,
                                                               messageID: message.messageID,
                                                               sender: message.authUser ?? message.reversePath))
            }
        }
        guard !requests.isEmpty else { return }
        let transaction = try await engine.transaction(joining: connection)
        for request in requests {
            try await transaction.append([PendingAppend(stream: try MessageCollected.stream(collector: request.collector),
                                                        expectedVersion: .any, events: [PendingEvent(request)])])
            logger.info("a reply asked for a message left on the server", metadata: ["collector": "\(request.collector)",
                                                                                      "uidl": "\(request.uidl)", "by": "\(request.sender)"])
        }
    }
}
