import EventLog
import Facts
import Foundation
import Logging

extension OutboundMessage {
    private static let registry = EventTypeRegistry(DeliveryFacts.types, passingOver: EventCatalogue.all)

    /// The message as its stream stands now, with the id of its `message_accepted` event; nil
    /// when the stream holds no accepted message with remote recipients.
    public static func load(_ messageID: String, from store: EventStore,
                            logger: Logger) async throws -> (message: OutboundMessage, acceptedEventID: UUID)? {
        try await load([messageID], from: store, logger: logger)[messageID]
    }

    /// Several messages at once (one query for all their streams), by message id; those with
    /// no accepted message with remote recipients are left out.
    public static func load(_ messageIDs: [String], from store: EventStore,
                            logger: Logger) async throws -> [String: (message: OutboundMessage, acceptedEventID: UUID)] {
        let streams = try messageIDs.map { try DeliveryFacts.stream($0) }
        let read = try await store.read(streams: streams)
        var loaded: [String: (message: OutboundMessage, acceptedEventID: UUID)] = [:]
        for (id, stream) in zip(messageIDs, streams) {
            var events: [(event: any Event, recorded: RecordedEvent)] = []
            for recorded in read[stream.key] ?? [] {
                if let event = try registry.decode(recorded, logger: logger) { events.append((event, recorded)) }
            }
            guard let message = OutboundMessage(stream: events), let first = events.first else { continue }
            loaded[id] = (message, first.recorded.eventID)
        }
        return loaded
    }
}
