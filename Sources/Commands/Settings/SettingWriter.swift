import EventLog
import Foundation
import Facts
import PostgresNIO
import Projections

/// The one writer of `setting_changed`: checks a value against its key's rule and records the
/// change when it differs from the stored one. Used by the CLI and the web admin.
public struct SettingWriter: Sendable {
    public let engine: ProjectionEngine

    public init(engine: ProjectionEngine) {
        self.engine = engine
    }

    /// Sets a setting from text (JSON, or a bare word for strings); returns the stored JSON.
    @discardableResult
    public func set(_ name: String, to text: String, actor: String) async throws -> String {
        guard let key = SettingKeys.named(name) else { throw SettingProblem("no setting named \(name)") }
        let json: String
        switch key.normalise(text) {
        case .success(let value): json = value
        case .failure(let problem): throw SettingProblem("\(name) \(problem.description)")
        }
        try Self.refuseNUL(json, name: name)
        return try await engine.transaction { transaction in
            let expected = try await transaction.expectedVersion(of: SettingsStream.main)
            let old = try await Settings(engine: engine).json(name, on: transaction.connection)
            if old == json { return json }
            try await transaction.append([PendingEvent(SettingChanged(key: name, old: old, new: json, actor: actor))],
                                         to: SettingsStream.main, expectedVersion: expected)
            return json
        }
    }
}

extension SettingWriter {
    /// No text setting holds a NUL: it is never meant, and PostgreSQL's jsonb cannot keep it.
    static func refuseNUL(_ json: String, name: String) throws {
        if json.contains("\\u0000") { throw SettingProblem("\(name) must not hold a NUL character") }
    }

    /// Changes a setting's value in place, inside one transaction with whatever `change` does on
    /// its connection (a secret sealed into the vault with it); the new value is checked by the
    /// key's rule before it is recorded.
    @discardableResult
    public func update<Value>(_ key: SettingKey<Value>, actor: String,
                              _ change: @Sendable (inout Value, PostgresConnection) async throws -> Void) async throws -> Value {
        try await engine.transaction { transaction in
            let expected = try await transaction.expectedVersion(of: SettingsStream.main)
            let old = try await Settings(engine: engine).json(key.name, on: transaction.connection)
            var value = old.flatMap { SettingJSON.decode(Value.self, from: $0) } ?? key.defaultValue
            try await change(&value, transaction.connection)
            if let problem = key.check(value) { throw SettingProblem("\(key.name): \(problem)") }
            let json = SettingJSON.encode(value)
            try Self.refuseNUL(json, name: key.name)
            if old == json { return value }
            try await transaction.append([PendingEvent(SettingChanged(key: key.name, old: old, new: json, actor: actor))],
                                         to: SettingsStream.main, expectedVersion: expected)
            return value
        }
    }
}
