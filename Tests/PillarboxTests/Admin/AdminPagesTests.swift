import Foundation
import TestSupport
import Testing

/// The admin's pages over HTTP on loopback: the login form, the status page, HTML escaping of
/// what mail brings in.
@Suite("Web admin: the pages")
struct AdminPagesTests {
    static let pages = ["/", "/queue", "/users", "/directory", "/settings", "/logs", "/logs?table=messages", "/logs?table=recipients",
                        "/security", "/log", "/sessions", "/users/alice"]

    @Test("log in through the form; every page renders, the queue with hostile subjects escaped; non-admins get 403 on every admin page")
    func pages() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "smtp.relay_networks", #"["127.0.0.1"]"#, "outqueue.paused", "true"])
            try await server.start(admin: true)
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('alice@example.com', ['someone@remote.example'],
                           'Subject: <script>alert(1)</script> & "quotes"\\r\\n\\r\\nbody\\r\\n')
                s.quit()
                print(json.dumps({}))
                """)
            // The queue's table follows the log a moment behind: the page shows it once it has the message.
            _ = try await eventually(within: .seconds(30), "the message in the queue's table") { () -> Bool? in
                try await server.query("SELECT count(*)::text FROM outqueue.outrecipients").first?.first == "1" ? true : nil
            }
            let result = try await server.python("""
                import urllib.request, urllib.parse, urllib.error, http.cookiejar
                base = 'http://127.0.0.1:%d' % PORTS['admin']
                PAGES = \(String(decoding: try JSONSerialization.data(withJSONObject: Self.pages, options: .withoutEscapingSlashes), as: UTF8.self))
                class NoRedirect(urllib.request.HTTPRedirectHandler):
                    def redirect_request(self, *arguments):
                        return None
                def session():
                    jar = http.cookiejar.CookieJar()
                    return jar, urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
                def get(opener, path):
                    try:
                        response = opener.open(base + path, timeout=30)
                        return response.status, response.headers.get('Location'), response.read().decode()
                    except urllib.error.HTTPError as error:
                        return error.code, error.headers.get('Location'), error.read().decode()
                def post(opener, path, fields):
                    try:
                        response = opener.open(base + path, data=urllib.parse.urlencode(fields).encode(), timeout=30)
                        return response.status, response.headers.get('Location')
                    except urllib.error.HTTPError as error:
                        return error.code, error.headers.get('Location')
                out = {}
                jar, admin = session()
                out['anonymous'] = get(admin, '/')[:2]
                out['wrong'] = post(admin, '/login', {'user': 'postmaster', 'password': 'nope'})
                out['wrong_page'] = get(admin, '/login?failed=1')[2]
                out['right'] = post(admin, '/login', {'user': 'postmaster', 'password': 'postmaster-pass'})
                out['cookie'] = [{'name': c.name, 'httponly': c.has_nonstandard_attr('HttpOnly')} for c in jar]
                status, _, page = get(admin, '/')
                out['status'] = status
                out['page'] = page
                out['queue_page'] = get(admin, '/queue')[2]
                out['pages'] = {path: get(admin, path)[0] for path in PAGES}
                status, _, page = get(admin, '/logs?since=yesterday')
                out['bad_filter'] = [status, 'is a time such as' in page]
                _, user = session()
                post(user, '/login', {'user': 'alice', 'password': 'alice-pass'})
                out['user_page'] = get(user, '/')[2]
                out['user_pages'] = {path: get(user, path)[0] for path in PAGES if path != '/'}
                print(json.dumps(out))
                """).json
            #expect((result["anonymous"] as? [Any])?.first as? Int == 303)
            #expect((result["anonymous"] as? [Any])?.last as? String == "/login")
            #expect((result["wrong"] as? [Any])?.last as? String == "/login?failed=1")
            #expect((result["wrong_page"] as? String)?.contains("The user name or password is wrong.") == true)
            #expect((result["right"] as? [Any])?.last as? String == "/")
            #expect((result["cookie"] as? [[String: Any]])?.first?["httponly"] as? Bool == true, "\(result["cookie"] ?? "")")
            let page = result["page"] as? String ?? ""
            #expect(result["status"] as? Int == 200)
            #expect(page.contains(#"<b id="queued">1</b>"#), "\(page)")
            #expect(page.contains("message_accepted"), "the latest events")
            let queue = result["queue_page"] as? String ?? ""
            #expect(queue.contains("someone@remote.example"), "\(queue)")
            #expect(queue.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"), "the subject escaped: \(queue)")
            #expect(!queue.contains("<script>alert"), "no markup from mail reaches the page")
            let statuses = result["pages"] as? [String: Int] ?? [:]
            #expect(statuses.count == Self.pages.count && statuses.values.allSatisfy { $0 == 200 }, "\(statuses)")
            #expect((result["bad_filter"] as? [Any])?.first as? Int == 400 && (result["bad_filter"] as? [Any])?.last as? Bool == true,
                    "a bad filter is said on the page: \(result["bad_filter"] ?? "")")
            let refused = result["user_pages"] as? [String: Int] ?? [:]
            #expect(refused.count == Self.pages.count - 1 && refused.values.allSatisfy { $0 == 403 }, "\(refused)")
            #expect((result["user_page"] as? String)?.contains("for administrators") == true)
            #expect((result["user_page"] as? String)?.contains("someone@remote.example") == false)
        }
    }
}
