import Crypto
@testable import EventLog
import Facts
import Foundation
import NIOCore
import PostgresNIO
import Projections
import Testing
import TestSupport

/// Attacks by someone holding the database (its serving role, a superuser, a dump), each made
/// the way it was made against a running server, and each caught.
@Suite("Attacks from inside the database", .serialized)
struct DatabaseHolderTests {
    /// Runs `body` with a client connected as `username` (the test cluster's superuser by default).
    static func connect<T: Sendable>(_ server: MailServerHarness, as username: String? = nil,
                                     _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        var endpoint = server.endpoint
        if let username { endpoint.username = username }
        let client = PostgresClient(configuration: endpoint.clientConfiguration(maximumConnections: 2), backgroundLogger: TestDatabase.logger)
        return try await client.whileRunning { try await body(client) }
    }

    @Test("secrets: no APOP or CRAM-MD5 secret in the log, any table or the export; removing the user deletes them")
    func secretsNeverStored() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["user", "passwd", "bob"], input: "bob-new-pass\n")
            try await server.cli(["user", "add", "dave", "--apop", "--cram-md5", "--password-stdin"], input: "dave-pass\n")
            let dump = try await server.cli(["log", "dump"])
            let export = try await server.cli(["user", "export"])
            // Every table of every schema, as text.
            var tables = ""
            let names = try await server.query("""
                SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
                WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                """)
            for name in names.map({ $0[0] }) {
                for row in try await server.query("SELECT t::text FROM \(name) t") { tables += row.joined() + "\n" }
            }
            for password in ["alice-pass", "bob-pass", "bob-new-pass", "dave-pass"] {
                let bytes = Array(password.utf8)
                let context = Credentials.cramContext(bytes)
                let contextBytes = Credentials.cramContextBytes(bytes)
                let needles = [password, Data(bytes).base64EncodedString(), bytes.map { String(format: "%02x", $0) }.joined(),
                               context, Data(contextBytes).base64EncodedString(), "\\x" + context]
                for needle in needles {
                    #expect(!dump.contains(needle), "log dump holds \(needle) (\(password))")
                    #expect(!export.contains(needle), "user export holds \(needle) (\(password))")
                    #expect(!tables.contains(needle), "a table holds \(needle) (\(password))")
                }
            }
            // The secrets are in the vault, sealed; bob's old ones went with his new password.
            #expect(try await server.query("SELECT subject, purpose FROM vault.secrets ORDER BY 1, 2").map { $0.joined(separator: " ") }
                    == ["alice apop", "bob cram-md5", "dave apop", "dave cram-md5"])
            try await server.cli(["user", "remove", "dave"])
            #expect(try await server.query("SELECT count(*)::text FROM vault.secrets WHERE subject = 'dave'") == [["0"]])

            // APOP and CRAM-MD5 still work, from the sealed secrets.
            try await server.start(pop3: true)
            let result = try await server.python("""
                import poplib, base64, hmac, hashlib, json
                out = {}
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                out['apop'] = p.apop('alice', 'alice-pass').decode()
                p.quit()
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                challenge = base64.b64decode(p._shortcmd('AUTH CRAM-MD5')[2:])
                digest = hmac.new(b'bob-new-pass', challenge, hashlib.md5).hexdigest()
                out['cram'] = p._shortcmd(base64.b64encode(('bob ' + digest).encode()).decode()).decode()
                p.quit()
                print(json.dumps(out))
                """)
            let json = try result.json
            #expect((json["apop"] as? String)?.hasPrefix("+OK alice") == true, "\(json)")
            #expect((json["cram"] as? String)?.hasPrefix("+OK bob") == true, "\(json)")
        }
    }

    @Test("the serving role cannot touch the log; a re-chained forgery fails against the signed heads and a head kept outside")
    func rechainedForgery() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start()
            // The server's own role: no UPDATE, DELETE or TRUNCATE, no trigger switched off.
            try await Self.connect(server, as: DatabaseRoles.embeddedServingRole) { client in
                for statement in ["UPDATE eventlog.events SET type = type", "DELETE FROM eventlog.events",
                                  "ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only",
                                  "UPDATE eventlog.ledger SET chain_hash = chain_hash", "TRUNCATE eventlog.blobs CASCADE",
                                  "DELETE FROM eventlog.ledger_checkpoints", "DROP TABLE eventlog.ledger",
                                  "UPDATE eventlog.streams SET category = 'x'"] {
                    await #expect(throws: PSQLError.self, "\(statement)") {
                        try await client.query(PostgresQuery(unsafeSQL: statement), logger: TestDatabase.logger)
                    }
                }
                let rows = try await client.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", logger: TestDatabase.logger)
                for try await superuser in rows.decode(Bool.self) { #expect(!superuser) }
            }
            // An auditor keeps the signed head outside the database.
            let head = try await server.cli(["log", "head", "--now"])
            let headFile = server.dataDirectory + "/kept-head.json"
            try head.write(toFile: headFile, atomically: true, encoding: .utf8)
            let intact = try await PillarboxBinary.run(["log", "verify", "--head", headFile] + server.databaseArguments)
            #expect(intact.status == 0, "\(intact.output)\(intact.errors)")

            // The forger, as a superuser: bob's user_created made to say admin, stored plain,
            // its content hash recomputed with eventlog.event_hash, the ledger re-chained.
            let line = try #require(try await server.cli(["log", "dump", "--category", "directory"])
                .split(separator: "\n").first { $0.contains("\"user_created\"") && $0.contains("\"bob\"") })
            let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let position = try #require(event["position"] as? Int)
            var data = try #require(event["data"] as? [String: Any])
            var user = try #require(data["user"] as? [String: Any])
            user["admin"] = true
            data["user"] = user
            let forged = String(decoding: try JSONSerialization.data(withJSONObject: data), as: UTF8.self)
            try await Self.connect(server) { client in
                try await client.query("ALTER TABLE eventlog.events DISABLE TRIGGER events_append_only", logger: TestDatabase.logger)
                try await client.query("""
                    UPDATE eventlog.events e SET codec = 0, dict_id = NULL, payload = convert_to(\(forged), 'UTF8'),
                        content_hash = eventlog.event_hash(e.event_id, s.stream_key, e.stream_version, e.type, e.type_version,
                            0::smallint, NULL, e.correlation_id, e.causation_id,
                            (extract(epoch FROM e.recorded_at) * 1000000)::bigint, convert_to(\(forged), 'UTF8'))
                    FROM eventlog.streams s WHERE s.stream_id = e.stream_id AND e.global_position = \(Int64(position))
                    """, logger: TestDatabase.logger)
                try await client.query("ALTER TABLE eventlog.events ENABLE TRIGGER events_append_only", logger: TestDatabase.logger)
                #expect(try await LedgerForgery.rechain(client, from: Int64(position)), "the forged event is sealed")
            }
            let dumped = try await server.cli(["log", "dump", "--from", "\(position)", "--to", "\(position)"])
            #expect(dumped.contains("\"admin\":true"), "the forgery is in place: \(dumped)")

            let caught = try await PillarboxBinary.run(["log", "verify"] + server.databaseArguments)
            #expect(caught.status == 1)
            #expect(caught.errors.contains("re-chained"), "\(caught.errors)")
            // Without the stored heads (deleted too), the head kept outside still catches it.
            try await Self.connect(server) { client in
                try await client.query("ALTER TABLE eventlog.ledger_checkpoints DISABLE TRIGGER USER", logger: TestDatabase.logger)
                try await client.query("DELETE FROM eventlog.ledger_checkpoints", logger: TestDatabase.logger)
                try await client.query("ALTER TABLE eventlog.ledger_checkpoints ENABLE TRIGGER USER", logger: TestDatabase.logger)
            }
            let withHead = try await PillarboxBinary.run(["log", "verify", "--head", headFile] + server.databaseArguments)
            #expect(withHead.status == 1)
            #expect(withHead.errors.contains("re-chained"), "\(withHead.errors)")
        }
    }

    @Test("a message body swapped under its address reaches no client; log verify names it and the events using it")
    func swappedBody() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.start(pop3: true, imap: true)
            _ = try await server.python("""
                import smtplib
                s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
                s.sendmail('billing@remote.test', ['alice@example.com'], b'Subject: invoice\\r\\n\\r\\nPay to account 1234\\r\\n')
                s.quit()
                print('{}')
                """)
            _ = try await server.awaitInbox("alice", count: 1)
            try await Self.connect(server) { client in
                try await client.query("ALTER TABLE eventlog.blobs DISABLE TRIGGER USER", logger: TestDatabase.logger)
                // The swap replaces the stored body outright, keeping its address.
                try await client.query("""
                    UPDATE eventlog.blobs SET codec = 0, dict_id = NULL, chunks = 0,
                        data = convert_to('Return-Path: <billing@remote.test>' || chr(13) || chr(10) || 'Subject: invoice' || chr(13) || chr(10)
                                          || chr(13) || chr(10) || 'Pay to account 6666' || chr(13) || chr(10), 'UTF8')
                    """, logger: TestDatabase.logger)
                try await client.query("ALTER TABLE eventlog.blobs ENABLE TRIGGER USER", logger: TestDatabase.logger)
            }
            let result = try await server.python("""
                import imaplib, poplib, json
                out = {}
                m = imaplib.IMAP4('127.0.0.1', PORTS['imap'])
                import ssl
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                m.starttls(ssl_context=ctx)
                m.login('alice', 'alice-pass')
                m.select('INBOX')
                try:
                    typ, data = m.fetch('1', '(BODY.PEEK[])')
                    out['imap'] = [typ, repr(data)]
                except imaplib.IMAP4.error as e:
                    out['imap'] = ['error', str(e)]
                m.logout()
                p = poplib.POP3('127.0.0.1', PORTS['pop3'])
                p.stls(context=ctx)
                p.user('alice'); p.pass_('alice-pass')
                try:
                    out['pop3'] = repr(p.retr(1))
                except poplib.error_proto as e:
                    out['pop3'] = e.args[0].decode()
                p.quit()
                print(json.dumps(out))
                """)
            let json = try result.json
            let imap = try #require(json["imap"] as? [String])
            #expect(imap.joined().contains("UNAVAILABLE"), "\(imap)")
            #expect(!imap.joined().contains("6666"))
            let pop3 = try #require(json["pop3"] as? String)
            #expect(pop3.hasPrefix("-ERR [SYS/TEMP]"), "\(pop3)")
            #expect(!pop3.contains("6666"))
            #expect(server.log.contains("does not match its SHA-256"))

            let verify = try await PillarboxBinary.run(["log", "verify"] + server.databaseArguments)
            #expect(verify.status == 1)
            #expect(verify.errors.contains("message body"), "\(verify.errors)")
            #expect(verify.errors.contains("events referring to it"), "\(verify.errors)")
            let quick = try await PillarboxBinary.run(["log", "verify", "--no-blobs"] + server.databaseArguments)
            #expect(quick.status == 0, "\(quick.errors)")
        }
    }
}
