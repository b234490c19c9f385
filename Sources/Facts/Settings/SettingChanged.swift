import EventLog

/// The settings' single stream, `settings-main`.
public enum SettingsStream {
    public static let category = "settings"
    public static let main = try! StreamName(category: category, id: "main")
}

/// A setting changed by an administrator. Written by `SettingWriter` (Commands/Settings, for the CLI and the web admin) to the
/// single stream `settings-main`. Values are JSON; `old` is nil when the default applied.
public struct SettingChanged: Event {
    public static let eventType = "setting_changed"
    public var key: String
    public var old: String?
    public var new: String
    public var actor: String

    public init(key: String, old: String?, new: String, actor: String) {
        self.key = key
        self.old = old
        self.new = new
        self.actor = actor
    }
}
