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
            if old == json { return value }
            try await transaction.append([PendingEvent(SettingChanged(key: key.name, old: old, new: json, actor: actor))],
                                         to: SettingsStream.main, expectedVersion: expected)
            return value
        }
    }
}

/// Adds, changes and removes mail senders (`outqueue.senders`), sealing relay passwords into
/// the vault in the same transaction: the setting names the secret, never holds it.
public struct SenderWriter: Sendable {
    public enum Password: Sendable {
        case keep
        case clear
        case set(String)
    }

    public let settings: SettingWriter
    public let vault: SecretVault?

    public init(engine: ProjectionEngine, vault: SecretVault?) {
        self.settings = SettingWriter(engine: engine)
        self.vault = vault
    }

    /// Creates the sender `name` (a direct one unless `edit` says otherwise) or changes it.
    @discardableResult
    public func set(_ name: String, password: Password, actor: String,
                    _ edit: @escaping @Sendable (inout MailSender) -> Void) async throws -> MailSender {
        let vault = self.vault
        let senders = try await settings.update(.senders, actor: actor) { senders, connection in
            let index = senders.firstIndex { $0.name.lowercased() == name.lowercased() }
            var sender = index.map { senders[$0] } ?? MailSender(name: name, method: .direct)
            edit(&sender)
            let old = sender.passwordSecret
            switch password {
            case .keep: break
            case .clear: sender.passwordSecret = nil
            case .set(let text):
                guard let vault else { throw SettingProblem("relay passwords are sealed with the key in the key directory, which is not available here") }
                sender.passwordSecret = try await vault.store(Array(text.utf8), purpose: MailSender.passwordPurpose,
                                                              subject: MailSender.passwordSubject(name), on: connection)
            }
            if let old, old != sender.passwordSecret, let vault { try await vault.delete([old], on: connection) }
            if sender.isDefault {
                for other in senders.indices where other != index { senders[other].isDefault = false }
            }
            if let index { senders[index] = sender } else { senders.append(sender) }
        }
        return senders.first { $0.name.lowercased() == name.lowercased() }!
    }

    public func remove(_ name: String, actor: String) async throws {
        let vault = self.vault
        try await settings.update(.senders, actor: actor) { senders, connection in
            guard let index = senders.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw SettingProblem("no sender named \(name)")
            }
            if let secret = senders[index].passwordSecret, let vault { try await vault.delete([secret], on: connection) }
            senders.remove(at: index)
        }
    }
}
