import Foundation
import TestSupport
import Testing

/// Every field the API takes, given the wrong type, too long, empty or hostile, and bodies of
/// 100 MB: each gets a clear 4xx with problem details, and the log gains nothing.
@Suite("Web admin: bad input")
struct AdminBadInputTests {
    static let script = #"""
import subprocess, urllib.request, urllib.error
base = 'http://127.0.0.1:%d/api/v1' % PORTS['admin']
token = sys.argv[1]
def call(method, path, body, kind='application/json'):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header('Content-Type', kind)
    request.add_header('Authorization', 'Bearer ' + token)
    try:
        response = urllib.request.urlopen(request, timeout=60)
        return response.status, response.headers.get('Content-Type', ''), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get('Content-Type', ''), error.read().decode()
long = 'x' * 5000
hostile = '<script>alert(1)</script>'
nul = 'a\u0000b'
cases = [
    ('POST', '/users', {'name': 5}), ('POST', '/users', {'name': ''}), ('POST', '/users', {'name': long}),
    ('POST', '/users', {'name': hostile}), ('POST', '/users', {'name': '../../etc/passwd'}), ('POST', '/users', {'name': nul}),
    ('POST', '/users', {'name': 'zed', 'password': 'x'}), ('POST', '/users', {'name': 'zed', 'password': 'good-pass-1', 'admin': 'yes'}),
    ('POST', '/users', {'name': 'zed', 'password': 'good-pass-1', 'comments': 'line\r\nbreak'}),
    ('POST', '/users', {'name': 'zed', 'password': 'good-pass-1', 'comments': long}),
    ('PATCH', '/users/alice', {'forward_to': 'x\u0000y'}), ('PATCH', '/users/alice', {'locked_out': 'true'}),
    ('PATCH', '/users/alice', {'comments': 7}), ('PATCH', '/users/alice', {'reply_to': '\u0007bell'}),
    ('PATCH', '/users/alice', {'protocols': ['gopher']}), ('PATCH', '/users/alice', {'send_priority': 5000}),
    ('PATCH', '/users/alice', {'max_outgoing_size': -1}), ('PATCH', '/users/alice', {'assistants': ['nobody-here']}),
    ('PATCH', '/users/alice', {'cram_md5': True}),
    ('POST', '/domains', {'pattern': ''}), ('POST', '/domains', {'pattern': hostile}), ('POST', '/domains', {'pattern': long}),
    ('POST', '/domains', {'pattern': ['a']}),
    ('POST', '/aliases', {'address': hostile, 'target': 'alice'}), ('POST', '/aliases', {'address': 'x@example.com', 'target': ''}),
    ('POST', '/groups', {'name': hostile}), ('POST', '/groups', {'name': ''}), ('POST', '/groups', {'enabled': True}),
    ('POST', '/lists', {'name': 'news', 'kind': 'weekly'}), ('POST', '/lists', {'name': hostile, 'kind': 'mailing'}),
    ('POST', '/lists', {'name': 'news', 'kind': 'mailing', 'description': 'a\u0000'}),
    ('POST', '/blocks', {'address': hostile}), ('POST', '/blocks', {'address': '192.0.2.1', 'minutes': 'ten'}),
    ('POST', '/blocks', {'address': '192.0.2.1', 'minutes': -5}),
    ('PUT', '/settings/smtp.max_recipients', {'value': 'many'}), ('PUT', '/settings/smtp.max_recipients', {'value': 5}),
    ('PUT', '/settings/smtp.max_recipients', {'value': '-1'}), ('PUT', '/settings/..%2F..%2Fetc', {'value': '1'}),
    ('POST', '/jobs', {'kind': 'drop-everything'}), ('POST', '/jobs', {'kind': 'rebuild', 'projection': '../x'}),
    ('PUT', '/queue/nosuch/priority', {'priority': 'high'}),
    ('POST', '/users/import', b'User Id,Password\r\n<b>x</b>,pw\r\n', 'text/csv'),
    ('POST', '/users/import', b'\xff\xfe not utf-8', 'text/csv'),
    ('POST', '/users/import?dry_run=true', b'User Id,Nonsense\r\nzed,1\r\n', 'text/csv'),
]
answers = []
for case in cases:
    status, kind, body = call(*case)
    answers.append({'case': repr(case)[:200], 'status': status, 'kind': kind, 'body': body[:300]})
queries = ['/logdb/sessions?since=yesterday', '/queue?size=lots', '/queue?size=5..1', '/ids?limit=0', '/ids?limit=100000',
           '/audit?offset=-1', '/reputation/addresses?sort=password', '/log/events?stream=%00', '/log/events?after=-3',
           '/logdb/messages?subject=' + 'x' * 600, '/users?limit=abc']
for path in queries:
    request = urllib.request.Request(base + path)
    request.add_header('Authorization', 'Bearer ' + token)
    try:
        status, body = urllib.request.urlopen(request, timeout=60).status, ''
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read().decode()
    answers.append({'case': path[:80], 'status': status, 'kind': 'application/problem+json' if body else '', 'body': body[:300]})
# 100 MB bodies, sent by curl (which stops sending when the server answers early).
big = os.path.join(sys.argv[2], 'big.json')
with open(big, 'wb') as file:
    file.write(b'{"name": "' + b'x' * (100 * 1024 * 1024) + b'"}')
for method, path, kind in [('POST', '/users', 'application/json'), ('POST', '/users/import', 'text/csv'),
                           ('PUT', '/settings/smtp.max_recipients', 'application/json')]:
    status = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', method, '-H', 'Content-Type: ' + kind,
                             '-H', 'Authorization: Bearer ' + token, '--data-binary', '@' + big, base + path],
                            capture_output=True, text=True, timeout=120).stdout
    answers.append({'case': 'huge ' + path, 'status': int(status or 0), 'kind': 'application/problem+json', 'body': ''})
os.remove(big)
print(json.dumps(answers))
"""#

    @Test("wrong types, empty, too long, control characters and markup in every kind of field, 100 MB bodies: 4xx, nothing stored")
    func badInput() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(admin: true)
            let token = try await server.cli(["admin", "token", "create", "--name", "bad-input"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let before = try await server.query("SELECT count(*)::text FROM eventlog.events").first?.first
            let output = try await server.python("import os\n" + Self.script, [token, server.dataDirectory], timeout: .seconds(300))
            let answers = try #require(try JSONSerialization.jsonObject(with: Data(output.output.utf8)) as? [[String: Any]])
            #expect(answers.count > 50)
            for answer in answers {
                let status = answer["status"] as? Int ?? 0
                #expect((400..<500).contains(status), "\(answer)")
                #expect((answer["kind"] as? String)?.contains("problem+json") == true, "\(answer)")
            }
            #expect(answers.filter { ($0["case"] as? String)?.hasPrefix("huge") == true }.allSatisfy { $0["status"] as? Int == 413 },
                    "\(answers.suffix(3))")
            let after = try await server.query("SELECT count(*)::text FROM eventlog.events").first?.first
            #expect(before == after, "nothing was appended to the log")
        }
    }
}
