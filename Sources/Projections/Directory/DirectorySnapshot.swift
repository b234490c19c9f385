import Facts
import Foundation
import Logging
import PostgresNIO

/// The whole directory as the live tables hold it: small enough to read at once, and read in
/// the same transaction as the change it validates.
public struct DirectorySnapshot: Sendable {
    public var domains: [String] = []
    public var defaultDomain: String?

    /// The domain the server's own mail is written from: the default domain, else the first
    /// local domain that is no pattern; nil when there is none.
    public var mailDomain: String? {
        defaultDomain ?? domains.first { !$0.contains("*") && !$0.contains("?") }
    }
    /// By lower-case id.
    public var users: [String: UserRecord] = [:]
    public var aliases: [String: AliasTarget] = [:]
    /// By lower-case id: the name as written and whether members may log in.
    public var groups: [String: (name: String, enabled: Bool)] = [:]
    public var groupMembers: [String: Set<String>] = [:]
    public var lists: [String: ListRecord] = [:]
    public var listMembers: [String: [String]] = [:]

    public init() {}

    /// The directory as the live tables hold it now.
    public static func load(from engine: ProjectionEngine) async throws -> DirectorySnapshot {
        try await engine.client.withConnection { try await load(on: $0, logger: engine.logger) }
    }

    package static func load(on connection: PostgresConnection, logger: Logger) async throws -> DirectorySnapshot {
        var snapshot = DirectorySnapshot()
        for try await pattern in try await connection.query(
            "SELECT pattern FROM directory.domains ORDER BY pattern", logger: logger).decode(String.self) {
            snapshot.domains.append(pattern)
        }
        for try await domain in try await connection.query(
            "SELECT domain FROM directory.default_domain", logger: logger).decode(String.self) {
            snapshot.defaultDomain = domain
        }
        let users = try await connection.query("""
            SELECT name, admin, protocols, max_outgoing_size, may_send_internet_mail, forward_to, use_forwarding,
                   assistants, send_only_to_assistant, reply_to, comments, locked_out, in_everyone, cram_md5_enabled,
                   scrypt, scram_sha256, cram_md5_secret_id, apop_enabled, apop_secret_id, send_priority
            FROM directory.users
            """, logger: logger)
        for try await row in users {
            let columns = row.makeRandomAccess()
            var user = UserRecord(name: try columns[0].decode(String.self))
            user.admin = try columns[1].decode(Bool.self)
            user.protocols = try columns[2].decode([String].self).compactMap(UserRecord.ServiceProtocol.init(rawValue:))
            user.maxOutgoingSize = try columns[3].decode(Int64.self)
            user.maySendInternetMail = try columns[4].decode(Bool.self)
            user.forwardTo = try columns[5].decode(String.self)
            user.useForwarding = try columns[6].decode(Bool.self)
            user.assistants = try columns[7].decode([String].self)
            user.sendOnlyToAssistant = try columns[8].decode(Bool.self)
            user.replyTo = try columns[9].decode(String.self)
            user.comments = try columns[10].decode(String.self)
            user.lockedOut = try columns[11].decode(Bool.self)
            user.inEveryone = try columns[12].decode(Bool.self)
            user.cramMD5Enabled = try columns[13].decode(Bool.self)
            user.apopEnabled = try columns[17].decode(Bool.self)
            user.sendPriority = try columns[19].decode(Int64?.self).map { Int($0) }
            if let scrypt = try columns[14].decode(String?.self), let scram = try columns[15].decode(String?.self) {
                user.credentials = Credentials(scrypt: scrypt, scram: scram,
                                               cramMD5Secret: try columns[16].decode(String?.self).flatMap(UUID.init(uuidString:)),
                                               apopSecret: try columns[18].decode(String?.self).flatMap(UUID.init(uuidString:)))
            }
            snapshot.users[user.id] = user
        }
        for try await (address, kind, target) in try await connection.query(
            "SELECT address, target_kind, target FROM directory.aliases", logger: logger).decode((String, String, String).self) {
            if let kind = AliasTarget.Kind(rawValue: kind) { snapshot.aliases[address] = AliasTarget(kind: kind, name: target) }
        }
        for try await (id, name, enabled) in try await connection.query(
            "SELECT group_id, name, enabled FROM directory.groups", logger: logger).decode((String, String, Bool).self) {
            snapshot.groups[id] = (name, enabled)
        }
        for try await (group, user) in try await connection.query(
            "SELECT group_id, user_id FROM directory.group_members", logger: logger).decode((String, String).self) {
            snapshot.groupMembers[group, default: []].insert(user)
        }
        for try await (name, kind, isPublic, description, options) in try await connection.query(
            "SELECT name, kind, public, description, options::text FROM directory.lists", logger: logger)
            .decode((String, String, Bool, String, String?).self) {
            let mailing = options.flatMap { try? JSONDecoder().decode(MailingListOptions.self, from: Data($0.utf8)) }
            snapshot.lists[name.lowercased()] = ListRecord(name: name, kind: ListRecord.Kind(rawValue: kind) ?? .distribution,
                                                           isPublic: isPublic, description: description, mailing: mailing)
        }
        for try await (list, address) in try await connection.query(
            "SELECT list_id, address FROM directory.list_members ORDER BY list_id, address", logger: logger)
            .decode((String, String).self) {
            snapshot.listMembers[list, default: []].append(address)
        }
        return snapshot
    }

    /// Members of a group: the built-ins computed, custom ones as stored.
    public func members(ofGroup name: String) -> [String] {
        switch name.lowercased() {
        case "everyone": users.values.filter(\.inEveryone).map(\.id).sorted()
        case "admins": users.values.filter(\.admin).map(\.id).sorted()
        case "no-one": []
        default: (groupMembers[name.lowercased()] ?? []).sorted()
        }
    }
}
