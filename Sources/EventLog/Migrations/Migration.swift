import Crypto
import Foundation

/// A numbered, forward-only schema change from `migrations/NNNN_name.sql`, compiled into the
/// binary at build time.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file; an applied migration whose file later changed is refused.
    public let checksum: String

    public init(version: Int, name: String, sql: String, checksum: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = checksum
    }

    /// Every migration shipped in this binary, in order.
    public static let all: [Migration] = {
        let migrations = EmbeddedMigrations.files.map { file -> Migration in
            guard let data = Data(base64Encoded: file.base64),
                  let sql = String(data: data, encoding: .utf8),
                  let underscore = file.name.firstIndex(of: "_"),
                  let version = Int(file.name[..<underscore]) else {
                fatalError("migrations/\(file.name) is not named NNNN_name.sql or is not UTF-8")
            }
            let name = String(file.name[file.name.index(after: underscore)...].dropLast(".sql".count))
            return Migration(version: version, name: name, sql: sql,
                             checksum: Array(SHA256.hash(data: data)).hexString)
        }
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            fatalError("migrations must be numbered 0001, 0002, … without gaps; found \(migration.version) at place \(index + 1)")
        }
        return migrations
    }()
}
