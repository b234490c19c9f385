import Foundation
import MailCore

// The settings of the agents that act on mail for users and administrators: mailing lists and
// the ListServer, mail commands, message monitoring, transmission receipts, error reports and
// the daily summary. Listed in `SettingKeys.all` with the rest.

extension SettingKey where Value == String {
    /// The ListServer's local part: `<name>@<any local domain>` takes list commands by mail.
    public static var listServerName: SettingKey<String> {
        SettingKey("lists.listserver_name", default: "listserver",
                   "Local part of the ListServer address (subscribe/unsubscribe by mail); empty for none") { name in
            name.isEmpty || DirectoryRules.isUserName(name) ? nil : "not a valid name"
        }
    }
    /// Where answers from the ListServer say replies go; empty for the ListServer itself.
    public static var listServerReplyTo: SettingKey<String> {
        SettingKey("lists.listserver_reply_to", default: "", "Reply-To of the ListServer's answers; empty for none") { value in
            value.isEmpty || (value.contains("@") && !value.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" }))
                ? nil : "not an address"
        }
    }
    /// The admin listener's public base URL (`https://host:port`), for RFC 8058 one-click
    /// unsubscribe links in mailing list posts; empty for mailto links only.
    public static var listUnsubscribeURL: SettingKey<String> {
        SettingKey("lists.unsubscribe_url", default: "",
                   "Public https:// base URL of the admin listener for one-click unsubscribe (RFC 8058); empty for none") { value in
            value.isEmpty || (value.hasPrefix("https://") && !value.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "?" }))
                ? nil : "not an https:// URL without a query"
        }
    }
}

extension SettingKey where Value == Bool {
    public static var dailySummary: SettingKey<Bool> {
        SettingKey("admin.daily_summary", default: false,
                   "Send the main administrator a usage summary of each day at admin.daily_summary_hour")
    }
    public static var dailySummaryIdleAccounts: SettingKey<Bool> {
        SettingKey("admin.daily_summary_idle_accounts", default: false, "List the users with no logins and no mail in the daily summary")
    }
    public static var dailySummaryHTML: SettingKey<Bool> {
        SettingKey("admin.daily_summary_html", default: false, "Send the daily summary as HTML (with a plain-text part)")
    }
    /// `mailer_daemon@<local domain>` takes mail commands (Set/Query Forwarding, Set/Query
    /// Assistant, Password).
    public static var mailCommands: SettingKey<Bool> {
        SettingKey("mail.commands", default: true,
                   "Users may change their forwarding, assistants and password by mail to mailer_daemon@<domain>")
    }
    public static var listServerIgnoreWithoutCommands: SettingKey<Bool> {
        SettingKey("lists.listserver_ignore_without_commands", default: true,
                   "Send no answer to ListServer messages without a valid command (silent on spam)")
    }
    public static var listServerReportBad: SettingKey<Bool> {
        SettingKey("lists.listserver_report_bad", default: false,
                   "Send ListServer messages without a valid command to the main administrator")
    }
}

extension SettingKey where Value == String {
    /// Message monitoring: which incoming, outgoing and internal mail is copied to the target.
    public static var monitoringIncoming: SettingKey<String> { monitoringMode("incoming", "mail from outside to local users") }
    public static var monitoringOutgoing: SettingKey<String> { monitoringMode("outgoing", "mail from local users to outside") }
    public static var monitoringInternal: SettingKey<String> { monitoringMode("internal", "mail between local users") }

    static func monitoringMode(_ kind: String, _ what: String) -> SettingKey<String> {
        SettingKey("monitoring.\(kind)", default: "none",
                   "Copy \(what) to monitoring.target: all, selected (the users in monitoring.users) or none") { value in
            MonitoringMode(rawValue: value) == nil ? "must be all, selected or none" : nil
        }
    }

    /// Where monitored copies go: a user, a list or an address.
    public static var monitoringTarget: SettingKey<String> {
        SettingKey("monitoring.target", default: "",
                   "The user, list or address that receives monitored copies; empty for none") { value in
            value.isEmpty || DirectoryRules.isUserName(value) || Self.isAddress(value) ? nil : "not a user, list or address"
        }
    }

    /// Who receives the random sample (`monitoring.random_percent`).
    public static var monitoringRandomTarget: SettingKey<String> {
        SettingKey("monitoring.random_target", default: "",
                   "The user, list or address that receives a random share of monitored mail; empty for none") { value in
            value.isEmpty || DirectoryRules.isUserName(value) || Self.isAddress(value) ? nil : "not a user, list or address"
        }
    }

    static func isAddress(_ value: String) -> Bool {
        guard let at = value.lastIndex(of: "@"), at != value.startIndex, value.index(after: at) != value.endIndex else { return false }
        return !value.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," })
    }
}

extension SettingKey where Value == [String] {
    /// VPOP3's `Transmission Receipt Header fields`: outgoing mail from a local user carrying
    /// one of them gets its sender a receipt when it leaves. Empty: never.
    public static var receiptHeaderFields: SettingKey<[String]> {
        SettingKey("receipts.header_fields", default: ["Disposition-Notification-To", "Return-Receipt-To"],
                   "Header fields asking for a transmission receipt when outgoing mail leaves; empty for never") { fields in
            fields.first { $0.isEmpty || !$0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") } }
                .map { "not a header field name: \($0)" }
        }
    }

    /// VPOP3's `Global Header Modifiers`: fields added, removed or replaced in mail from local
    /// users and the server itself as it leaves (`HeaderModifier`); mail passed on for outside
    /// senders (forwards) goes as it came, so its DKIM signatures still verify.
    public static var outqueueHeaderModifiers: SettingKey<[String]> {
        SettingKey("outqueue.header_modifiers", default: [],
                   "Header changes to outgoing mail from local senders, in order: add Name: value, remove Name (Name* for a prefix), replace Name: value") {
            HeaderModifier.problem($0)
        }
    }

    /// Rules holding back error reports to the main administrator (`ErrorSuppressionRule`).
    public static var errorSuppression: SettingKey<[String]> {
        SettingKey("admin.error_suppression", default: [],
                   "Rules object~first~second~subsequent~code holding back repeated error reports to the main administrator") {
            ErrorSuppressionRule.problem($0)
        }
    }

    /// VPOP3's per-user `Monitor` tick: whose mail `selected` monitoring copies.
    public static var monitoringUsers: SettingKey<[String]> {
        SettingKey("monitoring.users", default: [], "Users whose mail is monitored where a kind is set to selected") { users in
            users.first { !DirectoryRules.isUserName($0) }.map { "not a user name: \($0)" }
        }
    }
}

extension SettingKey where Value == Int {
    public static var dailySummaryHour: SettingKey<Int> {
        SettingKey("admin.daily_summary_hour", default: 0, "Hour of the day (UTC) the daily summary of the day before is sent") { value in
            (0...23).contains(value) ? nil : "must be 0 to 23"
        }
    }
    public static var monitoringMinimumKiB: SettingKey<Int> {
        SettingKey("monitoring.min_size_kib", default: 0, "Monitor only messages of at least this many KiB; 0 for all") { value in
            value >= 0 ? nil : "must not be negative"
        }
    }
    public static var monitoringRandomPercent: SettingKey<Int> {
        SettingKey("monitoring.random_percent", default: 0,
                   "Send this share (0-100) of monitored messages, drawn at random, to monitoring.random_target too") { value in
            (0...100).contains(value) ? nil : "must be 0 to 100"
        }
    }
}
