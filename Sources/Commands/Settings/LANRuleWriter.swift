import EventLog
import Facts
import Projections

/// Adds, changes, moves and removes LAN forwarding rules (`lan.forwarding`), sealing their
/// passwords into the vault in the same transaction: the setting names the secret.
public struct LANRuleWriter: Sendable {
    public let settings: SettingWriter
    public let vault: SecretVault?

    public init(engine: ProjectionEngine, vault: SecretVault?) {
        self.settings = SettingWriter(engine: engine)
        self.vault = vault
    }

    /// Creates the rule `name` (last in order) or changes it; `position` (1-based) moves it.
    @discardableResult
    public func set(_ name: String, password: SenderWriter.Password, position: Int?, actor: String,
                    _ edit: @escaping @Sendable (inout LANForwardRule) -> Void) async throws -> LANForwardRule {
        let vault = self.vault
        let rules = try await settings.update(.lanForwarding, actor: actor) { rules, connection in
            let index = rules.firstIndex { $0.name.lowercased() == name.lowercased() }
            var rule = index.map { rules[$0] } ?? LANForwardRule(name: name)
            edit(&rule)
            rule.passwordSecret = try await password.sealed(replacing: rule.passwordSecret, vault: vault, purpose: LANForwardRule.passwordPurpose,
                                                            subject: LANForwardRule.passwordSubject(name), on: connection)
            if let index { rules.remove(at: index) }
            let at = position.map { min(max($0 - 1, 0), rules.count) } ?? index ?? rules.count
            rules.insert(rule, at: at)
        }
        return rules.first { $0.name.lowercased() == name.lowercased() }!
    }

    public func remove(_ name: String, actor: String) async throws {
        let vault = self.vault
        try await settings.update(.lanForwarding, actor: actor) { rules, connection in
            guard let index = rules.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw SettingProblem("no LAN forwarding rule named \(name)")
            }
            if let secret = rules[index].passwordSecret, let vault { try await vault.delete([secret], on: connection) }
            rules.remove(at: index)
        }
    }
}
