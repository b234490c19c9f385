import Foundation

/// One of the global header modifiers for outgoing mail, as written in the setting
/// `outqueue.header_modifiers`:
///
///     add Organization: Example Ltd
///     remove X-Originating-IP
///     remove X-Mailer-*            (a trailing * takes every field whose name starts so)
///     replace Organization: Example Ltd
///
/// `replace` puts one field with the value where the first field of that name was and drops
/// the others; a message without the field is left as it is. The modifiers run in order, each
/// on the result of the one before.
public struct HeaderModifier: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case add, remove, replace
    }

    public var action: Action
    /// The field name as written (without a trailing `*`).
    public var name: String
    /// `remove` only: every field whose name starts with `name`.
    public var prefix: Bool
    /// Empty for `remove`.
    public var value: String

    /// Fields a message cannot go without (RFC 5322 §3.6): never removed.
    static let required: Set<String> = ["from", "date"]
    /// The longest value: the field stays within SMTP's 1 000-byte line.
    static let maximumValue = 900

    public init(action: Action, name: String, prefix: Bool = false, value: String = "") {
        self.action = action
        self.name = name
        self.prefix = prefix
        self.value = value
    }

    /// The modifier a line describes, or what is wrong with it.
    public static func parse(_ line: String) -> Result<HeaderModifier, HeaderModifierError> {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " "),
              let action = Action(rawValue: trimmed[..<space].lowercased()) else {
            return .failure(.init("starts with add, remove or replace: \(line)"))
        }
        let rest = trimmed[trimmed.index(after: space)...].trimmingCharacters(in: .whitespaces)
        var name: Substring
        var value = ""
        if action == .remove {
            name = Substring(rest)
        } else {
            guard let colon = rest.firstIndex(of: ":") else { return .failure(.init("needs Name: value: \(line)")) }
            name = rest[..<colon]
            value = rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { return .failure(.init("has no value: \(line)")) }
            guard value.utf8.count <= maximumValue else { return .failure(.init("value longer than \(maximumValue) bytes: \(line)")) }
            guard value.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
                return .failure(.init("value has a control character: \(line)"))
            }
        }
        var prefix = false
        if action == .remove, name.hasSuffix("*") {
            prefix = true
            name = name.dropLast()
        }
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: "*") }) else {
            return .failure(.init("not a header field name: \(line)"))
        }
        let lower = name.lowercased()
        if action == .remove, required.contains(lower) || (prefix && required.contains { $0.hasPrefix(lower) }) {
            return .failure(.init("a message needs its \(prefix ? "From and Date fields" : String(name)): \(line)"))
        }
        return .success(HeaderModifier(action: action, name: String(name), prefix: prefix, value: value))
    }

    /// What is wrong with the first bad line, for the setting's check; nil when all are good.
    public static func problem(_ lines: [String]) -> String? {
        for line in lines {
            if case .failure(let error) = parse(line) { return error.description }
        }
        return nil
    }

    /// The modifiers the lines describe, bad lines left out (settings are checked when set).
    public static func parse(lines: [String]) -> [HeaderModifier] {
        lines.compactMap { try? parse($0).get() }
    }

    func matches(_ lowerName: String) -> Bool {
        let own = name.lowercased()
        return prefix ? lowerName.hasPrefix(own) : lowerName == own
    }

    var field: [UInt8] { Array("\(name): \(value)\r\n".utf8) }

    /// `header` (the fields and the empty line that ends them) after `modifiers`; nil when they
    /// change nothing. Fields not touched keep their bytes (folding included).
    public static func apply(_ modifiers: [HeaderModifier], to header: [UInt8]) -> [UInt8]? {
        guard !modifiers.isEmpty else { return nil }
        var fields: [(name: String, raw: [UInt8])] = ListPost.fields(of: header).fields.map { field in
            var raw = Array(field.raw)
            if raw.last != 0x0A { raw += [0x0D, 0x0A] }
            return (field.name, raw)
        }
        var changed = false
        for modifier in modifiers {
            switch modifier.action {
            case .add:
                fields.append((modifier.name.lowercased(), modifier.field))
                changed = true
            case .remove:
                let before = fields.count
                fields.removeAll { modifier.matches($0.name) }
                changed = changed || fields.count != before
            case .replace:
                guard let first = fields.firstIndex(where: { modifier.matches($0.name) }) else { continue }
                let replacement = modifier.field
                if fields[first].raw != replacement || fields.filter({ modifier.matches($0.name) }).count > 1 { changed = true }
                fields[first].raw = replacement
                var index = fields.count - 1
                while index > first {
                    if modifier.matches(fields[index].name) { fields.remove(at: index) }
                    index -= 1
                }
            }
        }
        guard changed else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(header.count + 128)
        for field in fields { out += field.raw }
        out += [0x0D, 0x0A]
        return out
    }
}

public struct HeaderModifierError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
