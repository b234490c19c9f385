import Foundation

/// A mail command to `mailer_daemon@` as VPOP3 takes them: the subject names the command
/// (`Set Forwarding`, `Query Forwarding`, `Set Assistant`, `Query Assistant`, `Password`), the
/// body's lines give `USERNAME`, `PASSWORD` and the command's own lines. Reading stops at `END`
/// or a signature; quoted lines (`>`) are passed over; any other line is a problem, so that a
/// message that says something unexpected changes nothing. Pure: text in, a request out.
public struct MailCommandRequest: Sendable, Equatable {
    public enum Command: String, Sendable, Equatable, CaseIterable {
        case setForwarding = "Set Forwarding", queryForwarding = "Query Forwarding"
        case setAssistant = "Set Assistant", queryAssistant = "Query Assistant"
        case password = "Password"
    }

    public enum Forwarding: Sendable, Equatable {
        /// `FORWARD TO <address>`: set the address and turn forwarding on.
        case to(String)
        /// `FORWARD OFF`; `FORWARD ON` turns the kept address on again.
        case off, on
    }

    public var command: Command?
    public var username: String?
    public var password: String?
    public var forwarding: Forwarding?
    /// `ASSISTANT a;b` (names or addresses); `ASSISTANT OFF` is an empty list.
    public var assistants: [String]?
    /// `REDIRECT ON|OFF`: send only to the assistants.
    public var redirect: Bool?
    /// `NEW PASSWORD <password>`.
    public var newPassword: String?
    /// What is wrong with the message, one sentence each; when any, nothing is carried out.
    public var problems: [String] = []

    /// Body lines read at most; a longer body is refused.
    public static let lineLimit = 50

    public static func read(subject: String, body: String) -> MailCommandRequest {
        var request = MailCommandRequest()
        let named = ListServerCommand.strippingReplyPrefixes(subject).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        request.command = Command.allCases.first { $0.rawValue.lowercased() == named.lowercased() }
        if request.command == nil {
            request.problems.append("the subject names no command; it must be one of: "
                                    + Command.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var number = 0
        for raw in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix(">") { continue }
            if raw.hasPrefix("-- ") || line == "--" || line.lowercased() == "end" { break }
            if number > lineLimit {
                request.problems.append("more than \(lineLimit) lines; put END after the commands")
                break
            }
            if let problem = request.take(line) { request.problems.append("line \(number): \(problem)") }
        }
        request.checkComplete()
        return request
    }

    /// A line as client text in an answer: one line, at most 60 characters.
    static func quoted(_ text: Substring) -> String {
        let cleaned = text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : String($0) }.joined()
        return "\"" + (cleaned.count > 60 ? cleaned.prefix(57) + "..." : cleaned) + "\""
    }

    /// Takes one line; the problem with it, or nil.
    mutating func take(_ line: String) -> String? {
        let words = line.split(maxSplits: 1, whereSeparator: \.isWhitespace)
        let keyword = words.first.map { $0.uppercased() } ?? ""
        let rest = words.count > 1 ? words[1].trimmingCharacters(in: .whitespaces) : ""
        func once<T>(_ field: T?, _ name: String, _ set: () -> Void) -> String? {
            guard field == nil else { return "\(name) given twice" }
            set()
            return nil
        }
        switch keyword {
        case "USERNAME":
            guard !rest.isEmpty, !rest.contains(where: \.isWhitespace) else { return "USERNAME takes one user name" }
            return once(username, "USERNAME") { username = rest }
        case "PASSWORD":
            guard !rest.isEmpty else { return "PASSWORD takes the password" }
            return once(password, "PASSWORD") { password = rest }
        case "FORWARD":
            let parts = rest.split(maxSplits: 1, whereSeparator: \.isWhitespace)
            let verb = parts.first.map { $0.uppercased() } ?? ""
            let value: Forwarding
            switch verb {
            case "OFF" where parts.count == 1: value = .off
            case "ON" where parts.count == 1: value = .on
            case "TO" where parts.count == 2:
                let address = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "<> \t"))
                guard !address.isEmpty, !address.contains(where: { $0.isWhitespace || $0 == "," || $0 == ";" }), address.count <= 254 else {
                    return "FORWARD TO takes one address"
                }
                value = .to(address)
            default: return "FORWARD takes TO <address>, ON or OFF"
            }
            return once(forwarding, "FORWARD") { forwarding = value }
        case "ASSISTANT", "ASSISTANTS":
            guard !rest.isEmpty else { return "ASSISTANT takes names or addresses separated by ;, or OFF" }
            let list = rest.uppercased() == "OFF" ? [] : rest.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            guard list.allSatisfy({ !$0.contains(where: \.isWhitespace) && $0.count <= 254 }), list.count <= 20 else {
                return "ASSISTANT takes up to 20 names or addresses separated by ;"
            }
            return once(assistants, "ASSISTANT") { assistants = list }
        case "REDIRECT":
            guard ["ON", "OFF"].contains(rest.uppercased()) else { return "REDIRECT takes ON or OFF" }
            return once(redirect, "REDIRECT") { redirect = rest.uppercased() == "ON" }
        case "NEW", "NEWPASSWORD":
            var value = rest
            if keyword == "NEW" {
                let parts = rest.split(maxSplits: 1, whereSeparator: \.isWhitespace)
                guard parts.first?.uppercased() == "PASSWORD", parts.count == 2 else { return "NEW PASSWORD takes the new password" }
                value = parts[1].trimmingCharacters(in: .whitespaces)
            }
            guard !value.isEmpty else { return "NEW PASSWORD takes the new password" }
            return once(newPassword, "NEW PASSWORD") { newPassword = value }
        default:
            return "not understood: \(Self.quoted(Substring(line)))"
        }
    }

    /// The command's own lines are there, and no other command's.
    mutating func checkComplete() {
        guard let command else { return }
        var allowed: Set<String> = []
        switch command {
        case .setForwarding:
            allowed = ["FORWARD"]
            if forwarding == nil { problems.append("Set Forwarding needs a FORWARD TO <address>, FORWARD ON or FORWARD OFF line") }
        case .setAssistant:
            allowed = ["ASSISTANT", "REDIRECT"]
            if assistants == nil && redirect == nil { problems.append("Set Assistant needs an ASSISTANT or REDIRECT line") }
        case .password:
            allowed = ["NEW PASSWORD"]
            if newPassword == nil { problems.append("Password needs a NEW PASSWORD line") }
        case .queryForwarding, .queryAssistant:
            break
        }
        let given: [(String, Bool)] = [("FORWARD", forwarding != nil), ("ASSISTANT", assistants != nil), ("REDIRECT", redirect != nil),
                                       ("NEW PASSWORD", newPassword != nil)]
        for (name, present) in given where present && !allowed.contains(name) {
            problems.append("\(name) is not part of \(command.rawValue)")
        }
    }
}
