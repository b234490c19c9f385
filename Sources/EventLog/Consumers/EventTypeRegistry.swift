import Foundation
import Logging
import Synchronization

/// The event types a consumer reads. The other types the server knows (`passingOver`) are
/// skipped silently; anything else — a type added by a newer Pillarbox, or a newer schema
/// version of a known type — is skipped with one warning per type, never a crash: the log
/// outlives every version of the code reading it.
public final class EventTypeRegistry: Sendable {
    private let decoders: [String: (version: Int16, type: any Event.Type, decode: @Sendable (RecordedEvent) throws -> any Event)]
    private let known: [String: Int16]
    private let warned = Mutex(Set<String>())

    public init(_ types: [any Event.Type], passingOver others: [any Event.Type] = []) {
        var decoders: [String: (version: Int16, type: any Event.Type, decode: @Sendable (RecordedEvent) throws -> any Event)] = [:]
        for type in types {
            decoders[type.eventType] = (type.schemaVersion, type, { try $0.decode(as: type) })
        }
        self.decoders = decoders
        var known: [String: Int16] = [:]
        for type in others { known[type.eventType] = max(known[type.eventType] ?? 0, type.schemaVersion) }
        self.known = known
    }

    /// The decoded event, or nil when the consumer does not read it (after a warning, once per
    /// type, when no part of the server knows it).
    public func decode(_ recorded: RecordedEvent, logger: Logger) throws -> (any Event)? {
        try decode(recorded, shared: nil, logger: logger)
    }

    /// As `decode`; with `shared`, an event another follower of the same log decoded lately is
    /// not decoded again.
    func decode(_ recorded: RecordedEvent, shared: DecodedEvents?, logger: Logger) throws -> (any Event)? {
        guard let decoder = decoders[recorded.type], recorded.typeVersion <= decoder.version else {
            if decoders[recorded.type] == nil, let version = known[recorded.type], recorded.typeVersion <= version { return nil }
            let key = "\(recorded.type)/\(recorded.typeVersion)"
            if warned.withLock({ $0.insert(key).inserted }) {
                logger.warning("skipping events of unknown type", metadata: [
                    "type": "\(recorded.type)", "type_version": "\(recorded.typeVersion)",
                    "first_position": "\(recorded.position)",
                ])
            }
            return nil
        }
        guard let shared else { return try decoder.decode(recorded) }
        return try shared.event(at: recorded.position, as: decoder.type) { try decoder.decode(recorded) }
    }
}
