/// IMAP flags: system flags in their canonical spelling, keywords as given.
public enum Flags {
    public static let seen = "\\Seen"
    public static let answered = "\\Answered"
    public static let flagged = "\\Flagged"
    public static let deleted = "\\Deleted"
    public static let draft = "\\Draft"
    static let system = [seen, answered, flagged, deleted, draft]

    /// Sorted, without duplicates, system flags spelt canonically; `\Recent` is session state and dropped.
    public static func normalise(_ flags: [String]) -> [String] {
        var result = Set<String>()
        for flag in flags where !flag.isEmpty {
            if flag.hasPrefix("\\") {
                if let canonical = system.first(where: { $0.lowercased() == flag.lowercased() }) { result.insert(canonical) }
            } else {
                result.insert(flag)
            }
        }
        return result.sorted()
    }
}
