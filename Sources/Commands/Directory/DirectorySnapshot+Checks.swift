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
