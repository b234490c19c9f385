import EventLog
import Facts
import Foundation

/// The `directory.*` tables: domains, the default domain, users, aliases, custom groups and
/// their members, lists and their members.
public struct DirectoryProjection: Projection {
    public let name = "directory"
    public let schema = "directory"
    public let mode = ProjectionMode.inline
    public let version = 5
    public let categories = [DirectoryStream.category]

    public init() {}

    public static let domains = ProjectionTable("domains", columns: [.init("pattern", .text)], primaryKey: 1)
    public static let defaultDomain = ProjectionTable("default_domain", columns: [
        .init("singleton", .integer), .init("domain", .text),
    ], primaryKey: 1)
    public static let users = ProjectionTable("users", columns: [
        .init("user_id", .text), .init("name", .text), .init("admin", .boolean), .init("protocols", .textArray),
        .init("max_outgoing_size", .bigint), .init("may_send_internet_mail", .boolean), .init("forward_to", .text),
        .init("use_forwarding", .boolean), .init("assistants", .textArray), .init("send_only_to_assistant", .boolean),
        .init("reply_to", .text), .init("comments", .text), .init("locked_out", .boolean), .init("in_everyone", .boolean),
        .init("cram_md5_enabled", .boolean), .init("scrypt", .text), .init("scram_sha256", .text),
        .init("cram_md5_secret_id", .text), .init("apop_enabled", .boolean), .init("apop_secret_id", .text),
        .init("send_priority", .bigint),
    ], primaryKey: 1)
    public static let aliases = ProjectionTable("aliases", columns: [
        .init("address", .text), .init("target_kind", .text), .init("target", .text),
    ], primaryKey: 1)
    public static let groups = ProjectionTable("groups", columns: [
        .init("group_id", .text), .init("name", .text), .init("enabled", .boolean),
    ], primaryKey: 1)
    public static let groupMembers = ProjectionTable("group_members", columns: [
        .init("group_id", .text), .init("user_id", .text),
    ], primaryKey: 2, indexes: [["user_id"]])
    public static let lists = ProjectionTable("lists", columns: [
        .init("list_id", .text), .init("name", .text), .init("kind", .text), .init("public", .boolean),
        .init("description", .text), .init("options", .jsonb),
    ], primaryKey: 1)
    public static let listMembers = ProjectionTable("list_members", columns: [
        .init("list_id", .text), .init("address", .text),
    ], primaryKey: 2)

    public var tables: [ProjectionTable] {
        [Self.domains, Self.defaultDomain, Self.users, Self.aliases, Self.groups, Self.groupMembers, Self.lists,
         Self.listMembers]
    }

    public var eventTypes: [any Event.Type] {
        [DomainAdded.self, DomainRemoved.self, DefaultDomainSet.self, UserCreated.self, UserChanged.self,
         UserRemoved.self, AliasAdded.self, AliasRemoved.self, GroupCreated.self, GroupChanged.self, GroupRemoved.self,
         GroupMemberAdded.self, GroupMemberRemoved.self, ListCreated.self, ListChanged.self, ListRemoved.self, ListMemberAdded.self,
         ListMemberRemoved.self]
    }

    public func apply(_ event: any Event, context: EventContext, to rows: RowWriter) throws {
        switch event {
        case let event as DomainAdded:
            rows.insert(into: Self.domains, [.text(event.pattern.lowercased())])
        case let event as DomainRemoved:
            rows.delete(from: Self.domains, key: [.text(event.pattern.lowercased())])
        case let event as DefaultDomainSet:
            rows.insert(into: Self.defaultDomain, [.int(1), .text(event.domain.lowercased())])
        case let event as UserCreated:
            insert(event.user, rows: rows)
        case let event as UserChanged:
            insert(event.user, rows: rows)
        case let event as UserRemoved:
            rows.delete(from: Self.users, key: [.text(event.userID)])
        case let event as AliasAdded:
            rows.insert(into: Self.aliases, [.text(event.address.lowercased()), .text(event.target.kind.rawValue),
                                             .text(event.target.name)])
        case let event as AliasRemoved:
            rows.delete(from: Self.aliases, key: [.text(event.address.lowercased())])
        case let event as GroupCreated:
            rows.insert(into: Self.groups, [.text(event.name.lowercased()), .text(event.name), .bool(event.enabled)])
        case let event as GroupChanged:
            rows.update(Self.groups, key: [.text(event.name.lowercased())], ["enabled": .set(.bool(event.enabled))])
        case let event as GroupRemoved:
            rows.delete(from: Self.groups, key: [.text(event.name.lowercased())])
            rows.deleteAll(from: Self.groupMembers, where: [.text(event.name.lowercased())])
        case let event as GroupMemberAdded:
            rows.insert(into: Self.groupMembers, [.text(event.group.lowercased()), .text(event.userID)])
        case let event as GroupMemberRemoved:
            rows.delete(from: Self.groupMembers, key: [.text(event.group.lowercased()), .text(event.userID)])
        case let event as ListCreated:
            try insert(event.list, rows: rows)
        case let event as ListChanged:
            try insert(event.list, rows: rows)
        case let event as ListRemoved:
            rows.delete(from: Self.lists, key: [.text(event.name.lowercased())])
            rows.deleteAll(from: Self.listMembers, where: [.text(event.name.lowercased())])
        case let event as ListMemberAdded:
            rows.insert(into: Self.listMembers, [.text(event.list.lowercased()), .text(event.address)])
        case let event as ListMemberRemoved:
            rows.delete(from: Self.listMembers, key: [.text(event.list.lowercased()), .text(event.address)])
        default:
            break
        }
    }

    private func insert(_ list: ListRecord, rows: RowWriter) throws {
        let options = try list.mailing.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        rows.insert(into: Self.lists, [.text(list.name.lowercased()), .text(list.name), .text(list.kind.rawValue),
                                       .bool(list.isPublic), .text(list.description), options.map { .json($0) } ?? .null])
    }

    private func insert(_ user: UserRecord, rows: RowWriter) {
        rows.insert(into: Self.users, [
            .text(user.id), .text(user.name), .bool(user.admin), .texts(user.protocols.map(\.rawValue)),
            .int(user.maxOutgoingSize), .bool(user.maySendInternetMail), .text(user.forwardTo), .bool(user.useForwarding),
            .texts(user.assistants), .bool(user.sendOnlyToAssistant), .text(user.replyTo), .text(user.comments),
            .bool(user.lockedOut), .bool(user.inEveryone), .bool(user.cramMD5Enabled),
            .optional(user.credentials?.scrypt), .optional(user.credentials?.scram), .optional(user.credentials?.cramMD5Secret?.uuidString.lowercased()),
            .bool(user.apopEnabled), .optional(user.credentials?.apopSecret?.uuidString.lowercased()),
            user.sendPriority.map { .int(Int64($0)) } ?? .null,
        ])
    }
}
