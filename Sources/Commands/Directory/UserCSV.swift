import Facts
import Foundation
import MailCore
import Projections

/// VPOP3's user list as CSV: `User Id, Password, Admin, Reply To, Assistant, Send Only To
/// Assistant, Forward To, Use Forwarding, Comments, In 'Everyone' List`. A header row is optional
/// and, when present, may put the columns in any order. Booleans are 0/1, assistants `;`-separated.
///
/// Passwords are never exported in clear: the Password column carries the stored credentials as
/// `{HASHED}` followed by base64 JSON, which an import takes as they are. Any other non-empty
/// value is a password in clear; an empty one leaves an existing user's password alone.
public enum UserCSV {
    public static let columns = ["User Id", "Password", "Admin", "Reply To", "Assistant", "Send Only To Assistant",
                                 "Forward To", "Use Forwarding", "Comments", "In 'Everyone' List"]
    static let hashedPrefix = "{HASHED}"

    public static func export(_ users: [UserRecord]) -> String {
        var text = line(columns)
        for user in users.sorted(by: { $0.id < $1.id }) {
            // The one-way hashes only: sealed secrets (CRAM-MD5, APOP) never leave the server.
            let password = user.credentials.map {
                hashedPrefix + Data(SettingJSON.encode(Credentials(scrypt: $0.scrypt, scram: $0.scram)).utf8).base64EncodedString()
            } ?? ""
            text += line([user.name, password, flag(user.admin), user.replyTo, user.assistants.joined(separator: ";"),
                          flag(user.sendOnlyToAssistant), user.forwardTo, flag(user.useForwarding), user.comments,
                          flag(user.inEveryone)])
        }
        return text
    }

    /// One row of an import, as read.
    public struct Row: Sendable {
        public let number: Int
        public var fields: [String: String]
    }

    public struct ImportError: Error, CustomStringConvertible {
        public let row: Int
        public let reason: String
        public var description: String { "row \(row): \(reason)" }
    }

    /// Reads the rows, taking the first as a header when its first field is `User Id`.
    public static func parse(_ text: String) throws -> [Row] {
        let records: [[String]]
        do { records = try CSV.records(text) } catch { throw ImportError(row: error.record, reason: "unterminated quoted field") }
        guard let first = records.first else { return [] }
        var header = columns
        var start = 0
        if first.first?.trimmingCharacters(in: .whitespaces).lowercased() == "user id" {
            header = first.map { name in
                columns.first { $0.lowercased() == name.trimmingCharacters(in: .whitespaces).lowercased() } ?? name
            }
            for name in header where !columns.contains(name) {
                throw ImportError(row: 1, reason: "unknown column \"\(name)\"")
            }
            start = 1
        }
        var rows: [Row] = []
        for (index, record) in records.enumerated().dropFirst(start) {
            if record.count == 1 && record[0].isEmpty { continue }
            guard record.count <= header.count else {
                throw ImportError(row: index + 1, reason: "\(record.count) fields for \(header.count) columns")
            }
            var fields: [String: String] = [:]
            for (column, value) in zip(header, record) { fields[column] = value }
            rows.append(Row(number: index + 1, fields: fields))
        }
        return rows
    }

    /// Applies a row to an existing record (or a new one): fields present overwrite, absent keep.
    static func merge(_ row: Row, into existing: UserRecord?) throws -> (UserRecord, password: String?) {
        guard let name = row.fields["User Id"]?.trimmingCharacters(in: .whitespaces), DirectoryRules.isUserName(name) else {
            throw ImportError(row: row.number, reason: "not a valid user id: \(row.fields["User Id"] ?? "")")
        }
        var user = existing ?? UserRecord(name: name)
        func bool(_ column: String) throws -> Bool? {
            guard let value = row.fields[column]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            switch value.lowercased() {
            case "1", "true", "yes", "y": return true
            case "0", "false", "no", "n": return false
            default: throw ImportError(row: row.number, reason: "\(column) must be 0 or 1, not \(value)")
            }
        }
        if let admin = try bool("Admin") { user.admin = admin }
        if let value = row.fields["Reply To"] { user.replyTo = value }
        if let value = row.fields["Assistant"] {
            user.assistants = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let value = try bool("Send Only To Assistant") { user.sendOnlyToAssistant = value }
        if let value = row.fields["Forward To"] { user.forwardTo = value }
        if let value = try bool("Use Forwarding") { user.useForwarding = value }
        if let value = row.fields["Comments"] { user.comments = value }
        if let value = try bool("In 'Everyone' List") { user.inEveryone = value }
        // Pillarbox's own column, read when a header names it.
        if let value = row.fields["Send Priority"] {
            if value.isEmpty {
                user.sendPriority = nil
            } else {
                guard let priority = Int(value), (-1_000...1_000).contains(priority) else {
                    throw ImportError(row: row.number, reason: "Send Priority must be a number from -1000 to 1000, not \(value)")
                }
                user.sendPriority = priority == 0 ? nil : priority
            }
        }
        var password: String?
        if let value = row.fields["Password"], !value.isEmpty {
            if value.hasPrefix(hashedPrefix) {
                guard let data = Data(base64Encoded: String(value.dropFirst(hashedPrefix.count))),
                      let credentials = try? JSONDecoder().decode(Credentials.self, from: data) else {
                    throw ImportError(row: row.number, reason: "unreadable hashed password")
                }
                if existing?.credentials?.scrypt != credentials.scrypt {
                    // Other hashes: CRAM-MD5 and APOP need their secrets made again from a password.
                    user.credentials = credentials
                    user.cramMD5Enabled = false
                    user.apopEnabled = false
                }
            } else {
                password = value
            }
        }
        return (user, password)
    }

    private static func flag(_ value: Bool) -> String { value ? "1" : "0" }

    private static func line(_ fields: [String]) -> String {
        fields.map(CSV.quote).joined(separator: ",") + "\r\n"
    }
}

extension Directory {
    public struct ImportReport: Sendable {
        public var created: [String] = []
        public var updated: [String] = []
        public var unchanged: [String] = []
    }

    /// Merges a CSV user list into the directory: new users are created, existing ones updated.
    /// With `dryRun` every row is checked and the report says what would happen; nothing changes.
    public func importUsers(csv: String, dryRun: Bool) async throws -> ImportReport {
        let rows = try UserCSV.parse(csv)
        var report = ImportReport()
        var seen = Set<String>()
        let directory = try await snapshot()
        // Checked in full first; each user appears once, so the snapshot stays right for applying.
        var changes: [(row: Int, user: UserRecord, password: String?, isNew: Bool)] = []
        for row in rows {
            let existing = directory.users[row.fields["User Id"]?.lowercased() ?? ""]
            let (user, password) = try UserCSV.merge(row, into: existing)
            guard seen.insert(user.id).inserted else {
                throw UserCSV.ImportError(row: row.number, reason: "user \(user.name) appears twice")
            }
            if existing == nil {
                do { try directory.checkNameFree(user.name) } catch {
                    throw UserCSV.ImportError(row: row.number, reason: "\(error)")
                }
            }
            if let password {
                do { try await checkPassword(password) } catch {
                    throw UserCSV.ImportError(row: row.number, reason: "\(error)")
                }
            }
            if existing == nil { report.created.append(user.name) } else if existing == user && password == nil {
                report.unchanged.append(user.name)
                continue
            } else {
                report.updated.append(user.name)
            }
            changes.append((row.number, user, password, existing == nil))
        }
        guard !dryRun else { return report }
        for change in changes {
            let user = change.user
            do {
                if change.isNew {
                    try await createUser(user, password: change.password)
                } else {
                    try await updateUser(user.name) { $0 = user }
                    if let password = change.password { try await setPassword(user.name, password: password) }
                }
            } catch {
                throw UserCSV.ImportError(row: change.row, reason: "\(error)")
            }
        }
        return report
    }
}
