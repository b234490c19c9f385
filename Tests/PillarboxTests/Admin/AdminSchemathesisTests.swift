import Foundation
import TestSupport
import Testing

/// schemathesis (from PyPI; `make test` installs it into `.build/python`) generates requests
/// from the OpenAPI document the server serves, valid and not, for every operation, and checks
/// each answer: never a 5xx, a status the document lists, its content type and its schema.
@Suite("Web admin: schemathesis against the OpenAPI document")
struct AdminSchemathesisTests {
    @Test("no 5xx, and every answer's status, content type and body as the document says")
    func schemathesis() async throws {
        let tool = try #require(ProcessInfo.processInfo.environment["PILLARBOX_SCHEMATHESIS"],
                                "PILLARBOX_SCHEMATHESIS names the schemathesis program; make test installs it")
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            // The API is what is tested here, not scrypt: new passwords take the cheapest cost,
            // so the many users schemathesis makes do not each hold a worker for long.
            try await server.cli(["settings", "set", "security.scrypt_log_n", "10"])
            try await server.start(admin: true)
            let token = try await server.cli(["admin", "token", "create", "--name", "schemathesis"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let port = try #require(server.ports["admin"])
            let run = try await server.tool(tool, [
                "run", "http://127.0.0.1:\(port)/api/v1/openapi.json", "--header", "Authorization: Bearer \(token)",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples", "10", "--max-time", "240", "--workers", "2", "--request-timeout", "30",
                "--exclude-path", "/session", "--seed", "1", "--no-color",
            ], timeout: .seconds(420))
            let failures = run.output.range(of: "=== FAILURES ===").map { String(run.output[$0.lowerBound...].prefix(8_000)) }
                ?? run.output.range(of: "=== ERRORS ===").map { String(run.output[$0.lowerBound...].prefix(8_000)) }
                ?? String(run.output.suffix(3_000))
            #expect(run.status == 0, "\(failures)\(run.errors.suffix(2_000))")
        }
    }
}
