/// Folder names as the mailbox commands accept them and the projection stores them.
public enum MailboxNames {
    /// The hierarchy delimiter in folder names.
    public static let delimiter: Character = "/"

    /// The owner of the public folders (IMAP's `Shared/…` namespace): no user's, since user
    /// names cannot hold `#`. Its account opens with its first folder; administrators have
    /// every right on its folders, everyone else what the folders' ACLs grant them.
    public static let publicOwner = "#shared"

    /// Folders every new account gets, with their RFC 6154 special use.
    public static let defaults: [(name: String, specialUse: String?)] = [
        ("INBOX", nil), ("Sent", "Sent"), ("Drafts", "Drafts"), ("Trash", "Trash"), ("Junk", "Junk"),
        ("Archive", "Archive"),
    ]

    /// INBOX is case-insensitive (RFC 3501 §5.1); every other name is taken as written.
    public static func canonical(_ name: String) -> String {
        if name.lowercased() == "inbox" { return "INBOX" }
        if name.lowercased().hasPrefix("inbox/") { return "INBOX" + name.dropFirst(5) }
        return name
    }

    /// A usable folder name: non-empty levels separated by `/`, no wildcards or control
    /// characters, at most 1000 bytes.
    public static func valid(_ name: String) throws -> String {
        let name = canonical(name)
        let levels = name.split(separator: delimiter, omittingEmptySubsequences: false)
        // No empty level, and no `.` or `..` level: a name is never a path that climbs.
        guard !name.isEmpty, name.utf8.count <= 1_000, !levels.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
              !name.contains(where: { $0 == "*" || $0 == "%" || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } == true })
        else { throw MailStoreError.invalidName(name) }
        return name
    }
}
