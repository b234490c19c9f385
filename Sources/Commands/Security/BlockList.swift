import EventLog
import Facts
import Foundation
import MailCore
import PostgresNIO
import Projections

/// An administrator's changes to the IPS block list (`pillarbox blocks`, the web admin):
/// `client_blocked` and `client_unblocked` on the block list's stream.
public struct BlockList: Sendable {
    public let engine: ProjectionEngine

    public init(engine: ProjectionEngine) {
        self.engine = engine
    }

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        public let notFound: Bool
    }

    static var stream: StreamName { get throws { try StreamName(category: ClientBlocked.category, id: "main") } }

    /// Blocks an address or network for `minutes` (1 to 999 999 999); returns until when.
    @discardableResult
    public func block(_ address: String, minutes: Int, reason: String, actor: String, now: Date = Date()) async throws -> Date {
        guard IPNetwork(address) != nil else { throw Problem(description: "\(address) is not an IP address or network", notFound: false) }
        guard (1...999_999_999).contains(minutes) else { throw Problem(description: "minutes must be in 1...999999999", notFound: false) }
        guard !reason.isEmpty, reason.count <= 500 else { throw Problem(description: "a reason of 1 to 500 characters is needed", notFound: false) }
        let blocked = ClientBlocked(address: address, until: now.addingTimeInterval(Double(minutes) * 60), reason: reason, actor: actor)
        _ = try await engine.transaction { transaction in
            _ = try await transaction.append([PendingEvent(blocked)], to: try Self.stream, expectedVersion: .any)
        }
        return blocked.until
    }

    /// Lifts a block; the address's IDS events are marked ignored.
    public func unblock(_ address: String, actor: String) async throws {
        let rows = try await engine.store.client.query("SELECT count(*) FROM security.blocks WHERE address = \(address)",
                                                       logger: engine.logger)
        var count = 0
        for try await value in rows.decode(Int.self) { count = value }
        guard count > 0 else { throw Problem(description: "\(address) is not on the block list", notFound: true) }
        _ = try await engine.transaction { transaction in
            _ = try await transaction.append([PendingEvent(ClientUnblocked(address: address, actor: actor))], to: try Self.stream,
                                             expectedVersion: .any)
        }
    }
}
