import EventLog
import Facts
import Foundation
import PostgresNIO
import Projections

/// Adds, changes and removes mail collectors (`collection.collectors`), sealing their
/// passwords into the vault in the same transaction: the setting names the secret, never holds it.
public struct CollectorWriter: Sendable {
    public let settings: SettingWriter
    public let vault: SecretVault?

    public init(engine: ProjectionEngine, vault: SecretVault?) {
        self.settings = SettingWriter(engine: engine)
        self.vault = vault
    }

    /// Creates the collector `name` from `make` or changes it with `edit`.
    @discardableResult
    public func set(_ name: String, password: SenderWriter.Password, actor: String,
                    make: @escaping @Sendable () throws -> MailCollector,
                    _ edit: @escaping @Sendable (inout MailCollector) -> Void) async throws -> MailCollector {
        let vault = self.vault
        let collectors = try await settings.update(.collectors, actor: actor) { collectors, connection in
            let index = collectors.firstIndex { $0.name.lowercased() == name.lowercased() }
            var collector = try index.map { collectors[$0] } ?? make()
            edit(&collector)
            collector.passwordSecret = try await password.sealed(replacing: collector.passwordSecret, vault: vault,
                                                                 purpose: MailCollector.passwordPurpose,
                                                                 subject: MailCollector.passwordSubject(name), on: connection)
            if let index { collectors[index] = collector } else { collectors.append(collector) }
        }
        return collectors.first { $0.name.lowercased() == name.lowercased() }!
    }

    public func remove(_ name: String, actor: String) async throws {
        let vault = self.vault
        try await settings.update(.collectors, actor: actor) { collectors, connection in
            guard let index = collectors.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw SettingProblem("no collector named \(name)")
            }
            if let secret = collectors[index].passwordSecret, let vault { try await vault.delete([secret], on: connection) }
            collectors.remove(at: index)
        }
    }

    /// `pillarbox collect now [NAME]`.
    public func request(_ name: String?, actor: String) async throws {
        let collectors = try await Settings(engine: settings.engine).value(SettingKey.collectors)
        if let name, !collectors.contains(where: { $0.name.lowercased() == name.lowercased() }) {
            throw SettingProblem("no collector named \(name)")
        }
        try await settings.engine.store.append([StreamAppend(stream: try CollectionRequested.stream, expectedVersion: .any,
                                                             events: [try EventData(CollectionRequested(collector: name, actor: actor))])])
    }

    /// Forgets the UIDLs `name` collected (since `since`), so they are fetched again; the
    /// UIDLs forgotten.
    @discardableResult
    public func redownload(_ name: String, since: Date?, actor: String) async throws -> [String] {
        let collectors = try await Settings(engine: settings.engine).value(SettingKey.collectors)
        guard let collector = collectors.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw SettingProblem("no collector named \(name)")
        }
        let engine = settings.engine
        var uidls: [String] = []
        let lower = collector.name.lowercased()
        let rows = try await engine.store.client.query("""
            SELECT uidl FROM collection.uidls WHERE collector = \(lower) AND collected >= \(since ?? Date(timeIntervalSince1970: 0))
            UNION SELECT uidl FROM collection.left WHERE collector = \(lower) ORDER BY 1
            """, logger: engine.logger)
        for try await uidl in rows.decode(String.self) { uidls.append(uidl) }
        guard !uidls.isEmpty else { return [] }
        let stream = try MessageCollected.stream(collector: collector.name)
        let event = CollectorUIDLsForgotten(collector: collector.name, uidls: uidls, since: since, actor: actor)
        try await engine.transaction { transaction in
            try await transaction.append([PendingAppend(stream: stream, expectedVersion: .any, events: [PendingEvent(event)])])
        }
        return uidls
    }
}
