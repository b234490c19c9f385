import EventLog
import Facts
import Foundation
import PostgresNIO
import Projections

/// Adds, changes and removes mail senders (`outqueue.senders`), sealing relay passwords into
/// the vault in the same transaction: the setting names the secret, never holds it.
public struct SenderWriter: Sendable {
    public enum Password: Sendable {
        case keep
        case clear
        case set(String)

        /// The vault id the setting keeps after this change to the password it held (`old`):
        /// a new one is sealed and the old one deleted, in the transaction on `connection`.
        func sealed(replacing old: UUID?, vault: SecretVault?, purpose: String, subject: String,
                    on connection: PostgresConnection) async throws -> UUID? {
            var secret = old
            switch self {
            case .keep: return old
            case .clear: secret = nil
            case .set(let text):
                guard let vault else { throw SettingProblem("passwords are sealed with the key in the key directory, which is not available here") }
                secret = try await vault.store(Array(text.utf8), purpose: purpose, subject: subject, on: connection)
            }
            if let old, let vault { try await vault.delete([old], on: connection) }
            return secret
        }
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
            sender.passwordSecret = try await password.sealed(replacing: sender.passwordSecret, vault: vault, purpose: MailSender.passwordPurpose,
                                                              subject: MailSender.passwordSubject(name), on: connection)
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
