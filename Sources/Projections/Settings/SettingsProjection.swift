import EventLog
import Facts

/// `settings.settings`: each changed setting's current value, who set it and at which position.
public struct SettingsProjection: Projection {
    public let name = "settings"
    public let schema = "settings"
    public let mode = ProjectionMode.inline
    public let version = 1
    public let categories = [SettingsStream.category]

    public init() {}

    public static let settings = ProjectionTable("settings", columns: [
        .init("key", .text), .init("value", .jsonb), .init("changed_by", .text), .init("position", .bigint),
    ], primaryKey: 1)

    public var tables: [ProjectionTable] { [Self.settings] }
    public var eventTypes: [any Event.Type] { [SettingChanged.self] }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        guard let event = event as? SettingChanged else { return }
        rows.insert(into: Self.settings, [.text(event.key), .json(event.new), .text(event.actor), .int(context.position)])
    }
}
