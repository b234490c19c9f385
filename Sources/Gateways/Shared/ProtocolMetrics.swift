import Metrics

/// One listener's command and reply counters for `/metrics`:
/// `pillarbox_commands_total{listener, command}` and `pillarbox_replies_total{listener, class}`.
/// Command names outside the protocol's own list count as `other`, so a client cannot grow
/// the label set (or put a credential in it).
struct ProtocolMetrics: Sendable {
    private let commands: [String: Counter]
    private let other: Counter
    private let replies: [String: Counter]

    /// `names`: the protocol's commands; `classes`: its reply classes (`2xx`, `OK`, `-ERR`).
    init(listener: String, names: [String], classes: [String]) {
        commands = Dictionary(uniqueKeysWithValues: names.map {
            ($0, Counter(label: "pillarbox_commands_total", dimensions: [("listener", listener), ("command", $0)]))
        })
        other = Counter(label: "pillarbox_commands_total", dimensions: [("listener", listener), ("command", "other")])
        replies = Dictionary(uniqueKeysWithValues: classes.map {
            ($0, Counter(label: "pillarbox_replies_total", dimensions: [("listener", listener), ("class", $0)]))
        })
    }

    func command(_ name: String) {
        (commands[name] ?? other).increment()
    }

    func reply(_ replyClass: String) {
        replies[replyClass]?.increment()
    }

    static func smtp(_ listener: String) -> ProtocolMetrics {
        ProtocolMetrics(listener: listener,
                        names: ["EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
                                "HELP", "STARTTLS", "AUTH", "ETRN"],
                        classes: ["2xx", "3xx", "4xx", "5xx"])
    }

    static func pop3(_ listener: String) -> ProtocolMetrics {
        ProtocolMetrics(listener: listener,
                        names: ["USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP",
                                "UIDL", "CAPA", "STLS", "UTF"],
                        classes: ["+OK", "-ERR"])
    }

    static func imap(_ listener: String) -> ProtocolMetrics {
        ProtocolMetrics(listener: listener,
                        names: ["SELECT", "EXAMINE", "CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "RENAME", "LIST", "LSUB",
                                "NAMESPACE", "STATUS", "APPEND", "IDLE", "CLOSE", "UNSELECT", "EXPUNGE", "UID EXPUNGE", "SEARCH",
                                "UID SEARCH", "FETCH", "UID FETCH", "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE",
                                "ID", "GETQUOTA", "GETQUOTAROOT", "SORT", "UID SORT", "THREAD", "UID THREAD", "NOOP", "CHECK",
                                "ENABLE"],
                        classes: ["OK", "NO", "BAD"])
    }

    /// An SMTP reply's class from its first digit.
    func smtpReply(_ bytes: [UInt8]) {
        guard let first = bytes.first, first >= 0x32, first <= 0x35 else { return }
        reply("\(Character(Unicode.Scalar(first)))xx")
    }

    /// `+OK` or `-ERR` from the start of a POP3 reply (continuation data does not start so).
    func pop3Reply(_ bytes: [UInt8]) {
        if bytes.starts(with: [0x2B, 0x4F, 0x4B]) { reply("+OK") } else if bytes.starts(with: [0x2D, 0x45, 0x52, 0x52]) { reply("-ERR") }
    }

    /// The status of a tagged response line (`tag OK ...`); untagged (`*`) and continuation
    /// (`+`) lines are not replies to a command.
    func imapReply<Line: Collection>(_ line: Line) where Line.Element == UInt8 {
        guard let first = line.first, first != 0x2A, first != 0x2B, let space = line.firstIndex(of: 0x20) else { return }
        let word = line[line.index(after: space)...].prefix { $0 >= 0x41 && $0 <= 0x5A }
        switch word.count {
        case 2 where word.elementsEqual([0x4F, 0x4B]): reply("OK")
        case 2 where word.elementsEqual([0x4E, 0x4F]): reply("NO")
        case 3 where word.elementsEqual([0x42, 0x41, 0x44]): reply("BAD")
        default: break
        }
    }
}
