import Foundation

/// A runtime setting: a dotted name, a type, a default and a rule. Values travel as JSON.
public struct SettingKey<Value: Codable & Sendable & Equatable>: Sendable {
    public let name: String
    public let defaultValue: Value
    public let summary: String
    let check: @Sendable (Value) -> String?

    init(_ name: String, default defaultValue: Value, _ summary: String, check: @escaping @Sendable (Value) -> String? = { _ in nil }) {
        self.name = name
        self.defaultValue = defaultValue
        self.summary = summary
        self.check = check
    }

    var erased: AnySettingKey {
        AnySettingKey(name: name, typeName: "\(Value.self)".lowercased(), summary: summary,
                      defaultJSON: SettingJSON.encode(defaultValue)) { text in
            guard let value = SettingJSON.decode(Value.self, from: text) else { return .failure("expects \(Value.self)") }
            if let problem = self.check(value) { return .failure(problem) }
            return .success(SettingJSON.encode(value))
        }
    }
}

/// A setting key with its type erased, for listing and for values given as text.
public struct AnySettingKey: Sendable {
    public let name: String
    public let typeName: String
    public let summary: String
    public let defaultJSON: String
    /// Canonical JSON for a value given as JSON (or, for strings, as bare text), or why it is refused.
    public let normalise: @Sendable (String) -> Result<String, SettingProblem>
}

public struct SettingProblem: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Result where Failure == SettingProblem {
    static func failure(_ text: String) -> Self { .failure(SettingProblem(text)) }
}

extension SettingKey where Value == Int {
    static func count(_ name: String, default value: Int, _ summary: String, range: ClosedRange<Int>) -> SettingKey<Int> {
        SettingKey(name, default: value, summary) { range.contains($0) ? nil : "must be in \(range.lowerBound)...\(range.upperBound)" }
    }
}


extension SettingKey where Value == Int {
    public static var passwordMinimumLength: SettingKey<Int> {
        .count("password.min_length", default: 5, "Shortest password a user may be given", range: 1...128)
    }
    public static var passwordMaximumLength: SettingKey<Int> {
        .count("password.max_length", default: 128, "Longest password a user may be given", range: 8...1024)
    }
    public static var scryptCost: SettingKey<Int> {
        .count("security.scrypt_log_n", default: 15, "log2 of scrypt's N for new passwords", range: 10...20)
    }
    public static var maxMessageSize: SettingKey<Int> {
        .count("smtp.max_message_size", default: 50 * 1024 * 1024, "Largest message accepted over SMTP, in bytes",
               range: 1_024...2_147_483_647)
    }
}

extension SettingKey where Value == Bool {
    public static var cramMD5Allowed: SettingKey<Bool> {
        SettingKey("auth.cram_md5_allowed", default: false, "Whether users may be enabled for CRAM-MD5 at all")
    }
    public static var disableDefaultMappings: SettingKey<Bool> {
        SettingKey("mail.disable_default_user_mappings", default: false,
                   "Only explicit aliases route local mail (no implied user@local-domain)")
    }
    public static var unknownLocalAsOutgoing: SettingKey<Bool> {
        SettingKey("mail.unknown_local_recipients_outgoing", default: false,
                   "Treat locally sent mail for unknown local recipients as outgoing")
    }
}

extension SettingKey where Value == String {
    public static var mainAdministrator: SettingKey<String> {
        SettingKey("admin.main_administrator", default: "postmaster",
                   "User who receives error reports, daily reports and unroutable mail")
    }
}

public enum SettingKeys {
    /// Every known setting.
    public static let all: [AnySettingKey] = [
        SettingKey<Int>.passwordMinimumLength.erased, SettingKey<Int>.passwordMaximumLength.erased,
        SettingKey<Int>.scryptCost.erased, SettingKey<Bool>.cramMD5Allowed.erased,
        SettingKey<Bool>.disableDefaultMappings.erased, SettingKey<Bool>.unknownLocalAsOutgoing.erased,
        SettingKey<String>.mainAdministrator.erased, SettingKey<Int>.maxMessageSize.erased,
    ]

    public static func named(_ name: String) -> AnySettingKey? { all.first { $0.name == name } }
}

enum SettingJSON {
    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) -> T? {
        if let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) { return value }
        // A bare word for a string setting.
        if T.self == String.self { return text as? T }
        return nil
    }
}
