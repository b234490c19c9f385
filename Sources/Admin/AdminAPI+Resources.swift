import Commands
import Delivery
import EventLog
import Facts
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO
import Projections

/// The API's directory, queue and block-list resources: the same commands the CLI runs, with
/// the acting administrator as the actor where a fact names one.
extension AdminAPI {
    struct NewUser: Decodable {
        let name: String
        let password: String?
        let admin: Bool?
        let comments: String?
    }

    /// A user's fields an administrator may change; those left out stay as they are.
    struct UserChange: Decodable {
        let password: String?
        let admin: Bool?
        let lockedOut: Bool?
        let maySendInternetMail: Bool?
        let forwardTo: String?
        let useForwarding: Bool?
        let replyTo: String?
        let comments: String?
        let protocols: [String]?
        let assistants: [String]?
        let sendOnlyToAssistant: Bool?
        let sendPriority: Int?
        let maxOutgoingSize: Int64?
        let inEveryone: Bool?
        let cramMD5: Bool?
        let apop: Bool?

        enum CodingKeys: String, CodingKey {
            case password, admin, lockedOut = "locked_out", maySendInternetMail = "may_send_internet_mail", forwardTo = "forward_to"
            case useForwarding = "use_forwarding", replyTo = "reply_to", comments, protocols, assistants
            case sendOnlyToAssistant = "send_only_to_assistant", sendPriority = "send_priority", maxOutgoingSize = "max_outgoing_size"
            case inEveryone = "in_everyone", cramMD5 = "cram_md5", apop
        }

        /// The values no directory rule checks, checked here: names of protocols, ranges.
        func check() throws {
            if let protocols, let unknown = protocols.first(where: { UserRecord.ServiceProtocol(rawValue: $0) == nil }) {
                throw Problem(.unprocessableContent, "\(unknown) is not one of "
                              + UserRecord.ServiceProtocol.allCases.map(\.rawValue).joined(separator: ", "), field: "protocols")
            }
            if let sendPriority, !(-1_000...1_000).contains(sendPriority) {
                throw Problem(.unprocessableContent, "send_priority is -1000 to 1000", field: "send_priority")
            }
            if let maxOutgoingSize, maxOutgoingSize < 0 {
                throw Problem(.unprocessableContent, "max_outgoing_size is 0 (no limit) or more bytes", field: "max_outgoing_size")
            }
            if let assistants, assistants.count > 100 { throw Problem(.unprocessableContent, "at most 100 assistants", field: "assistants") }
        }
    }

    /// What a user may change of their own account.
    struct OwnChange: Decodable {
        let password: String?
        let forwardTo: String?
        let useForwarding: Bool?
        let replyTo: String?

        enum CodingKeys: String, CodingKey {
            case password, forwardTo = "forward_to", useForwarding = "use_forwarding", replyTo = "reply_to"
        }
    }

    struct ImportReport: ResponseEncodable {
        let created: [String]
        let updated: [String]
        let unchanged: [String]
        let dryRun: Bool

        enum CodingKeys: String, CodingKey {
            case created, updated, unchanged, dryRun = "dry_run"
        }
    }

    struct DomainInfo: ResponseEncodable, Decodable {
        let pattern: String
    }

    struct AliasInfo: ResponseEncodable, Decodable {
        let address: String
        let target: String
    }

    struct BlockInfo: ResponseEncodable, Decodable {
        let address: String
        let minutes: Int?
        let reason: String?
        let until: Date?
    }

    struct PriorityChange: Decodable {
        let priority: Int
    }

    /// The directory commands with the password cost and vault `serve` has, acting for the
    /// request's administrator.
    func directory(_ context: AdminRequestContext) -> Commands.Directory {
        Commands.Directory(engine: environment.engine, passwordCost: .init(scryptLogN: environment.settings.value(SettingKey.scryptCost)),
                           vault: environment.vault, actor: context.actor)
    }

    /// Decodes a JSON body, refusing one that does not parse as 400 and a huge one as 413.
    static func body<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AdminRequestContext, field: String) async throws -> T {
        do {
            return try await request.decode(as: type, context: context)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            throw Problem(.contentTooLarge, "the body is larger than \(context.maxUploadSize) bytes")
        } catch {
            throw Problem(.badRequest, "the body is not the JSON object expected", field: field)
        }
    }

    /// A directory refusal as problem details.
    static func problem(_ error: DirectoryError, field: String) -> Problem {
        switch error {
        case .notFound: Problem(.notFound, error.description, field: field)
        case .exists, .inUse: Problem(.conflict, error.description, field: field)
        default: Problem(.unprocessableContent, error.description, field: field)
        }
    }

    /// PATCH /api/v1/me: any user's own password, forwarding and reply address.
    func addSelfService(to users: RouterGroup<AdminRequestContext>) {
        users.patch("me") { request, context -> UserInfo in
            guard let name = context.user?.name else { throw Problem.unauthorized }
            let change = try await Self.body(OwnChange.self, request, context, field: "password")
            do {
                if let password = change.password { try await directory(context).setPassword(name, password: password) }
                if change.forwardTo != nil || change.useForwarding != nil || change.replyTo != nil {
                    try await directory(context).updateUser(name) { user in
                        if let value = change.forwardTo { user.forwardTo = value }
                        if let value = change.useForwarding { user.useForwarding = value }
                        if let value = change.replyTo { user.replyTo = value }
                    }
                }
            } catch let error as DirectoryError {
                throw Self.problem(error, field: change.password != nil ? "password" : "forward_to")
            }
            guard let user = try await directory(context).snapshot().users[name.lowercased()] else { throw Problem(.notFound, "no user \(name)") }
            return UserInfo(user)
        }
    }

    func addResources(to admins: RouterGroup<AdminRequestContext>) {
        admins.get("users/export") { _, context -> Response in
            let users = try await directory(context).snapshot().users.values.sorted { $0.id < $1.id }
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                                   .contentDisposition: "attachment; filename=\"users.csv\""],
                            body: .init(byteBuffer: ByteBuffer(string: UserCSV.export(users))))
        }
        // The CSV is the body; an upload's file name never reaches the server.
        admins.post("users/import") { request, context -> ImportReport in
            let dryRun = request.uri.queryParameters["dry_run"] == "true"
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: context.maxUploadSize)
            } catch {
                throw Problem(.contentTooLarge, "the CSV is larger than \(context.maxUploadSize) bytes")
            }
            guard let text = String(validating: body.readableBytesView, as: UTF8.self) else {
                throw Problem(.unprocessableContent, "the CSV is not UTF-8 text", field: "csv")
            }
            do {
                let report = try await directory(context).importUsers(csv: text, dryRun: dryRun)
                return ImportReport(created: report.created, updated: report.updated, unchanged: report.unchanged, dryRun: dryRun)
            } catch let error as UserCSV.ImportError {
                throw Problem(.unprocessableContent, error.description, field: "row \(error.row)")
            } catch let error as DirectoryError {
                throw Problem(.unprocessableContent, error.description, field: "csv")
            }
        }
        admins.post("users") { request, context -> EditedResponse<UserInfo> in
            let new = try await Self.body(NewUser.self, request, context, field: "name")
            var record = UserRecord(name: new.name)
            record.admin = new.admin ?? false
            record.comments = new.comments ?? ""
            do {
                try await directory(context).createUser(record, password: new.password)
            } catch let error as DirectoryError {
                throw Self.problem(error, field: "name")
            }
            let created = try await directory(context).snapshot().users[new.name.lowercased()] ?? record
            return EditedResponse(status: .created, response: UserInfo(created))
        }
        admins.patch("users/:name") { request, context -> UserInfo in
            let name = try context.parameters.require("name")
            let change = try await Self.body(UserChange.self, request, context, field: "name")
            try change.check()
            // An administrator cannot take away their own way in.
            if name.lowercased() == context.user?.name.lowercased() {
                if change.admin == false { throw Problem(.conflict, "you cannot take away your own administrator rights", field: "admin") }
                if change.lockedOut == true { throw Problem(.conflict, "you cannot lock yourself out", field: "locked_out") }
            }
            do {
                if let password = change.password { try await directory(context).setPassword(name, password: password) }
                try await directory(context).updateUser(name) { user in
                    if let value = change.admin { user.admin = value }
                    if let value = change.lockedOut { user.lockedOut = value }
                    if let value = change.maySendInternetMail { user.maySendInternetMail = value }
                    if let value = change.forwardTo { user.forwardTo = value }
                    if let value = change.useForwarding { user.useForwarding = value }
                    if let value = change.replyTo { user.replyTo = value }
                    if let value = change.comments { user.comments = value }
                    if let value = change.protocols { user.protocols = value.compactMap(UserRecord.ServiceProtocol.init(rawValue:)) }
                    if let value = change.assistants { user.assistants = value }
                    if let value = change.sendOnlyToAssistant { user.sendOnlyToAssistant = value }
                    if let value = change.sendPriority { user.sendPriority = value == 0 ? nil : value }
                    if let value = change.maxOutgoingSize { user.maxOutgoingSize = value }
                    if let value = change.inEveryone { user.inEveryone = value }
                    if let value = change.cramMD5 { user.cramMD5Enabled = value }
                    if let value = change.apop { user.apopEnabled = value }
                }
            } catch let error as DirectoryError {
                throw Self.problem(error, field: change.password != nil ? "password" : "name")
            }
            guard let user = try await directory(context).snapshot().users[name.lowercased()] else { throw Problem(.notFound, "no user \(name)") }
            return UserInfo(user)
        }
        admins.delete("users/:name") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            if name.lowercased() == context.user?.name.lowercased() {
                throw Problem(.conflict, "you cannot remove yourself", field: "name")
            }
            do { try await directory(context).removeUser(name) } catch let error as DirectoryError { throw Self.problem(error, field: "name") }
            return .noContent
        }
        admins.get("domains") { _, context -> [DomainInfo] in
            try await directory(context).snapshot().domains.sorted().map(DomainInfo.init)
        }
        admins.post("domains") { request, context -> EditedResponse<DomainInfo> in
            let domain = try await Self.body(DomainInfo.self, request, context, field: "pattern")
            do { try await directory(context).addDomain(domain.pattern) } catch let error as DirectoryError { throw Self.problem(error, field: "pattern") }
            return EditedResponse(status: .created, response: domain)
        }
        admins.delete("domains/:pattern") { _, context -> HTTPResponse.Status in
            let pattern = try context.parameters.require("pattern")
            do { try await directory(context).removeDomain(pattern) } catch let error as DirectoryError { throw Self.problem(error, field: "pattern") }
            return .noContent
        }
        admins.get("aliases") { _, context -> [AliasInfo] in
            try await directory(context).snapshot().aliases.map { AliasInfo(address: $0.key, target: $0.value.description) }
                .sorted { $0.address < $1.address }
        }
        admins.post("aliases") { request, context -> EditedResponse<AliasInfo> in
            let alias = try await Self.body(AliasInfo.self, request, context, field: "address")
            do { try await directory(context).addAlias(alias.address, target: alias.target) } catch let error as DirectoryError {
                throw Self.problem(error, field: "address")
            }
            return EditedResponse(status: .created, response: alias)
        }
        admins.delete("aliases/:address") { _, context -> HTTPResponse.Status in
            let address = try context.parameters.require("address")
            do { try await directory(context).removeAlias(address) } catch let error as DirectoryError { throw Self.problem(error, field: "address") }
            return .noContent
        }
        admins.post("queue/:id/:action") { _, context -> HTTPResponse.Status in
            let id = try context.parameters.require("id"), name = try context.parameters.require("action")
            let actions: [String: QueueAction] = ["hold": .hold, "release": .release, "delete": .delete, "retry": .retry, "bounce": .bounce]
            guard let action = actions[name] else { throw Problem(.notFound, "no queue action \(name)", field: "action") }
            try await apply(action, to: id, context: context)
            return .noContent
        }
        admins.put("queue/:id/priority") { request, context -> HTTPResponse.Status in
            let id = try context.parameters.require("id")
            let change = try await Self.body(PriorityChange.self, request, context, field: "priority")
            try await apply(.priority(change.priority), to: id, context: context)
            return .noContent
        }
        admins.get("blocks") { _, _ -> [BlockInfo] in
            let rows = try await environment.engine.store.client.query("""
                SELECT address, reason, until FROM security.blocks WHERE until > now() ORDER BY blocked_at DESC
                """, logger: environment.logger)
            var blocks: [BlockInfo] = []
            for try await (address, reason, until) in rows.decode((String, String, Date).self) {
                blocks.append(.init(address: address, minutes: nil, reason: reason, until: until))
            }
            return blocks
        }
        admins.post("blocks") { request, context -> EditedResponse<BlockInfo> in
            let block = try await Self.body(BlockInfo.self, request, context, field: "address")
            do {
                let until = try await BlockList(engine: environment.engine).block(
                    block.address, minutes: block.minutes ?? 30, reason: block.reason ?? "blocked by an administrator", actor: context.actor)
                return EditedResponse(status: .created, response: BlockInfo(address: block.address, minutes: block.minutes,
                                                                            reason: block.reason, until: until))
            } catch let problem as BlockList.Problem {
                throw Problem(.unprocessableContent, problem.description, field: "address")
            }
        }
        admins.delete("blocks/:address") { _, context -> HTTPResponse.Status in
            let address = try context.parameters.require("address")
            do {
                try await BlockList(engine: environment.engine).unblock(address, actor: context.actor)
            } catch let problem as BlockList.Problem {
                throw Problem(problem.notFound ? .notFound : .unprocessableContent, problem.description, field: "address")
            }
            return .noContent
        }
    }

    func apply(_ action: QueueAction, to id: String, context: AdminRequestContext) async throws {
        do {
            try await action.apply(to: id, by: context.actor, store: environment.engine.store, logger: environment.logger)
        } catch let refused as QueueAction.Refused {
            throw Problem(refused.notFound ? .notFound : .conflict, refused.description, field: "id")
        }
    }
}
