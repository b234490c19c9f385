import Foundation

// Usage: embed-migrations OUTPUT.swift FILE.sql...
// Writes a Swift file declaring `EmbeddedMigrations.files`: each migration's file name and its
// text, base64-encoded so no SQL character needs escaping in Swift source.

let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: embed-migrations OUTPUT.swift FILE.sql...\n".utf8))
    exit(64)
}

var source = """
    // Generated at build time from migrations/*.sql. Do not edit.
    import Foundation

    enum EmbeddedMigrations {
        static let files: [(name: String, base64: String)] = [

    """
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    guard let contents = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("embed-migrations: cannot read \(path)\n".utf8))
        exit(66)
    }
    source += "        (\"\(url.lastPathComponent)\", \"\(contents.base64EncodedString())\"),\n"
}
source += "    ]\n}\n"

do {
    try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
} catch {
    FileHandle.standardError.write(Data("embed-migrations: cannot write \(output): \(error)\n".utf8))
    exit(73)
}
