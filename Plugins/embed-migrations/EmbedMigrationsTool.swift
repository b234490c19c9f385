import Foundation

/// Usage: embed-migrations OUTPUT.swift FILE.sql...
/// Writes a Swift file declaring `EmbeddedMigrations.files`: each migration's file name and its
/// text, base64-encoded so no SQL character needs escaping in Swift source. A `@main` type
/// rather than top-level code, so the tool also builds where every module is compiled as a
/// library (the fuzz build's `-parse-as-library`).
@main
enum EmbedMigrationsTool {
    static func fail(_ message: String, _ status: Int32) -> Never {
        FileHandle.standardError.write(Data("embed-migrations: \(message)\n".utf8))
        exit(status)
    }

    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let output = arguments.first else { fail("usage: embed-migrations OUTPUT.swift FILE.sql...", 64) }
        var source = """
            // Generated at build time from migrations/*.sql. Do not edit.
            import Foundation

            enum EmbeddedMigrations {
                static let files: [(name: String, base64: String)] = [

            """
        for path in arguments.dropFirst() {
            let url = URL(fileURLWithPath: path)
            guard let contents = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)", 66) }
            source += "        (\"\(url.lastPathComponent)\", \"\(contents.base64EncodedString())\"),\n"
        }
        source += "    ]\n}\n"
        do {
            try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            fail("cannot write \(output): \(error)", 73)
        }
    }
}
