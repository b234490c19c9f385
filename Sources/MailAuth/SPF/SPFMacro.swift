import DNS
import Foundation

/// SPF macro strings (RFC 7208 §7): `%{s}`, `%{d2r}`, `%{l-}`, `%%`, `%_`, `%-`.
public enum SPFMacro {
    /// What the macros stand for in one check.
    public struct Context: Sendable {
        public var sender: String
        public var domain: String
        public var client: IPAddress
        public var helo: String
        /// `%{p}`: the validated name of the client, computed on first use.
        public var validatedName: String?
        public var receiver = "unknown"
        public var now = Date()
    }

    /// Checks a macro-string's syntax (§7.1); `explanation` allows `c`, `r`, `t`.
    static func check(_ text: String, explanation: Bool) throws(SPFRecord.Failure) {
        _ = try expand(text, context: nil, explanation: explanation)
    }

    /// Expands `text`; with no context only the syntax is checked (the result is meaningless).
    static func expand(_ text: String, context: Context?, explanation: Bool,
                       validatedName: (() -> String)? = nil) throws(SPFRecord.Failure) -> String {
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            guard character == "%" else {
                guard character.isASCII, character != " " || explanation else { throw SPFRecord.Failure("bad character in macro string") }
                out.append(character)
                index = text.index(after: index)
                continue
            }
            let next = text.index(after: index)
            guard next < text.endIndex else { throw SPFRecord.Failure("% at the end of a macro string") }
            switch text[next] {
            case "%": out += "%"; index = text.index(after: next)
            case "_": out += " "; index = text.index(after: next)
            case "-": out += "%20"; index = text.index(after: next)
            case "{":
                guard let close = text[next...].firstIndex(of: "}") else { throw SPFRecord.Failure("unclosed macro") }
                let body = text[text.index(after: next)..<close]
                out += try expandOne(body, context: context, explanation: explanation, validatedName: validatedName)
                index = text.index(after: close)
            default:
                throw SPFRecord.Failure("bad macro %\(text[next])")
            }
        }
        return out
    }

    private static func expandOne(_ body: Substring, context: Context?, explanation: Bool,
                                  validatedName: (() -> String)?) throws(SPFRecord.Failure) -> String {
        guard let letter = body.first?.lowercased().first else { throw SPFRecord.Failure("empty macro") }
        let uppercase = body.first!.isUppercase
        var rest = body.dropFirst()
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(digits.count)
        var keep: Int?
        if !digits.isEmpty {
            guard let value = Int(digits), value > 0, value <= 128 else { throw SPFRecord.Failure("bad macro digits") }
            keep = value
        }
        var reverse = false
        if rest.first == "r" || rest.first == "R" {
            reverse = true
            rest = rest.dropFirst()
        }
        // Delimiters: . - + , / _ =
        guard rest.allSatisfy({ ".-+,/_=".contains($0) }) else { throw SPFRecord.Failure("bad macro delimiter") }
        let delimiters = rest.isEmpty ? Set(".") : Set(rest)
        let allowed = explanation ? "slodiphcrtv" : "slodiphv"
        guard allowed.contains(letter) else { throw SPFRecord.Failure("macro %{\(letter)} not allowed here") }
        guard let context else { return "x" }
        var value: String
        switch letter {
        case "s": value = context.sender
        case "l": value = context.sender.lastIndex(of: "@").map { String(context.sender[..<$0]) } ?? "postmaster"
        case "o": value = context.sender.lastIndex(of: "@").map { String(context.sender[context.sender.index(after: $0)...]) } ?? context.sender
        case "d": value = context.domain
        case "i":
            if context.client.isIPv6 {
                value = context.client.bytes.flatMap { [String($0 >> 4, radix: 16), String($0 & 0x0F, radix: 16)] }.joined(separator: ".")
            } else {
                value = context.client.description
            }
        case "p": value = validatedName?() ?? "unknown"
        case "v": value = context.client.isIPv6 ? "ip6" : "in-addr"
        case "h": value = context.helo
        case "c": value = context.client.description
        case "r": value = context.receiver
        case "t": value = String(Int(context.now.timeIntervalSince1970))
        default: throw SPFRecord.Failure("unknown macro")
        }
        var parts = value.split(whereSeparator: { delimiters.contains($0) }).map(String.init)
        if value.isEmpty { parts = [""] }
        if reverse { parts.reverse() }
        if let keep, parts.count > keep { parts = Array(parts.suffix(keep)) }
        var result = parts.joined(separator: ".")
        if uppercase {
            // URL-escape everything outside the unreserved set (§7.3).
            result = result.utf8.map { byte in
                let scalar = Unicode.Scalar(byte)
                return (scalar.properties.isAlphabetic && byte < 0x80) || ("0"..."9").contains(scalar) || "-._~".unicodeScalars.contains(scalar)
                    ? String(scalar) : String(format: "%%%02X", byte)
            }.joined()
        }
        return result
    }
}
