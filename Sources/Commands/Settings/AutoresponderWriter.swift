import EventLog
import Facts
import Foundation
import Projections

/// Adds, changes and removes autoresponders (`mail.autoresponders`), and clears a user's log
/// of answered senders.
public struct AutoresponderWriter: Sendable {
    public let settings: SettingWriter

    public init(engine: ProjectionEngine) {
        self.settings = SettingWriter(engine: engine)
    }

    /// Creates `user`'s autoresponder `name` from `make`, or changes it with `edit`.
    @discardableResult
    public func set(user: String, name: String, actor: String, make: @escaping @Sendable () throws -> Autoresponder,
                    _ edit: @escaping @Sendable (inout Autoresponder) -> Void) async throws -> Autoresponder {
        let user = user.lowercased()
        let snapshot = try await DirectorySnapshot.load(from: settings.engine)
        guard snapshot.users[user] != nil else { throw SettingProblem("no user named \(user)") }
        let responders = try await settings.update(.autoresponders, actor: actor) { responders, _ in
            let index = responders.firstIndex { $0.user == user && $0.name.lowercased() == name.lowercased() }
            var responder = try index.map { responders[$0] } ?? make()
            edit(&responder)
            if let index { responders[index] = responder } else { responders.append(responder) }
        }
        return responders.first { $0.user == user && $0.name.lowercased() == name.lowercased() }!
    }

    public func remove(user: String, name: String, actor: String) async throws {
        try await settings.update(.autoresponders, actor: actor) { responders, _ in
            guard let index = responders.firstIndex(where: { $0.user == user.lowercased() && $0.name.lowercased() == name.lowercased() }) else {
                throw SettingProblem("\(user) has no autoresponder named \(name)")
            }
            responders.remove(at: index)
        }
    }

    public func clearLog(user: String, actor: String) async throws {
        _ = try await settings.engine.transaction { transaction in
            try await transaction.append([PendingEvent(AutoresponderLogCleared(user: user.lowercased(), actor: actor))],
                                         to: try AutoresponderReplied.stream(user: user), expectedVersion: .any)
        }
    }
}
