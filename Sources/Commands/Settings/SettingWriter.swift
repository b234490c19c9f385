import EventLog
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
