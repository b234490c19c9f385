/// Text a client chose (a login name, an address, a HELO, a reason quoting them) as events keep
/// it: at most `limit` bytes of UTF-8, cut on a character boundary and marked with `…`. The log
/// is forever and anonymous clients write to it, so nothing they send is stored unbounded.
public enum ClientText {
    /// Login names, HELO names and addresses.
    public static let nameLimit = 256
    /// IDS details and reasons.
    public static let detailsLimit = 512

    public static func stored(_ text: String, limit: Int = nameLimit) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = ""
        var bytes = 0
        for character in text {
            let size = character.utf8.count
            guard bytes + size <= limit - 3 else { break }
            kept.append(character)
            bytes += size
        }
        return kept + "…"
    }
}
