import EventLog
import Facts
import Foundation
import PostgresNIO

/// Blocked client addresses (`security.blocks`): what the IPS and the administrators blocked,
/// with expiry. Expired rows stay until the address is blocked again or unblocked; readers
/// compare `until` with their clock.
public struct BlocksProjection: Projection {
    public let name = "blocks"
    public let schema = "security"
    public let mode = ProjectionMode.inline
    public let version = 1
    public let categories = [ClientBlocked.category]

    public init() {}

    public static let blocks = ProjectionTable("blocks", columns: [
        .init("address", .text), .init("blocked_at", .timestamptz), .init("until", .timestamptz),
        .init("reason", .text), .init("actor", .text),
    ], primaryKey: 1)

    public var tables: [ProjectionTable] { [Self.blocks] }
    public var eventTypes: [any Event.Type] { [ClientBlocked.self, ClientUnblocked.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as ClientBlocked:
            rows.delete(from: Self.blocks, key: [.text(event.address)])
            rows.insert(into: Self.blocks, [
                .text(event.address), .timestamp(context.recordedAt), .timestamp(event.until), .text(event.reason),
                .text(event.actor),
            ])
        case let event as ClientUnblocked:
            rows.delete(from: Self.blocks, key: [.text(event.address)])
        default:
            break
        }
    }
}

extension BlocksProjection {
    /// The blocks still in force at the database's clock: address or network, and until when.
    public static func current(engine: ProjectionEngine) async throws -> [(address: String, until: Date)] {
        let rows = try await engine.client.query("SELECT address, until FROM security.blocks WHERE until > now()",
                                                 logger: engine.logger)
        var blocks: [(String, Date)] = []
        for try await (address, until) in rows.decode((String, Date).self) { blocks.append((address, until)) }
        return blocks
    }
}
