import Facts
import PostgresNIO

/// Reads runtime settings from `settings.settings`; `SettingWriter` changes them.
public struct Settings: Sendable {
    public let engine: ProjectionEngine
    public init(engine: ProjectionEngine) { self.engine = engine }

    /// The current value, or the default when never set.
    public func value<Value>(_ key: SettingKey<Value>) async throws -> Value {
        guard let json = try await json(key.name), let value = SettingJSON.decode(Value.self, from: json) else {
            return key.defaultValue
        }
        return value
    }

    /// The stored JSON of a setting, nil when never set.
    public func json(_ name: String) async throws -> String? {
        try await engine.client.withConnection { try await json(name, on: $0) }
    }

    /// The stored JSON of a setting as `connection` sees it, for a change decided in its transaction.
    package func json(_ name: String, on connection: PostgresConnection) async throws -> String? {
        let rows = try await connection.query("SELECT value::text FROM settings.settings WHERE key = \(name)",
                                              logger: engine.logger)
        for try await value in rows.decode(String.self) { return value }
        return nil
    }

    /// Every changed setting as `connection` sees it, read at once: a consumer of the log
    /// reads this per batch, so a message accepted after a change is handled with it (the
    /// settings table is written in the transaction of the change).
    package func snapshot(on connection: PostgresConnection) async throws -> SettingsSnapshot {
        var values: [String: String] = [:]
        for try await (key, value) in try await connection.query("SELECT key, value::text FROM settings.settings",
                                                                logger: engine.logger).decode((String, String).self) {
            values[key] = value
        }
        return SettingsSnapshot(values: values)
    }

    /// The settings that were changed: each one's JSON and the log position of its last change.
    public func stored() async throws -> [(name: String, json: String, position: Int64)] {
        var stored: [(name: String, json: String, position: Int64)] = []
        for try await (key, value, position) in try await engine.client.query(
            "SELECT key, value::text, position FROM settings.settings", logger: engine.logger).decode((String, String, Int64).self) {
            stored.append((key, value, position))
        }
        return stored
    }

    /// Every known setting with its value (the default when never set).
    public func list() async throws -> [(key: AnySettingKey, json: String, isDefault: Bool)] {
        var stored: [String: String] = [:]
        for setting in try await self.stored() { stored[setting.name] = setting.json }
        return SettingKeys.all.map { key in (key, stored[key.name] ?? key.defaultJSON, stored[key.name] == nil) }
    }
}

/// The settings as they stood at one moment, read synchronously.
public struct SettingsSnapshot: Sendable {
    let values: [String: String]

    public init(values: [String: String]) { self.values = values }

    /// The value, or the default when never set (or no longer decoding).
    public func value<Value>(_ key: SettingKey<Value>) -> Value {
        guard let json = values[key.name], let value = SettingJSON.decode(Value.self, from: json) else { return key.defaultValue }
        return value
    }
}
