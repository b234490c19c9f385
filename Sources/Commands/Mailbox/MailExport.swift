import EventLog
import Foundation
import PostgresNIO
import Projections

/// Users' folders written out as Maildir++ (`pillarbox mail export`): a copy of the mail as it
/// is readable now, without the log, the keys or anything erased. Each user is a directory;
/// INBOX is its top-level maildir and every other folder a `.`-named maildir beside it (levels
/// joined by `.`; a `.`, `%` or `~` in a name, and control characters, written as `%` and two
/// hex digits of each UTF-8 byte). Every message goes into `cur/` byte for byte, its flags in
/// the file name (`D` draft, `F` flagged, `P` forwarded, `R` answered, `S` seen, `T` deleted),
/// other keywords as the letters `a`–`z` a folder's `dovecot-keywords` names, its internal
/// date as the file's time; `subscriptions` lists the subscribed folders.
public struct MailExport: Sendable {
    /// What an export wrote.
    public struct Outcome: Sendable, Codable, Equatable {
        public var users = 0
        public var folders = 0
        public var messages = 0
        public var bytes: Int64 = 0
        /// Messages whose body no key opens any more (erased): left out.
        public var unreadable = 0

        public init() {}
    }

    public enum Failure: Error, CustomStringConvertible {
        case notEmpty(String)
        case noAccount(String)

        public var description: String {
            switch self {
            case .notEmpty(let path): "\(path) is not empty: export into a new or empty directory"
            case .noAccount(let user): "\(user) has no mail account"
            }
        }
    }

    let reader: MailReader

    public init(reader: MailReader) {
        self.reader = reader
    }

    /// Writes the folders of `users` (every account when nil) under `directory`, which must be
    /// new or empty.
    public func export(users: [String]?, to directory: String) async throws -> Outcome {
        let files = FileManager.default
        if let existing = try? files.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw Failure.notEmpty(directory)
        }
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var chosen = users?.map { $0.lowercased() } ?? []
        if users == nil { chosen = try await accounts() }
        var outcome = Outcome()
        for user in chosen {
            guard try await reader.account(user) != nil else { throw Failure.noAccount(user) }
            let root = directory + "/" + Self.escaped(user, dots: user.allSatisfy { $0 == "." })
            try files.createDirectory(atPath: root, withIntermediateDirectories: true)
            outcome.users += 1
            for mailbox in try await reader.mailboxes(user) where mailbox.selectable {
                try await write(user: user, mailbox: mailbox, into: root + "/" + Self.folderDirectory(mailbox.name), &outcome)
            }
            let subscribed = try await reader.subscriptions(user).map { name in Self.folderName(name).isEmpty ? "INBOX" : Self.folderName(name) }
            try Data(subscribed.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: root + "/subscriptions"))
        }
        return outcome
    }

    private func write(user: String, mailbox: MailboxInfo, into path: String, _ outcome: inout Outcome) async throws {
        let files = FileManager.default
        for part in ["cur", "new", "tmp"] {
            try files.createDirectory(atPath: path + "/" + part, withIntermediateDirectories: true)
        }
        outcome.folders += 1
        var keywords: [String] = []
        for message in try await reader.messages(user, mailboxID: mailbox.id) {
            let bytes: [UInt8]
            do {
                guard let stored = try await reader.engine.store.blob(message.blob) else {
                    outcome.unreadable += 1
                    continue
                }
                bytes = stored
            } catch is BlobErased {
                outcome.unreadable += 1
                continue
            }
            let base = "\(Int(message.internalDate.timeIntervalSince1970)).M\(message.uid)V\(mailbox.uidValidity).pillarbox,S=\(bytes.count)"
            let staged = path + "/tmp/" + base
            try Data(bytes).write(to: URL(fileURLWithPath: staged))
            try files.setAttributes([.modificationDate: message.internalDate], ofItemAtPath: staged)
            try files.moveItem(atPath: staged, toPath: path + "/cur/" + base + ":2," + Self.info(message.flags, keywords: &keywords))
            outcome.messages += 1
            outcome.bytes += Int64(bytes.count)
        }
        if !keywords.isEmpty {
            let lines = keywords.enumerated().map { "\($0.offset) \($0.element)\n" }.joined()
            try Data(lines.utf8).write(to: URL(fileURLWithPath: path + "/dovecot-keywords"))
        }
    }

    private func accounts() async throws -> [String] {
        try await reader.engine.store.client.withConnection { connection in
            let rows = try await connection.query("SELECT user_id FROM mail.accounts WHERE active ORDER BY user_id",
                                                  logger: reader.engine.logger)
            var users: [String] = []
            for try await user in rows.decode(String.self) { users.append(user) }
            return users
        }
    }

    /// The maildir of a folder, relative to the user's directory: `` for INBOX.
    static func folderDirectory(_ name: String) -> String {
        let folder = folderName(name)
        return folder.isEmpty ? "" : "." + folder
    }

    /// A folder's Maildir++ name (without the leading dot): `` for INBOX.
    static func folderName(_ name: String) -> String {
        guard name.uppercased() != "INBOX" else { return "" }
        return name.split(separator: "/", omittingEmptySubsequences: false).map { escaped(String($0), dots: true) }
            .joined(separator: ".")
    }

    /// `text` with `%`, `~`, control characters and (with `dots`) `.` written as `%XX`.
    static func escaped(_ text: String, dots: Bool) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            let plain = scalar.value >= 0x20 && scalar.value != 0x7F && scalar != "%" && scalar != "~" && scalar != "/"
                && (!dots || scalar != ".")
            if plain {
                result.unicodeScalars.append(scalar)
            } else {
                for byte in String(scalar).utf8 { result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2) }
            }
        }
        return result
    }

    /// The Maildir info letters for `flags`: system flags in capitals, each keyword as the
    /// letter of its place in `keywords` (added there when new; past 26 a keyword is left out).
    static func info(_ flags: [String], keywords: inout [String]) -> String {
        var letters = Set<Character>()
        for flag in flags {
            switch flag.lowercased() {
            case "\\draft": letters.insert("D")
            case "\\flagged": letters.insert("F")
            case "$forwarded": letters.insert("P")
            case "\\answered": letters.insert("R")
            case "\\seen": letters.insert("S")
            case "\\deleted": letters.insert("T")
            case let other where other.hasPrefix("\\"): continue
            default:
                var index = keywords.firstIndex(of: flag)
                if index == nil, keywords.count < 26 {
                    keywords.append(flag)
                    index = keywords.count - 1
                }
                if let index { letters.insert(Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))) }
            }
        }
        return String(letters.sorted())
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
