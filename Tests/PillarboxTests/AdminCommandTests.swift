import Foundation
import Testing
import TestSupport

/// The administration commands, run as separate processes against a running server.
@Suite("administration commands", .serialized)
struct AdminCommandTests {
    @Test("domain, user, alias, group, list and settings commands work while the server runs; verify agrees")
    func againstRunningServer() async throws {
        let directory = try ServeTests.makeDataDirectory()
        let server = try ServeTests.serve(directory)
        do {
            try await server.waitForLog("pillarbox is ready")
            func run(_ arguments: [String], input: String? = nil) async throws -> String {
                let result = try await PillarboxBinary.run(arguments + ["--data-dir", directory], input: input)
                #expect(result.status == 0, "\(arguments.joined(separator: " ")): \(result.errors)")
                return result.output
            }
            _ = try await run(["domain", "add", "example.com"])
            _ = try await run(["settings", "set", "security.scrypt_log_n", "10"])
            _ = try await run(["user", "add", "postmaster", "--admin", "--password-stdin"], input: "admin-pass\n")
            _ = try await run(["user", "add", "Alice", "--password-stdin"], input: "alice-pass\n")
            _ = try await run(["alias", "add", "sales@example.com", "alice"])
            _ = try await run(["group", "add", "Sales"])
            _ = try await run(["group", "member", "add", "sales", "alice"])
            _ = try await run(["list", "add", "team", "--public"])
            _ = try await run(["list", "member", "add", "team", "alice"])

            let users = try JSONSerialization.jsonObject(with: Data(try await run(["user", "list", "--json"]).utf8)) as? [[String: String]]
            #expect(users?.map { $0["user"] } == ["Alice", "postmaster"])
            #expect(try await run(["domain", "default"]) == "example.com\n")
            #expect(try await run(["settings", "get", "security.scrypt_log_n"]) == "10\n")
            #expect(try await run(["group", "show", "Sales"]).contains("alice"))
            #expect(try await run(["user", "show", "alice"]).contains("bytes_used"))

            let refused = try await PillarboxBinary.run(["user", "add", "bad name", "--data-dir", directory])
            #expect(refused.status != 0 && refused.errors.contains("not a valid user name"))

            let verify = try await run(["verify"])
            #expect(verify.contains("directory: ok") && verify.contains("mailbox: ok") && verify.contains("settings: ok"))
            let exported = try await run(["user", "export"])
            #expect(exported.hasPrefix("User Id,Password,Admin,Reply To,Assistant,Send Only To Assistant,Forward To"))
            #expect(!exported.contains("alice-pass"))
            _ = try await run(["rebuild", "mailbox"])
            _ = try await run(["replay", "--until", "3", "--into", "audit_one"])
            #expect(try await run(["verify", "mailbox"]).contains("mailbox: ok"))

            server.signal(SIGTERM)
            #expect(try await server.wait(timeout: .seconds(60)) == 0)
            await ServeTests.cleanUp(directory)
        } catch {
            server.signal(SIGKILL)
            _ = try? await server.wait(timeout: .seconds(30))
            await ServeTests.cleanUp(directory)
            throw error
        }
    }
}
