import EventLog
import Foundation

/// A rule that holds back error reports to the main administrator (VPOP3's `Message Control`
/// suppression rules, in its legacy `ERRORS.DAT` form `object~first~second~subsequent~code`):
/// while a component keeps failing, the first report goes out once the errors have lasted
/// `first` seconds, the second `second` seconds after it, then one every `subsequent` seconds.
/// `object` is `collector:NAME`, `sender:NAME`, `collector:*`, `sender:*`, or `0` / `*` for
/// every component; `code` is an error code (a reply code such as `421`, or `failed`) or `0` /
/// `*` for any. A success ends the run of errors. Errors no rule matches are reported every time.
public struct ErrorSuppressionRule: Sendable, Equatable {
    public var object: String
    public var first: Int
    public var second: Int
    public var subsequent: Int
    public var code: String

    public init?(_ text: String) {
        let parts = text.split(separator: "~", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 5, let first = Int(parts[1]), let second = Int(parts[2]), let subsequent = Int(parts[3]),
              [first, second, subsequent].allSatisfy({ (0...31_536_000).contains($0) }), !parts[4].isEmpty else { return nil }
        let object = parts[0].lowercased()
        if object != "0" && object != "*" {
            let pieces = object.split(separator: ":", maxSplits: 1)
            guard pieces.count == 2, ["collector", "sender"].contains(pieces[0]), !pieces[1].isEmpty else { return nil }
        }
        self.object = object
        self.first = first
        self.second = second
        self.subsequent = subsequent
        code = parts[4]
    }

    public func matches(component: String, object name: String, code: String) -> Bool {
        let objectMatches = object == "0" || object == "*" || object == "\(component):*" || object == "\(component):\(name.lowercased())"
        return objectMatches && (self.code == "0" || self.code == "*" || self.code.lowercased() == code.lowercased())
    }

    /// Whether an error now is reported, in a run of errors that began at `start`, after
    /// `reports` reports the last of which was at `lastReport`.
    public func reports(at now: Date, start: Date, reports: Int, lastReport: Date?) -> Bool {
        switch reports {
        case 0: now.timeIntervalSince(start) >= Double(first)
        case 1: now.timeIntervalSince(lastReport ?? start) >= Double(second)
        default: now.timeIntervalSince(lastReport ?? start) >= Double(subsequent)
        }
    }

    public static func problem(_ lines: [String]) -> String? {
        lines.first { ErrorSuppressionRule($0) == nil }.map {
            "not a rule: \($0) (object~first~second~subsequent~code, e.g. collector:isp~600~3600~86400~*)"
        }
    }
}

// Owner of the facts below: the error reporter in `serve` (`Delivery/Automation`), on the
// stream `errors-main`.

/// A component failed (a collector's run, a relay sender's attempt) and the main administrator
/// was sent report `noticeID`, or not (`reported` false: a suppression rule held it back).
public struct ComponentErrorNoted: Event {
    public static let eventType = "component_error_noted"
    public static let category = "errors"

    public var component: String
    public var object: String
    public var code: String
    public var error: String
    /// When this run of errors began.
    public var runStarted: Date
    public var reported: Bool
    public var noticeID: String?

    public init(component: String, object: String, code: String, error: String, runStarted: Date, reported: Bool, noticeID: String?) {
        self.component = component
        self.object = object
        self.code = code
        self.error = error
        self.runStarted = runStarted
        self.reported = reported
        self.noticeID = noticeID
    }

    public static let stream = try! StreamName(category: category, id: "main")

    enum CodingKeys: String, CodingKey {
        case component, object, code, error, reported
        case runStarted = "run_started", noticeID = "notice_id"
    }
}

/// A component that had been failing worked again: its run of errors is over.
public struct ComponentRecovered: Event {
    public static let eventType = "component_recovered"
    public static let category = ComponentErrorNoted.category

    public var component: String
    public var object: String

    public init(component: String, object: String) {
        self.component = component
        self.object = object
    }
}

/// The daily usage summary of `day` (UTC, `YYYY-MM-DD`) went to `to` as message `messageID`.
/// Owner: the report service in `serve` and `pillarbox summary send`, on `summary-<day>`
/// (one per day).
public struct DailySummarySent: Event {
    public static let eventType = "daily_summary_sent"
    public static let category = "summary"

    public var day: String
    public var to: String
    public var messageID: String

    public init(day: String, to: String, messageID: String) {
        self.day = day
        self.to = to
        self.messageID = messageID
    }

    public static func stream(day: String) throws -> StreamName {
        try StreamName(category: category, id: day)
    }

    enum CodingKeys: String, CodingKey {
        case day, to
        case messageID = "message_id"
    }
}
