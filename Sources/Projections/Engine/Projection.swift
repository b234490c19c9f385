import EventLog
import Foundation

/// How a projection keeps up with the log.
public enum ProjectionMode: String, Sendable {
    /// Applied in the transaction that appends the event: a writer sees its own change at once.
    case inline
    /// Applied by a service following the log, checkpoint and rows committed together.
    case async
}

/// Where an event sits in the log, for `apply`.
public struct EventContext: Sendable {
    public let position: Int64
    public let stream: StreamName
    public let streamVersion: Int64
    public let eventID: UUID
    public let recordedAt: Date

    public init(position: Int64, stream: StreamName, streamVersion: Int64, eventID: UUID, recordedAt: Date) {
        self.position = position
        self.stream = stream
        self.streamVersion = streamVersion
        self.eventID = eventID
        self.recordedAt = recordedAt
    }
}

/// A read model derived from the log: disposable, rebuilt from the log to the same rows.
///
/// `apply` is deterministic: it reads no clock, draws no random value and queries nothing; the
/// event and its context are all it sees. It writes through a `RowWriter`.
public protocol Projection: Sendable {
    /// The name used on the command line: `pillarbox rebuild mailbox`.
    var name: String { get }
    /// The schema holding the live tables.
    var schema: String { get }
    var mode: ProjectionMode { get }
    /// Raised whenever `tables` or `apply` change meaning: the live tables are then rebuilt at start-up.
    var version: Int { get }
    /// Stream categories whose events it reads.
    var categories: [String] { get }
    var tables: [ProjectionTable] { get }
    var eventTypes: [any Event.Type] { get }

    func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws

    /// Views over the tables, created with them in the same schema (and swapped with them).
    var views: [ProjectionView] { get }
}

/// A view a projection offers over its tables, for readers who want them joined.
public struct ProjectionView: Sendable {
    public let name: String
    /// The SELECT, given where the projection's tables are.
    public let select: @Sendable (ProjectionTarget) -> String

    public init(_ name: String, select: @escaping @Sendable (ProjectionTarget) -> String) {
        precondition(ProjectionTarget.isIdentifier(name), "bad view name \(name)")
        self.name = name
        self.select = select
    }
}

extension Projection {
    public var views: [ProjectionView] { [] }
}

extension Projection {
    /// Identifies the table layout and `apply` version: stored with the tables, compared at start-up.
    var definition: String {
        var text = "\(name) v\(version) \(mode.rawValue) [\(categories.joined(separator: ","))]"
        for table in tables {
            text += " \(table.name)(" + table.columns.map { "\($0.name) \($0.type.rawValue)" }.joined(separator: ",")
                + ") key \(table.primaryKeyCount) idx [" + table.indexes.map(\.description).joined(separator: ", ") + "]"
        }
        for view in views {
            text += " view \(view.name) " + view.select(try! ProjectionTarget(schema: schema))
        }
        return text
    }

    /// The advisory lock every inline writer holds shared and a swap holds exclusively.
    var lockName: String { "pillarbox projection \(name)" }

    func liveTarget() throws -> ProjectionTarget { try ProjectionTarget(schema: schema) }
}
