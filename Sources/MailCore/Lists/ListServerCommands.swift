import Foundation

/// A ListServer command, as VPOP3 takes them (subject or body lines), with the token commands
/// of confirmation and moderation.
public struct ListServerCommand: Sendable, Equatable {
    public enum Verb: String, Sendable, Equatable {
        case subscribe, unsubscribe, users, lists, help, confirm, approve, reject
    }

    public var verb: Verb
    public var arguments: [String]
    /// The line as written (trimmed, at most 200 characters), for the answer.
    public var text: String

    public init(verb: Verb, arguments: [String], text: String) {
        self.verb = verb
        self.arguments = arguments
        self.text = text
    }

    /// What a message asks: a command in the subject (then the body is not read, VPOP3's
    /// rule), else the body's lines up to `end` or a signature, quoted lines passed over.
    public struct Reading: Sendable, Equatable {
        public var commands: [ListServerCommand] = []
        /// Lines that are no command (at most `limit` kept).
        public var unknown: [String] = []
        public var fromSubject = false
        /// The body had more lines than `limit`; those after it were not read.
        public var truncated = false
    }

    /// Lines read from a body at most.
    public static let lineLimit = 100

    public static func read(subject: String, body: String, limit: Int = lineLimit) -> Reading {
        var reading = Reading()
        if let command = parse(line: strippingReplyPrefixes(subject)) {
            reading.commands = [command]
            reading.fromSubject = true
            return reading
        }
        var considered = 0
        for raw in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix(">") { continue }
            if raw.hasPrefix("-- ") || trimmed == "--" || trimmed.lowercased() == "end" || trimmed.lowercased() == "stop" { break }
            considered += 1
            if considered > limit {
                reading.truncated = true
                break
            }
            if let command = parse(line: trimmed) {
                reading.commands.append(command)
            } else {
                reading.unknown.append(String(trimmed.prefix(200)))
            }
        }
        return reading
    }

    /// One command line, or nil when it is none.
    public static func parse(line: String) -> ListServerCommand? {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first?.lowercased() else { return nil }
        let arguments = Array(words.dropFirst())
        let text = String(line.trimmingCharacters(in: .whitespaces).prefix(200))
        func valid(_ count: ClosedRange<Int>) -> Bool {
            count.contains(arguments.count) && arguments.allSatisfy { $0.count <= 254 && !$0.contains(where: { $0 == "<" || $0 == ">" }) }
        }
        switch first {
        case "subscribe", "sub", "join":
            return valid(1...2) ? ListServerCommand(verb: .subscribe, arguments: arguments, text: text) : nil
        case "unsubscribe", "uns", "unsub", "leave", "signoff":
            return valid(1...2) ? ListServerCommand(verb: .unsubscribe, arguments: arguments, text: text) : nil
        case "users", "who", "review":
            return valid(1...1) ? ListServerCommand(verb: .users, arguments: arguments, text: text) : nil
        case "lists":
            return arguments.isEmpty ? ListServerCommand(verb: .lists, arguments: [], text: text) : nil
        case "help":
            return arguments.isEmpty ? ListServerCommand(verb: .help, arguments: [], text: text) : nil
        case "confirm", "approve":
            guard arguments.count == 1, isToken(arguments[0]) else { return nil }
            return ListServerCommand(verb: first == "confirm" ? .confirm : .approve, arguments: arguments, text: text)
        case "reject":
            guard !arguments.isEmpty, isToken(arguments[0]) else { return nil }
            return ListServerCommand(verb: .reject, arguments: [arguments[0], arguments.dropFirst().joined(separator: " ")]
                .filter { !$0.isEmpty }, text: text)
        default:
            return nil
        }
    }

    /// Tokens this server makes: 32 lower-case hex digits.
    public static func isToken(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The subject without the `Re:`, `Fwd:`, `AW:` … its reply or forward put before it.
    public static func strippingReplyPrefixes(_ subject: String) -> String {
        var text = subject.trimmingCharacters(in: .whitespaces)
        var changed = true
        while changed {
            changed = false
            for prefix in ["re:", "fwd:", "fw:", "aw:", "sv:", "antw:", "wg:", "tr:"] where text.lowercased().hasPrefix(prefix) {
                text = String(text.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
                changed = true
            }
        }
        return text
    }
}
