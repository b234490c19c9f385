import Facts
import Projections

/// The checks a directory command makes against the directory as it stands.
extension DirectorySnapshot {
    /// A user, list or group name must be unused by all three (and by the built-in groups).
    func checkNameFree(_ name: String) throws {
        let id = name.lowercased()
        if users[id] != nil { throw DirectoryError.exists("user", name) }
        if lists[id] != nil { throw DirectoryError.exists("list", name) }
        if groups[id] != nil || DirectoryRules.builtinGroups.contains(where: { $0.lowercased() == id }) {
            throw DirectoryError.exists("group", name)
        }
    }

    /// Assistants are local users or full addresses.
    func checkAssistants(_ assistants: [String]) throws {
        for assistant in assistants where !assistant.contains("@") && users[assistant.lowercased()] == nil {
            throw DirectoryError.notFound("user", assistant)
        }
    }
}

extension UserRecord {
    /// The user's free text (comments, forwarding and reply addresses, assistants) holds no
    /// control characters and stays within a bound: it is shown on pages, written into
    /// headers and stored as text.
    func checkText() throws {
        for (field, value) in [("comments", comments), ("forwarding address", forwardTo), ("reply address", replyTo)]
            + assistants.map({ ("assistant", $0) }) {
            try DirectoryRules.checkText(value, field: field)
        }
    }
}

extension DirectoryRules {
    /// At most `limit` characters and no control characters (a tab is allowed in free text).
    static func checkText(_ value: String, field: String, limit: Int = 1_024) throws {
        guard value.count <= limit, !value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7f }) else {
            throw DirectoryError.invalid(field, String(value.prefix(64)))
        }
    }
}

