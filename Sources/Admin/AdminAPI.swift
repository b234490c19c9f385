import Commands
import Crypto
import EventLog
import Facts
import Foundation
import Gateways
import HTTPTypes
import Hummingbird
import Logging
import Projections
import Prometheus

/// What the admin's handlers work with.
public struct AdminEnvironment: Sendable {
    public let engine: ProjectionEngine
    public let settings: LiveSettings
    public let directory: LiveDirectory
    public let authenticator: Authenticator
    public let logins: LoginProtection
    public let sessions: AdminSessions
    /// Where the process's metrics are kept; nil serves no `/metrics`.
    public let metrics: PrometheusCollectorRegistry?
    /// Where users' CRAM-MD5 and APOP secrets are sealed.
    public let vault: SecretVault?
    /// The long checks started from the admin.
    public let jobs: AdminJobs
    /// The public key the ledger's heads are signed with, for verifying the log.
    public let ledgerKey: [UInt8]?
    /// The gateways' open connections and bound listeners.
    public let liveSessions: LiveSessions
    /// Signs and checks the mailing lists' one-click unsubscribe links; nil answers none.
    public let listUnsubscribeKey: SymmetricKey?
    public let logger: Logger

    public init(engine: ProjectionEngine, settings: LiveSettings, directory: LiveDirectory, authenticator: Authenticator,
                logins: LoginProtection, sessions: AdminSessions = AdminSessions(), metrics: PrometheusCollectorRegistry? = nil,
                vault: SecretVault? = nil, jobs: AdminJobs = AdminJobs(), ledgerKey: [UInt8]? = nil,
                liveSessions: LiveSessions = LiveSessions(), listUnsubscribeKey: SymmetricKey? = nil, logger: Logger) {
        self.listUnsubscribeKey = listUnsubscribeKey
        self.liveSessions = liveSessions
        self.metrics = metrics
        self.jobs = jobs
        self.ledgerKey = ledgerKey
        self.vault = vault
        self.engine = engine
        self.settings = settings
        self.directory = directory
        self.authenticator = authenticator
        self.logins = logins
        self.sessions = sessions
        self.logger = logger
    }
}

/// The JSON API, `/api/v1`, and the health checks.
struct AdminAPI {
    let environment: AdminEnvironment
    /// Whether the listener is HTTPS: the session cookie is then `Secure`.
    var secure = false

    struct Login: Decodable {
        let user: String
        let password: String
    }

    struct SessionInfo: ResponseEncodable {
        let user: String
        let admin: Bool
        /// To send back in `X-CSRF-Token` with every change.
        let csrf: String?
    }

    struct SettingInfo: ResponseEncodable {
        let key: String
        let type: String
        let summary: String
        let defaultValue: String
        let value: String
        let isDefault: Bool

        enum CodingKeys: String, CodingKey {
            case key, type, summary, defaultValue = "default", value, isDefault = "is_default"
        }
    }

    struct SettingChange: Decodable {
        /// The new value as JSON (strings may be bare).
        let value: String
    }

    struct UserInfo: ResponseEncodable {
        let name: String
        let admin: Bool
        let protocols: [String]
        let maySendInternetMail: Bool
        let lockedOut: Bool
        let forwardTo: String
        let useForwarding: Bool
        let replyTo: String
        let comments: String
        let assistants: [String]
        let sendOnlyToAssistant: Bool
        let sendPriority: Int
        let maxOutgoingSize: Int64
        let inEveryone: Bool
        let cramMD5: Bool
        let apop: Bool

        init(_ user: UserRecord) {
            name = user.name
            admin = user.admin
            protocols = user.protocols.map(\.rawValue)
            maySendInternetMail = user.maySendInternetMail
            lockedOut = user.lockedOut
            forwardTo = user.forwardTo
            useForwarding = user.useForwarding
            replyTo = user.replyTo
            comments = user.comments
            assistants = user.assistants
            sendOnlyToAssistant = user.sendOnlyToAssistant
            sendPriority = user.sendPriority ?? 0
            maxOutgoingSize = user.maxOutgoingSize
            inEveryone = user.inEveryone
            cramMD5 = user.cramMD5Enabled
            apop = user.apopEnabled
        }

        enum CodingKeys: String, CodingKey {
            case name, admin, protocols, maySendInternetMail = "may_send_internet_mail", lockedOut = "locked_out"
            case forwardTo = "forward_to", useForwarding = "use_forwarding", replyTo = "reply_to", comments, assistants
            case sendOnlyToAssistant = "send_only_to_assistant", sendPriority = "send_priority", maxOutgoingSize = "max_outgoing_size"
            case inEveryone = "in_everyone", cramMD5 = "cram_md5", apop
        }
    }

    struct Page<Item: Encodable & Sendable>: ResponseEncodable {
        let items: [Item]
        let total: Int
        let offset: Int
        let limit: Int
    }

    func add(to router: Router<AdminRequestContext>) {
        router.get("/healthz") { _, _ in "ok\n" }
        // Ready: the database answers and no async projection has left an event unapplied for
        // longer than `admin.ready_projection_lag_seconds` (its tables would show old data).
        router.get("/readyz") { _, _ -> Response in
            let projections: [ProjectionInfo]
            do { projections = try await projectionPositions() } catch {
                throw Problem(.serviceUnavailable, "the database does not answer")
            }
            let bound = Double(environment.settings.value(SettingKey<Int>.readyProjectionLag))
            let late = projections.filter { ($0.waitingSeconds ?? 0) > bound }
            guard late.isEmpty else {
                throw Problem(.serviceUnavailable, "behind the log by more than \(Int(bound)) s: "
                              + late.map { "\($0.name) (\(Int($0.waitingSeconds ?? 0)) s, \($0.behind) events)" }.joined(separator: ", "))
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        }
        if let registry = environment.metrics {
            router.get("/metrics") { _, _ -> Response in
                await measureNow(registry)
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
            }
        }
        addListUnsubscribe(to: router)
        let api = router.group("api/v1")
        api.get("openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        api.post("session", use: login)
        api.delete("session") { _, context -> Response in
            if let session = context.session { environment.sessions.end(session.id) }
            var response = Response(status: .noContent)
            response.setCookie(.init(name: AdminSessions.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        let users = api.group().add(middleware: RequireUser(adminOnly: false))
        users.get("me") { _, context -> UserInfo in UserInfo(context.user!) }
        addSelfService(to: users)
        let admins = api.group().add(middleware: RequireUser(adminOnly: true))
        admins.get("settings") { _, _ in try await listSettings() }
        admins.put("settings/:key", use: changeSetting)
        admins.get("users", use: listUsers)
        addResources(to: admins)
        addGroupsAndLists(to: admins)
        addFolders(to: admins)
        addRecords(to: admins)
        addLog(to: admins)
        addMailRoutes(to: admins)
        addSessions(to: admins)
        admins.get("users/:name") { _, context -> UserInfo in
            let name = try context.parameters.require("name")
            guard let user = environment.directory.snapshot.users[name.lowercased()] else { throw Problem(.notFound, "no user \(name)") }
            return UserInfo(user)
        }
    }

    /// The gauges read from the database when scraped: recipients in the queue by state, and
    /// how far each follower of the log is behind its end.
    func measureNow(_ registry: PrometheusCollectorRegistry) async {
        let client = environment.engine.store.client, logger = environment.logger
        do {
            let queue = try await client.query("""
                SELECT status, count(*) FROM outqueue.outrecipients WHERE finished IS NULL GROUP BY status
                """, logger: logger)
            for try await (status, count) in queue.decode((String, Int64).self) {
                registry.makeGauge(name: "pillarbox_queue_recipients", labels: [("status", status)]).set(count)
            }
            let lag = try await client.query("""
                SELECT c.consumer, greatest(0, (SELECT coalesce(max(global_position), 0) FROM eventlog.events) - c.global_position)
                FROM eventlog.consumer_checkpoints c
                """, logger: logger)
            for try await (consumer, behind) in lag.decode((String, Int64).self) {
                registry.makeGauge(name: "pillarbox_follower_lag_events", labels: [("consumer", consumer)]).set(behind)
            }
            for projection in try await projectionPositions() where projection.mode == "async" {
                registry.makeGauge(name: "pillarbox_projection_lag_events", labels: [("projection", projection.name)]).set(projection.behind)
                registry.makeGauge(name: "pillarbox_projection_lag_seconds", labels: [("projection", projection.name)])
                    .set(projection.waitingSeconds ?? 0)
            }
            // The pool's connections as PostgreSQL sees them: this process's pool shares the
            // application name of the connection asking.
            var states: [String: Int64] = ["active": 0, "idle": 0, "idle in transaction": 0]
            let pool = try await client.query("""
                SELECT coalesce(state, ''), count(*) FROM pg_stat_activity
                WHERE application_name = current_setting('application_name') AND datname = current_database() GROUP BY 1
                """, logger: logger)
            for try await (state, count) in pool.decode((String, Int64).self) where !state.isEmpty { states[state] = count }
            for (state, count) in states {
                registry.makeGauge(name: "pillarbox_database_connections", labels: [("state", state)]).set(count)
            }
        } catch {
            logger.warning("reading the queue and followers for /metrics failed", metadata: ["error": "\(error)"])
        }
    }

    /// A session for `user` when `password` is theirs (and they are not locked out); a failure
    /// counts for the login IPS like any other service's.
    func startSession(user name: String, password: String, clientIP: String) async -> AdminSessions.Session? {
        guard name.count <= 256, password.count <= 1_024,
              let user = await environment.authenticator.checkPassword(user: name, password: password), !user.lockedOut else {
            await environment.logins.failed(user: String(name.prefix(256)), reason: "wrong credentials", service: "admin",
                                            sessionID: "", clientIP: clientIP)
            return nil
        }
        return environment.sessions.start(user: user.name)
    }

    /// The session cookie: `HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS.
    func cookie(for session: AdminSessions.Session) -> Cookie {
        .init(name: AdminSessions.cookieName, value: session.id, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// POST /api/v1/session: the directory's credentials give a session cookie. A failure
    /// says nothing about why.
    @Sendable func login(_ request: Request, context: AdminRequestContext) async throws -> Response {
        if environment.logins.isBlocked(context.clientIP) { throw Problem(.forbidden, "this address is blocked") }
        let login = try await Self.body(Login.self, request, context, field: "user")
        guard let session = await startSession(user: login.user, password: login.password, clientIP: context.clientIP),
              let user = environment.directory.snapshot.users[session.user.lowercased()] else {
            throw Problem(.unauthorized, "the user name or password is wrong")
        }
        var response = try SessionInfo(user: user.name, admin: user.admin, csrf: session.csrf).response(from: request, context: context)
        response.setCookie(cookie(for: session))
        return response
    }

    func listSettings() async throws -> [SettingInfo] {
        try await Settings(engine: environment.engine).list().map { key, json, isDefault in
            SettingInfo(key: key.name, type: key.typeName, summary: key.summary, defaultValue: key.defaultJSON, value: json,
                        isDefault: isDefault)
        }
    }

    /// PUT /api/v1/settings/{key}: the value checked by its key's rule and recorded as the
    /// CLI records it, with the acting administrator and their address as the actor.
    @Sendable func changeSetting(_ request: Request, context: AdminRequestContext) async throws -> SettingInfo {
        let name = try context.parameters.require("key")
        guard let key = SettingKeys.named(name) else { throw Problem(.notFound, "no setting named \(name)", field: "key") }
        let change = try await Self.body(SettingChange.self, request, context, field: "value")
        do {
            _ = try await SettingWriter(engine: environment.engine).set(name, to: change.value, actor: context.actor)
        } catch let problem as SettingProblem {
            throw Problem(.unprocessableContent, problem.description, field: "value")
        }
        let stored = try await Settings(engine: environment.engine).json(name)
        return SettingInfo(key: key.name, type: key.typeName, summary: key.summary, defaultValue: key.defaultJSON,
                           value: stored ?? key.defaultJSON, isDefault: stored == nil)
    }

    /// GET /api/v1/users?q=&offset=&limit=: by name, filtered by a part of it.
    @Sendable func listUsers(_ request: Request, context: AdminRequestContext) async throws -> Page<UserInfo> {
        let query = request.uri.queryParameters
        let search = query["q"].map { String($0).lowercased() } ?? ""
        guard let offset = Int(query["offset"].map(String.init) ?? "0"), offset >= 0 else {
            throw Problem(.badRequest, "offset must be a whole number from 0", field: "offset")
        }
        guard let limit = Int(query["limit"].map(String.init) ?? "100"), (1...1_000).contains(limit) else {
            throw Problem(.badRequest, "limit must be 1 to 1000", field: "limit")
        }
        let all = environment.directory.snapshot.users.values.filter { search.isEmpty || $0.name.lowercased().contains(search) }
            .sorted { $0.id < $1.id }
        return Page(items: all.dropFirst(offset).prefix(limit).map(UserInfo.init), total: all.count, offset: offset, limit: limit)
    }
}
