import Facts
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import PostgresNIO

/// The admin's pages, rendered on the server from `AdminTemplates` (values HTML-escaped).
/// Reading is done here; every change a page offers is a call to the JSON API from the
/// page's script, with the session's CSRF token, so pages and scripts change things one way.
struct AdminPages {
    let api: AdminAPI
    var environment: AdminEnvironment { api.environment }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                           .init("Content-Security-Policy")!: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
                                           .init("X-Content-Type-Options")!: "nosniff"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        html(AdminTemplates.library.render(values, withTemplate: template) ?? "", status: status)
    }

    struct LoginForm: Decodable {
        let user: String
        let password: String
    }

    /// What every page's frame needs: who is logged in, their CSRF token, the section shown.
    static func frame(_ context: AdminRequestContext, title: String, here: String? = nil) -> [String: Any] {
        var values: [String: Any] = ["title": title]
        if let user = context.user {
            values["user"] = user.name
            values["admin"] = user.admin
        }
        if let session = context.session { values["csrf"] = session.csrf }
        if let here { values["here_" + here] = true }
        return values
    }

    /// Adds an administrator's page: the login form without a session, 403 for anyone else.
    func page(_ router: Router<AdminRequestContext>, _ path: RouterPath, title: String, here: String, template: String,
              _ load: @escaping @Sendable (Request, AdminRequestContext) async throws -> [String: Any]) {
        router.get(path) { request, context -> Response in
            guard let user = context.user, context.session != nil else { return Self.redirect("/login") }
            guard user.admin else {
                var values = Self.frame(context, title: "Not for you")
                values["user"] = user.name
                return Self.render("account", values, status: .forbidden)
            }
            var values = Self.frame(context, title: title, here: here)
            do {
                for (key, value) in try await load(request, context) { values[key] = value }
            } catch let problem as Problem {
                values["problem"] = problem.detail ?? problem.title
                return Self.render(template, values, status: problem.status)
            }
            return Self.render(template, values)
        }
    }

    func add(to router: Router<AdminRequestContext>) {
        router.get("/login") { request, context -> Response in
            var values = Self.frame(context, title: "Log in")
            values["failed"] = request.uri.queryParameters["failed"] != nil
            return Self.render("login", values)
        }
        router.post("/login") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let form = try? URLEncodedFormDecoder().decode(LoginForm.self, from: String(buffer: body)) else {
                return Self.redirect("/login?failed=1")
            }
            guard let session = await api.startSession(user: form.user, password: form.password, clientIP: context.clientIP) else {
                return Self.redirect("/login?failed=1")
            }
            var response = Self.redirect("/")
            response.setCookie(api.cookie(for: session))
            return response
        }
        router.get("/") { request, context -> Response in
            guard let user = context.user, context.session != nil else { return Self.redirect("/login") }
            guard user.admin else {
                var values = Self.frame(context, title: "Your account")
                values["forward_to"] = user.forwardTo
                values["use_forwarding"] = user.useForwarding
                values["reply_to"] = user.replyTo
                return Self.render("account", values)
            }
            var values = Self.frame(context, title: "Status", here: "status")
            for (key, value) in try await status() { values[key] = value }
            return Self.render("status", values)
        }
        router.get("/feed") { _, context -> Response in
            guard context.user?.admin == true, context.session != nil else { throw Problem.forbidden }
            return try await feed()
        }
        page(router, "/sessions", title: "Sessions", here: "sessions", template: "sessions") { _, _ in
            sessions()
        }
        page(router, "/queue", title: "Outgoing queue", here: "queue", template: "queue") { request, _ in
            try await queue(request, attemptsOf: nil)
        }
        page(router, "/queue/:id", title: "Outgoing queue", here: "queue", template: "queue") { request, context in
            try await queue(request, attemptsOf: try context.parameters.require("id"))
        }
        // The directory as its tables hold it now (the live copy the gateways use follows a
        // moment behind), so a page reloaded after a change shows it.
        page(router, "/users", title: "Users", here: "users", template: "users") { request, context in
            let query = Self.query(request)
            let search = query["q"]?.lowercased() ?? ""
            let users = try await api.directory(context).snapshot().users.values
                .filter { search.isEmpty || $0.name.lowercased().contains(search) || $0.comments.lowercased().contains(search) }
                .sorted { $0.id < $1.id }
            let rows: [[String: Any]] = users.prefix(500).map { user in
                ["name": user.name, "admin": user.admin, "protocols": user.protocols.map(\.rawValue).joined(separator: " "),
                 "may_send_internet_mail": user.maySendInternetMail, "locked_out": user.lockedOut, "forward_to": user.forwardTo,
                 "use_forwarding": user.useForwarding, "comments": user.comments]
            }
            return ["rows": rows, "total": users.count, "q": query["q"] ?? ""]
        }
        page(router, "/users/:name", title: "User", here: "users", template: "user") { _, context in
            let name = try context.parameters.require("name")
            guard let user = try await api.directory(context).snapshot().users[name.lowercased()] else {
                throw Problem(.notFound, "no user \(name)")
            }
            // Under their own key: the frame's `user` and `admin` are who is logged in.
            return ["title": "User \(user.name)", "subject": ["name": user.name, "admin": user.admin, "locked_out": user.lockedOut,
                    "may_send_internet_mail": user.maySendInternetMail, "protocols": user.protocols.map(\.rawValue).joined(separator: " "),
                    "all_protocols": UserRecord.ServiceProtocol.allCases.map(\.rawValue).joined(separator: " "),
                    "forward_to": user.forwardTo, "use_forwarding": user.useForwarding, "reply_to": user.replyTo,
                    "assistants": user.assistants.joined(separator: " "), "send_only_to_assistant": user.sendOnlyToAssistant,
                    "send_priority": user.sendPriority ?? 0, "max_outgoing_size": user.maxOutgoingSize, "in_everyone": user.inEveryone,
                    "cram_md5": user.cramMD5Enabled, "apop": user.apopEnabled, "comments": user.comments] as [String: Any]]
        }
        page(router, "/directory", title: "Domains, aliases, groups and lists", here: "directory", template: "directory") { _, context in
            let snapshot = try await api.directory(context).snapshot()
            let groups: [[String: Any]] = snapshot.groups.map { id, group in
                ["name": group.name, "enabled": group.enabled, "members": (snapshot.groupMembers[id] ?? []).sorted()]
            }.sorted { ($0["name"] as? String ?? "") < ($1["name"] as? String ?? "") }
            let lists: [[String: Any]] = snapshot.lists.map { id, list in
                ["name": list.name, "kind": list.kind.rawValue, "public": list.isPublic, "description": list.description,
                 "members": snapshot.listMembers[id] ?? []]
            }.sorted { ($0["name"] as? String ?? "") < ($1["name"] as? String ?? "") }
            return ["domains": snapshot.domains.sorted().map { ["pattern": $0] },
                    "aliases": snapshot.aliases.map { ["address": $0.key, "target": $0.value.description] }
                        .sorted { ($0["address"] ?? "") < ($1["address"] ?? "") },
                    "groups": groups, "lists": lists]
        }
        page(router, "/settings", title: "Settings", here: "settings", template: "settings") { request, _ in
            try await settings(Self.query(request)["q"] ?? "")
        }
        page(router, "/logs", title: "Logs", here: "logs", template: "logs") { request, _ in
            try await logs(Self.query(request))
        }
        page(router, "/security", title: "Security", here: "security", template: "security") { request, _ in
            try await security(Self.query(request))
        }
        page(router, "/log", title: "The log", here: "log", template: "log") { request, context in
            try await log(request, context: context)
        }
    }

    static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        return query
    }

    /// A listing's rows as values for a template (JSON nulls as empty text).
    func rows(_ listing: AdminListing, _ query: [String: String]) async throws -> (rows: [[String: Any]], total: Int64) {
        let result = try await listing.fetch(query, client: environment.engine.store.client, logger: environment.logger)
        let items = try JSONDecoder().decode([[String: TemplateValue]].self, from: Data(result.items.utf8))
        return (items.map { $0.mapValues(\.value) }, result.total)
    }

    /// One page of a listing's rows, with links to the pages before and after it.
    func paged(_ listing: AdminListing, _ query: [String: String], path: String) async throws -> [String: Any] {
        var query = query
        let limit = Int(query["limit"] ?? "") ?? 50
        query["limit"] = String(limit)
        let (rows, total) = try await rows(listing, query)
        let offset = Int(query["offset"] ?? "") ?? 0
        func link(_ newOffset: Int) -> String {
            var parts = query
            parts["offset"] = String(newOffset)
            return path + "?" + parts.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.percentEncoded($0.value))" }.joined(separator: "&")
        }
        var values: [String: Any] = ["rows": rows, "total": total]
        if offset > 0 { values["previous"] = link(max(0, offset - limit)) }
        if offset + limit < total { values["next"] = link(offset + limit) }
        return values
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}

/// A JSON value as a template sees it: text, a number, a flag, a list or a table; null is "".
enum TemplateValue: Decodable {
    case text(String), integer(Int64), number(Double), flag(Bool), list([TemplateValue]), table([String: TemplateValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .text("") }
        else if let flag = try? container.decode(Bool.self) { self = .flag(flag) }
        else if let integer = try? container.decode(Int64.self) { self = .integer(integer) }
        else if let number = try? container.decode(Double.self) { self = .number(number) }
        else if let text = try? container.decode(String.self) { self = .text(text) }
        else if let list = try? container.decode([TemplateValue].self) { self = .list(list) }
        else { self = .table(try container.decode([String: TemplateValue].self)) }
    }

    var value: Any {
        switch self {
        case .text(let text): text
        case .integer(let integer): integer
        case .number(let number): number
        case .flag(let flag): flag
        case .list(let list): list.map(\.value)
        case .table(let table): table.mapValues(\.value)
        }
    }
}
