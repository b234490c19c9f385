import Commands
import Facts
import Foundation
import HTTPTypes
import Hummingbird
import Projections

/// The API's folders: a user's (or, as `#shared`, the public folders') with who else may use
/// them (RFC 4314 rights), as `pillarbox folder` and IMAP's ACL commands change them.
extension AdminAPI {
    struct FolderInfo: ResponseEncodable {
        let name: String
        let messages: Int64
        let bytes: Int64
        /// Identifier (a user or `anyone`) → rights.
        let acl: [String: String]
    }

    struct NewFolder: Decodable {
        let name: String
    }

    struct RightsChange: Decodable {
        let folder: String
        let identifier: String
        /// Letters of `l r s w i p k x t e a`; empty takes the identifier's rights away.
        let rights: String
    }

    /// The owner named in the path: an existing user, or `#shared`.
    func folderOwner(_ context: AdminRequestContext) async throws -> String {
        let raw = try context.parameters.require("owner")
        let owner = (raw.removingPercentEncoding ?? raw).lowercased()
        guard owner == MailboxNames.publicOwner || environment.directory.snapshot.users[owner] != nil else {
            throw Problem(.notFound, "no user \(owner)", field: "owner")
        }
        return owner
    }

    /// A mailbox change made through the API, attributed to the request's administrator in
    /// the message audit; the store's refusals answered as problem details.
    func mailChange<T: Sendable>(_ context: AdminRequestContext, field: String,
                                 _ body: @Sendable (MailStore) async throws -> T) async throws -> T {
        let origin = ChangeOrigin(component: "W", actor: context.user?.name, clientIP: context.clientIP)
        let mail = directory(context).mail
        do {
            return try await ChangeOrigin.$current.withValue(origin) { try await body(mail) }
        } catch let error as MailStoreError {
            switch error {
            case .noSuchMailbox, .noSuchAccount: throw Problem(.notFound, error.description, field: field)
            case .mailboxExists: throw Problem(.conflict, error.description, field: field)
            default: throw Problem(.unprocessableContent, error.description, field: field)
            }
        }
    }

    func addFolders(to admins: RouterGroup<AdminRequestContext>) {
        admins.get("folders/:owner") { _, context -> [FolderInfo] in
            let owner = try await folderOwner(context)
            let reader = directory(context).mail.reader
            var folders: [FolderInfo] = []
            for mailbox in try await reader.mailboxes(owner) where mailbox.selectable {
                folders.append(FolderInfo(name: mailbox.name, messages: mailbox.messages, bytes: mailbox.bytes,
                                          acl: try await reader.rights(owner, mailboxID: mailbox.id)))
            }
            return folders
        }
        admins.post("folders/:owner") { request, context -> EditedResponse<FolderInfo> in
            let owner = try await folderOwner(context)
            let folder = try await Self.body(NewFolder.self, request, context, field: "name")
            let created = try await mailChange(context, field: "name") { try await $0.createMailbox(user: owner, name: folder.name) }
            return EditedResponse(status: .created, response: FolderInfo(name: created.name, messages: 0, bytes: 0, acl: [:]))
        }
        admins.put("folders/:owner/rights") { request, context -> HTTPResponse.Status in
            let owner = try await folderOwner(context)
            let change = try await Self.body(RightsChange.self, request, context, field: "rights")
            let identifier = change.identifier.lowercased()
            guard identifier == "anyone" || environment.directory.snapshot.users[identifier] != nil else {
                throw Problem(.unprocessableContent, "no user \(change.identifier)", field: "identifier")
            }
            guard MailboxRights.normalised(change.rights) != nil else {
                throw Problem(.unprocessableContent, "rights are letters of \(MailboxRights.all)", field: "rights")
            }
            try await mailChange(context, field: "folder") {
                try await $0.setRights(owner: owner, mailbox: change.folder, identifier: identifier, rights: change.rights)
            }
            return .noContent
        }
    }
}
