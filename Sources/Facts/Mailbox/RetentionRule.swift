import Foundation

/// One `mail.retention` rule: messages that have been in a matching folder longer than `days`
/// are erased (expunged, and their bodies' keys destroyed for that user). Written
/// `[USER:]FOLDER=DAYS`: `Trash=30`, `*=2555` (every folder, about 7 years),
/// `alice:Archive=3650`. The first rule that matches a user's folder applies; a folder no rule
/// matches keeps its mail.
public struct RetentionRule: Sendable, Hashable, CustomStringConvertible {
    /// Lower-case user name; nil for every user.
    public var user: String?
    /// A folder name, or `*` for every folder.
    public var folder: String
    public var days: Int

    public init(user: String? = nil, folder: String, days: Int) {
        self.user = user?.lowercased()
        self.folder = folder
        self.days = days
    }

    public var description: String { (user.map { $0 + ":" } ?? "") + "\(folder)=\(days)" }

    /// A rule from its written form, or why it is not one.
    public static func parse(_ text: String) -> Result<RetentionRule, SettingProblem> {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard let equals = text.lastIndex(of: "="), let days = Int(text[text.index(after: equals)...]) else {
            return .failure("\(text): expected [USER:]FOLDER=DAYS")
        }
        guard (1...36_500).contains(days) else { return .failure("\(text): days must be 1...36500") }
        var target = String(text[..<equals])
        var user: String?
        if let colon = target.firstIndex(of: ":") {
            user = String(target[..<colon])
            target = String(target[target.index(after: colon)...])
            guard let name = user, DirectoryRules.isUserName(name) else { return .failure("\(text): not a user name") }
        }
        guard !target.isEmpty else { return .failure("\(text): no folder") }
        return .success(RetentionRule(user: user, folder: target, days: days))
    }

    func matches(user: String, folder name: String) -> Bool {
        if let ruleUser = self.user, ruleUser != user { return false }
        if folder == "*" { return true }
        // INBOX is case-insensitive (RFC 3501 §5.1); other names are compared as written.
        if folder.uppercased() == "INBOX" { return name.uppercased() == "INBOX" }
        return folder == name
    }

    /// The days a user's folder keeps its mail under `rules`; nil keeps it for good.
    public static func days(user: String, folder: String, rules: [RetentionRule]) -> Int? {
        let user = user.lowercased()
        return rules.first { $0.matches(user: user, folder: folder) }?.days
    }
}

extension SettingKey where Value == [String] {
    /// Retention rules, applied each day at `mail.retention_hour` (UTC).
    public static var mailRetention: SettingKey<[String]> {
        SettingKey("mail.retention", default: [],
                   "Erase mail that has been in a folder longer than the rule says: [USER:]FOLDER=DAYS, first match wins (Trash=30, *=2555)") { rules in
            for rule in rules {
                if case .failure(let problem) = RetentionRule.parse(rule) { return problem.description }
            }
            return nil
        }
    }

    /// The rules of a `mail.retention` value (ones that do not parse are left out).
    public static func retentionRules(_ values: [String]) -> [RetentionRule] {
        values.compactMap { try? RetentionRule.parse($0).get() }
    }
}

extension SettingKey where Value == Int {
    public static var mailRetentionHour: SettingKey<Int> {
        .count("mail.retention_hour", default: 3, "Hour of the day (UTC) at which mail.retention is applied", range: 0...23)
    }
}
