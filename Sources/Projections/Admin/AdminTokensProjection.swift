import EventLog
import Facts
import Foundation
import PostgresNIO

/// `admin.tokens`: the admin API's tokens, by name, with the hash requests are checked against.
public struct AdminTokensProjection: Projection {
    public let name = "admin"
    public let schema = "admin"
    public let mode = ProjectionMode.inline
    public let version = 1
    public let categories = [AdminTokenCreated.category]

    public init() {}

    public static let tokens = ProjectionTable("tokens", columns: [
        .init("name", .text), .init("username", .text), .init("hash", .text), .init("created", .timestamptz),
        .init("createdby", .text), .init("revoked", .timestamptz),
    ], primaryKey: 1, indexes: [["hash"]])

    public var tables: [ProjectionTable] { [Self.tokens] }
    public var eventTypes: [any Event.Type] { [AdminTokenCreated.self, AdminTokenRevoked.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as AdminTokenCreated:
            rows.insert(into: Self.tokens, [
                .text(event.name.lowercased()), .text(event.user), .text(event.hash), .timestamp(context.recordedAt),
                .text(event.actor), .null,
            ])
        case let event as AdminTokenRevoked:
            rows.update(Self.tokens, key: [.text(event.name.lowercased())], ["revoked": .set(.timestamp(context.recordedAt))])
        default:
            break
        }
    }

    /// The user a token acts as, when it is one not revoked.
    public static func user(forHash hash: String, engine: ProjectionEngine) async throws -> String? {
        let rows = try await engine.client.query(
            "SELECT username FROM admin.tokens WHERE hash = \(hash) AND revoked IS NULL", logger: engine.logger)
        for try await user in rows.decode(String.self) { return user }
        return nil
    }
}
