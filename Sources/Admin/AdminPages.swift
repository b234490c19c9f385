import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import PostgresNIO

/// The admin's pages, rendered on the server from Mustache templates (values HTML-escaped):
/// the login form and the status page. Plain HTML and CSS; the only script sends the logout.
struct AdminPages {
    let api: AdminAPI
    var environment: AdminEnvironment { api.environment }

    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        // The frame every page shares.
        try! library.register(MustacheTemplate(string: """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>{{title}} · Pillarbox</title>
            <style>
            body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1d2433; background: #f6f7f9; }
            header { background: #243b55; color: #fff; padding: .6em 1.2em; display: flex; gap: 1em; align-items: center; }
            header h1 { font-size: 1.1em; margin: 0; flex: 1; }
            main { padding: 1.2em; max-width: 72em; }
            table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1.5em; }
            th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e6ea; }
            th { background: #eef1f5; }
            .cards { display: flex; gap: 1em; margin-bottom: 1.5em; }
            .card { background: #fff; padding: .8em 1.2em; border-radius: 6px; min-width: 9em; }
            .card b { display: block; font-size: 1.6em; }
            .error { color: #a4161a; }
            form.login { background: #fff; padding: 1.5em; max-width: 20em; border-radius: 6px; }
            form.login input { display: block; width: 100%; margin: .3em 0 1em; padding: .4em; box-sizing: border-box; }
            </style></head>
            <body><header><h1>Pillarbox · {{title}}</h1>{{#user}}<span>{{user}}</span>
            <button id="logout" data-csrf="{{csrf}}">Log out</button>{{/user}}</header>
            <main>{{$body}}{{/body}}</main>
            <script>
            const logout = document.getElementById('logout');
            if (logout) logout.onclick = () => fetch('/api/v1/session', {method: 'DELETE', headers: {'X-CSRF-Token': logout.dataset.csrf}})
                .then(() => { location = '/login'; });
            </script></body></html>
            """), named: "frame")
        try! library.register(MustacheTemplate(string: """
            {{<frame}}{{$body}}
            <form class="login" method="post" action="/login">
            {{#failed}}<p class="error">The user name or password is wrong.</p>{{/failed}}
            <label>User name <input name="user" autocomplete="username" required></label>
            <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
            <button type="submit">Log in</button>
            </form>
            {{/body}}{{/frame}}
            """), named: "login")
        try! library.register(MustacheTemplate(string: """
            {{<frame}}{{$body}}
            <div class="cards">
            <div class="card">Queued<b id="queued">{{queued}}</b></div>
            <div class="card">Held<b id="held">{{held}}</b></div>
            <div class="card">Users<b id="users">{{users}}</b></div>
            <div class="card">Domains<b id="domains">{{domains}}</b></div>
            <div class="card">Blocked<b id="blocked">{{blocked}}</b></div>
            </div>
            <h2>Outgoing queue</h2>
            <table id="queue"><tr><th>State</th><th>To</th><th>From</th><th>Subject</th><th>Size</th><th>Attempts</th></tr>
            {{#queue}}<tr><td>{{state}}</td><td>{{to}}</td><td>{{from}}</td><td>{{subject}}</td><td>{{size}}</td><td>{{attempts}}</td></tr>
            {{/queue}}</table>
            <h2>Latest events</h2>
            <table id="events"><tr><th>Position</th><th>Recorded</th><th>Stream</th><th>Event</th></tr>
            {{#events}}<tr><td>{{position}}</td><td>{{recorded}}</td><td>{{stream}}</td><td>{{type}}</td></tr>
            {{/events}}</table>
            {{/body}}{{/frame}}
            """), named: "status")
        try! library.register(MustacheTemplate(string: """
            {{<frame}}{{$body}}
            <p>You are logged in as {{user}}. The administration pages are for administrators.</p>
            {{/body}}{{/frame}}
            """), named: "account")
        return library
    }()

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    struct LoginForm: Decodable {
        let user: String
        let password: String
    }

    func add(to router: Router<AdminRequestContext>) {
        router.get("/login") { request, _ -> Response in
            let failed = request.uri.queryParameters["failed"] != nil
            return Self.html(Self.library.render(["title": "Log in", "failed": failed], withTemplate: "login") ?? "")
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
        router.get("/") { _, context -> Response in
            guard let user = context.user, let session = context.session else { return Self.redirect("/login") }
            guard user.admin else {
                return Self.html(Self.library.render(["title": "Your account", "user": user.name, "csrf": session.csrf],
                                                     withTemplate: "account") ?? "")
            }
            var page = try await status()
            page["title"] = "Status"
            page["user"] = user.name
            page["csrf"] = session.csrf
            return Self.html(Self.library.render(page, withTemplate: "status") ?? "")
        }
    }

    /// What the status page shows: totals, the first of the queue, the latest events.
    func status() async throws -> [String: Any] {
        let client = environment.engine.store.client, logger = environment.logger
        var page: [String: Any] = [:]
        let totals = try await client.query("""
            SELECT count(*) FILTER (WHERE NOT m.held), count(*) FILTER (WHERE m.held)
            FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid) WHERE r.finished IS NULL
            """, logger: logger)
        for try await (queued, held) in totals.decode((Int64, Int64).self) {
            page["queued"] = queued
            page["held"] = held
        }
        let snapshot = environment.directory.snapshot
        page["users"] = snapshot.users.count
        page["domains"] = snapshot.domains.count
        let blocks = try await client.query("SELECT count(*) FROM security.blocks WHERE until > now()", logger: logger)
        for try await count in blocks.decode(Int64.self) { page["blocked"] = count }
        var queue: [[String: Any]] = []
        let rows = try await client.query("""
            SELECT CASE WHEN m.held THEN 'held' ELSE r.status END, r.address, r.returnpath, coalesce(m.subject, ''), m.size, r.attempts
            FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid) WHERE r.finished IS NULL
            ORDER BY m.priority, m.created LIMIT 50
            """, logger: logger)
        for try await (state, to, from, subject, size, attempts) in rows.decode((String, String, String, String, Int64, Int64).self) {
            queue.append(["state": state, "to": to, "from": from, "subject": subject, "size": size, "attempts": attempts])
        }
        page["queue"] = queue
        var events: [[String: Any]] = []
        let latest = try await client.query("""
            SELECT e.global_position, e.recorded_at, s.stream_key, e.type
            FROM eventlog.events e JOIN eventlog.streams s USING (stream_id) ORDER BY e.global_position DESC LIMIT 20
            """, logger: logger)
        for try await (position, recorded, stream, type) in latest.decode((Int64, Date, String, String).self) {
            events.append(["position": position, "recorded": recorded.formatted(.iso8601), "stream": stream, "type": type])
        }
        page["events"] = events
        return page
    }
}
