import Commands
import Facts
import Foundation
import HTTPTypes
import Hummingbird
import Projections

/// The API's groups and lists: the directory commands the CLI runs, acting for the request's
/// administrator.
extension AdminAPI {
    struct GroupInfo: ResponseEncodable, Decodable {
        let name: String
        let enabled: Bool?
        let members: [String]?
    }

    struct GroupChange: Decodable {
        let enabled: Bool
    }

    struct ListInfo: ResponseEncodable, Decodable {
        let name: String
        let kind: String
        let isPublic: Bool?
        let description: String?
        let members: [String]?

        enum CodingKeys: String, CodingKey {
            case name, kind, isPublic = "public", description, members
        }
    }

    struct MemberInfo: ResponseEncodable, Decodable {
        let address: String
    }

    /// Runs a directory command, answering its refusal as problem details about `field`.
    func directoryChange(_ context: AdminRequestContext, field: String,
                         _ body: (Commands.Directory) async throws -> Void) async throws {
        do {
            try await body(directory(context))
        } catch let error as DirectoryError {
            throw Self.problem(error, field: field)
        }
    }

    func addGroupsAndLists(to admins: RouterGroup<AdminRequestContext>) {
        admins.get("groups") { _, context -> [GroupInfo] in
            let snapshot = try await directory(context).snapshot()
            return snapshot.groups.map { id, group in
                GroupInfo(name: group.name, enabled: group.enabled, members: (snapshot.groupMembers[id] ?? []).sorted())
            }.sorted { $0.name.lowercased() < $1.name.lowercased() }
        }
        admins.post("groups") { request, context -> EditedResponse<GroupInfo> in
            let group = try await Self.body(GroupInfo.self, request, context, field: "name")
            try await directoryChange(context, field: "name") { try await $0.createGroup(group.name, enabled: group.enabled ?? true) }
            return EditedResponse(status: .created, response: GroupInfo(name: group.name, enabled: group.enabled ?? true, members: []))
        }
        admins.patch("groups/:name") { request, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            let change = try await Self.body(GroupChange.self, request, context, field: "enabled")
            try await directoryChange(context, field: "name") { try await $0.setGroupEnabled(name, change.enabled) }
            return .noContent
        }
        admins.delete("groups/:name") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            try await directoryChange(context, field: "name") { try await $0.removeGroup(name) }
            return .noContent
        }
        admins.put("groups/:name/members/:user") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name"), user = try context.parameters.require("user")
            try await directoryChange(context, field: "user") { try await $0.addGroupMember(name, user: user) }
            return .noContent
        }
        admins.delete("groups/:name/members/:user") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name"), user = try context.parameters.require("user")
            try await directoryChange(context, field: "user") { try await $0.removeGroupMember(name, user: user) }
            return .noContent
        }
        admins.get("lists") { _, context -> [ListInfo] in
            let snapshot = try await directory(context).snapshot()
            return snapshot.lists.map { id, list in
                ListInfo(name: list.name, kind: list.kind.rawValue, isPublic: list.isPublic, description: list.description,
                         members: snapshot.listMembers[id] ?? [])
            }.sorted { $0.name.lowercased() < $1.name.lowercased() }
        }
        admins.post("lists") { request, context -> EditedResponse<ListInfo> in
            let list = try await Self.body(ListInfo.self, request, context, field: "name")
            guard let kind = ListRecord.Kind(rawValue: list.kind) else {
                throw Problem(.unprocessableContent, "kind is one of " + ListRecord.Kind.allCases.map(\.rawValue).joined(separator: ", "),
                              field: "kind")
            }
            let record = ListRecord(name: list.name, kind: kind, isPublic: list.isPublic ?? false, description: list.description ?? "")
            try await directoryChange(context, field: "name") { try await $0.createList(record) }
            return EditedResponse(status: .created, response: ListInfo(name: record.name, kind: kind.rawValue, isPublic: record.isPublic,
                                                                       description: record.description, members: []))
        }
        admins.delete("lists/:name") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            try await directoryChange(context, field: "name") { try await $0.removeList(name) }
            return .noContent
        }
        admins.post("lists/:name/members") { request, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            let member = try await Self.body(MemberInfo.self, request, context, field: "address")
            try await directoryChange(context, field: "address") { try await $0.addListMember(name, address: member.address) }
            return .noContent
        }
        admins.delete("lists/:name/members/:address") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name"), address = try context.parameters.require("address")
            try await directoryChange(context, field: "address") { try await $0.removeListMember(name, address: address) }
            return .noContent
        }
    }
}
