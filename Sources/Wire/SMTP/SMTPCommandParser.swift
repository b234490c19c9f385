import Foundation
import WireCore

/// Why a command line was refused; each case names the reply it gets.
public enum SMTPSyntaxError: Error, Equatable, Sendable {
    /// 500 5.5.1: not a command we know.
    case unknownCommand
    /// 501 5.5.4: the arguments do not fit the command's grammar.
    case badArguments(String)
    /// 501 5.1.3: the forward-path is not an RFC 5321 path.
    case badAddress(String)
    /// 501 5.1.7: the reverse-path is not an RFC 5321 path.
    case badSenderAddress(String)
    /// 555 5.5.4 (RFC 1869 §6): a MAIL or RCPT parameter we do not know or whose value is wrong.
    case badParameter(String)
}

/// The bytes of one command line (without its CRLF) → a typed command. Never builds a String
/// from bytes it has not checked; accepts UTF-8 in addresses (RFC 6531) and leaves to the
/// session whether SMTPUTF8 was asked for.
public enum SMTPCommandParser {
    public static func parse(_ line: some Collection<UInt8>) -> Result<SMTPCommand, SMTPSyntaxError> {
        let bytes = Array(line)
        var verbEnd = 0
        while verbEnd < bytes.count && bytes[verbEnd] != UInt8(ascii: " ") { verbEnd += 1 }
        guard verbEnd > 0, verbEnd <= 8, bytes[..<verbEnd].allSatisfy(SMTPGrammar.isAlpha) else { return .failure(.unknownCommand) }
        let verb = String(decoding: bytes[..<verbEnd], as: UTF8.self).uppercased()
        var rest = verbEnd < bytes.count ? Array(bytes[(verbEnd + 1)...]) : []
        // Tolerate trailing spaces (many clients send them); nothing else is forgiven.
        while rest.last == UInt8(ascii: " ") { rest.removeLast() }
        let hasArgument = verbEnd < bytes.count
        do {
            switch verb {
            case "HELO": return .success(.helo(try domainArgument(rest, allowLiteral: false)))
            case "EHLO": return .success(.ehlo(try domainArgument(rest, allowLiteral: true)))
            case "MAIL": return .success(try mail(rest))
            case "RCPT": return .success(try recipient(rest))
            case "DATA": try noArgument(rest, hasArgument); return .success(.data)
            case "BDAT": return .success(try bdat(rest))
            case "RSET": try noArgument(rest, hasArgument); return .success(.rset)
            case "NOOP": return .success(.noop) // RFC 5321 §4.1.1.9: the argument is ignored.
            case "QUIT": try noArgument(rest, hasArgument); return .success(.quit)
            case "HELP": return .success(.help(rest.isEmpty ? nil : try printable(rest)))
            case "VRFY": return .success(.vrfy(try nonEmpty(rest)))
            case "EXPN": return .success(.expn(try nonEmpty(rest)))
            case "STARTTLS": try noArgument(rest, hasArgument); return .success(.startTLS)
            case "AUTH": return .success(try auth(rest))
            default: return .failure(.unknownCommand)
            }
        } catch let error as SMTPSyntaxError {
            return .failure(error)
        } catch {
            return .failure(.badArguments("syntax error"))
        }
    }

    // MARK: Commands

    public static func noArgument(_ rest: [UInt8], _ hasArgument: Bool) throws {
        guard rest.isEmpty else { throw SMTPSyntaxError.badArguments("this command takes no arguments") }
    }

    public static func nonEmpty(_ rest: [UInt8]) throws -> String {
        guard !rest.isEmpty else { throw SMTPSyntaxError.badArguments("an argument is required") }
        return try printable(rest)
    }

    public static func printable(_ rest: [UInt8]) throws -> String {
        guard rest.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }), let text = String(validating: rest, as: UTF8.self) else {
            throw SMTPSyntaxError.badArguments("the argument is not printable text")
        }
        return text
    }

    /// HELO takes a domain (RFC 5321 §4.1.1.1); EHLO a domain or an address literal. Clients in
    /// the wild send bare host names and underscores: any run of printable non-space ASCII is
    /// kept for the Received line, but it must be there and be one word.
    public static func domainArgument(_ rest: [UInt8], allowLiteral: Bool) throws -> String {
        guard !rest.isEmpty else { throw SMTPSyntaxError.badArguments("a domain name or address literal is required") }
        guard rest.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw SMTPSyntaxError.badArguments("the argument must be one domain name or address literal")
        }
        if rest.first == UInt8(ascii: "[") && !allowLiteral {
            throw SMTPSyntaxError.badArguments("HELO takes a domain name; use EHLO for an address literal")
        }
        return String(decoding: rest, as: UTF8.self)
    }

    public static func mail(_ rest: [UInt8]) throws -> SMTPCommand {
        var input = ByteCursor(rest)
        guard input.consumeCaseInsensitive("FROM:") else { throw SMTPSyntaxError.badArguments("expected MAIL FROM:<address>") }
        input.skipSpaces() // Deviation from RFC 5321 §4.1.2: a space after the colon is common and harmless.
        let path: SMTPPath?
        if input.consume(Array("<>".utf8)) {
            path = nil
        } else {
            do {
                path = try SMTPPathParser.parse(&input, allowPostmaster: false)
            } catch SMTPSyntaxError.badAddress(let text) {
                throw SMTPSyntaxError.badSenderAddress(text)
            }
        }
        var parameters = SMTPMailParameters()
        for (key, value) in try esmtpParameters(&input) {
            switch key {
            case "SIZE":
                guard let value, value.count <= 40, value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw SMTPSyntaxError.badParameter("SIZE needs a number")
                }
                // A number too large for an Int is still a size, and far too big (552 5.3.4).
                parameters.size = Int(value) ?? Int.max
            case "BODY":
                // RFC 3030 §3: BODY=BINARYMIME only where BINARYMIME is advertised, which it is not.
                guard let value, let body = SMTPMailParameters.Body(rawValue: value.uppercased()), body != .binaryMIME else {
                    throw SMTPSyntaxError.badParameter("BODY is 7BIT or 8BITMIME")
                }
                parameters.body = body
            case "SMTPUTF8":
                guard value == nil else { throw SMTPSyntaxError.badParameter("SMTPUTF8 takes no value") }
                parameters.smtpUTF8 = true
            case "RET":
                guard let value, let ret = SMTPMailParameters.Return(rawValue: value.uppercased()) else {
                    throw SMTPSyntaxError.badParameter("RET is FULL or HDRS")
                }
                parameters.ret = ret
            case "ENVID":
                guard let value, let decoded = XText.decode(value), decoded.utf8.count <= 100 else {
                    throw SMTPSyntaxError.badParameter("ENVID is xtext of at most 100 characters")
                }
                try XText.refuseControls(decoded, "ENVID")
                parameters.envelopeID = decoded
            case "AUTH":
                guard let value else { throw SMTPSyntaxError.badParameter("AUTH needs a value") }
                if value != "<>" {
                    guard let decoded = XText.decode(value), decoded.utf8.count <= 500 else {
                        throw SMTPSyntaxError.badParameter("AUTH is xtext")
                    }
                    try XText.refuseControls(decoded, "AUTH")
                    parameters.auth = decoded
                }
            default:
                throw SMTPSyntaxError.badParameter("unknown MAIL parameter \(key)")
            }
            // RFC 3461 §4.3, RFC 1870: each parameter once.
        }
        return .mail(reversePath: path, parameters: parameters)
    }

    public static func recipient(_ rest: [UInt8]) throws -> SMTPCommand {
        var input = ByteCursor(rest)
        guard input.consumeCaseInsensitive("TO:") else { throw SMTPSyntaxError.badArguments("expected RCPT TO:<address>") }
        input.skipSpaces()
        let path = try SMTPPathParser.parse(&input, allowPostmaster: true)
        var parameters = SMTPRecipientParameters()
        for (key, value) in try esmtpParameters(&input) {
            switch key {
            case "NOTIFY":
                guard let value else { throw SMTPSyntaxError.badParameter("NOTIFY needs a value") }
                var notify: [SMTPRecipientParameters.Notify] = []
                for word in value.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let item = SMTPRecipientParameters.Notify(rawValue: word.uppercased()), !notify.contains(item) else {
                        throw SMTPSyntaxError.badParameter("NOTIFY is NEVER or a list of SUCCESS, FAILURE, DELAY")
                    }
                    notify.append(item)
                }
                // RFC 3461 §4.1: NEVER stands alone.
                if notify.contains(.never) && notify.count > 1 { throw SMTPSyntaxError.badParameter("NOTIFY=NEVER stands alone") }
                parameters.notify = notify
            case "ORCPT":
                guard let value, let semicolon = value.firstIndex(of: ";"), semicolon != value.startIndex,
                      let address = XText.decode(String(value[value.index(after: semicolon)...])), !address.isEmpty,
                      value.utf8.count <= 500 else {
                    throw SMTPSyntaxError.badParameter("ORCPT is addr-type;xtext")
                }
                try XText.refuseControls(address, "ORCPT")
                parameters.originalRecipient = value[..<semicolon].lowercased() + ";" + address
            default:
                throw SMTPSyntaxError.badParameter("unknown RCPT parameter \(key)")
            }
        }
        return .rcpt(forwardPath: path, parameters: parameters)
    }

    /// ` KEY[=VALUE]` pairs after the path (RFC 5321 §4.1.2 Mail-parameters). Keys upper-cased;
    /// a key given twice is refused.
    public static func esmtpParameters(_ input: inout ByteCursor) throws -> [(String, String?)] {
        var result: [(String, String?)] = []
        var seen = Set<String>()
        while !input.isAtEnd {
            guard input.skipSpaces() > 0 else { throw SMTPSyntaxError.badArguments("unexpected text after the address") }
            if input.isAtEnd { break }
            let word = input.takeWhile { $0 != UInt8(ascii: " ") }
            guard word.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw SMTPSyntaxError.badParameter("parameters are ASCII") }
            let text = String(decoding: word, as: UTF8.self)
            let key: String, value: String?
            if let equals = text.firstIndex(of: "=") {
                key = text[..<equals].uppercased()
                value = String(text[text.index(after: equals)...])
                guard !(value!.isEmpty) else { throw SMTPSyntaxError.badParameter("\(key) has an empty value") }
            } else {
                key = text.uppercased()
                value = nil
            }
            guard !key.isEmpty, key.utf8.allSatisfy({ SMTPGrammar.isAlpha($0) || SMTPGrammar.isDigit($0) || $0 == UInt8(ascii: "-") })
            else { throw SMTPSyntaxError.badParameter("malformed parameter") }
            guard seen.insert(key).inserted else { throw SMTPSyntaxError.badParameter("\(key) given twice") }
            guard result.count < 16 else { throw SMTPSyntaxError.badParameter("too many parameters") }
            result.append((key, value))
        }
        return result
    }

    public static func bdat(_ rest: [UInt8]) throws -> SMTPCommand {
        let words = rest.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard (1...2).contains(words.count), !words[0].isEmpty, words[0].count <= 12,
              words[0].allSatisfy(SMTPGrammar.isDigit), let size = Int(String(decoding: words[0], as: UTF8.self)) else {
            throw SMTPSyntaxError.badArguments("expected BDAT size [LAST]")
        }
        if words.count == 2 {
            guard String(decoding: words[1], as: UTF8.self).uppercased() == "LAST" else {
                throw SMTPSyntaxError.badArguments("expected BDAT size [LAST]")
            }
        }
        return .bdat(size: size, last: words.count == 2)
    }

    public static func auth(_ rest: [UInt8]) throws -> SMTPCommand {
        let words = rest.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard (1...2).contains(words.count), !words[0].isEmpty, words[0].count <= 20,
              words[0].allSatisfy({ SMTPGrammar.isAlpha($0) || SMTPGrammar.isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { throw SMTPSyntaxError.badArguments("expected AUTH mechanism [initial-response]") }
        var initial: String?
        if words.count == 2 {
            guard !words[1].isEmpty, words[1].allSatisfy({ Base64.isAlphabet($0) || $0 == UInt8(ascii: "=") }) else {
                throw SMTPSyntaxError.badArguments("the initial response is base64 or =")
            }
            initial = String(decoding: words[1], as: UTF8.self)
        }
        return .auth(mechanism: String(decoding: words[0], as: UTF8.self).uppercased(), initialResponse: initial)
    }
}

/// Paths: `<[@route,...:]local@domain>` (RFC 5321 §4.1.2), with UTF-8 allowed (RFC 6531 §3.3).
public enum SMTPPathParser {
    public static func parse(_ input: inout ByteCursor, allowPostmaster: Bool) throws -> SMTPPath {
        guard input.consume(UInt8(ascii: "<")) else { throw SMTPSyntaxError.badAddress("the address must be in angle brackets") }
        // A-d-l: "@" domain *( "," "@" domain ) ":"; parsed, then ignored.
        if input.peek == UInt8(ascii: "@") {
            repeat {
                guard input.consume(UInt8(ascii: "@")) else { throw SMTPSyntaxError.badAddress("malformed source route") }
                _ = try domain(&input)
            } while input.consume(UInt8(ascii: ","))
            guard input.consume(UInt8(ascii: ":")) else { throw SMTPSyntaxError.badAddress("malformed source route") }
        }
        let (local, quoted) = try localPart(&input)
        if !quoted, allowPostmaster, input.peek == UInt8(ascii: ">"), local.lowercased() == "postmaster" {
            input.advance()
            return SMTPPath(localPart: local, domain: "")
        }
        guard input.consume(UInt8(ascii: "@")) else { throw SMTPSyntaxError.badAddress("the address needs a domain") }
        let domainText = try domain(&input)
        guard input.consume(UInt8(ascii: ">")) else { throw SMTPSyntaxError.badAddress("unexpected text in the address") }
        // RFC 5321 §4.5.3.1.1 and .2: local part 64 octets, domain 255.
        guard local.utf8.count <= 64, domainText.utf8.count <= 255 else { throw SMTPSyntaxError.badAddress("the address is too long") }
        return SMTPPath(localPart: local, domain: domainText, quoted: quoted)
    }

    public static func localPart(_ input: inout ByteCursor) throws -> (String, Bool) {
        if input.consume(UInt8(ascii: "\"")) {
            var bytes: [UInt8] = []
            while true {
                guard let byte = input.next() else { throw SMTPSyntaxError.badAddress("unterminated quoted local part") }
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = input.next(), escaped >= 0x20, escaped < 0x7f else {
                        throw SMTPSyntaxError.badAddress("bad escape in quoted local part")
                    }
                    bytes.append(escaped)
                } else {
                    guard byte >= 0x20, byte != 0x7f else { throw SMTPSyntaxError.badAddress("control character in address") }
                    bytes.append(byte)
                }
            }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw SMTPSyntaxError.badAddress("not UTF-8") }
            return (text, true)
        }
        // Dot-string: atoms separated by single dots.
        let bytes = input.takeWhile { SMTPGrammar.isAtext($0) || $0 == UInt8(ascii: ".") || $0 >= 0x80 }
        guard !bytes.isEmpty, bytes.first != UInt8(ascii: "."), bytes.last != UInt8(ascii: "."),
              !zip(bytes, bytes.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) else {
            throw SMTPSyntaxError.badAddress("malformed local part")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw SMTPSyntaxError.badAddress("not UTF-8") }
        return (text, false)
    }

    /// A domain (sub-domains of letters, digits, hyphens, or UTF-8 U-labels) or an address literal.
    /// No trailing dot: RFC 5321's grammar has none, and accepting one invites relay tricks.
    public static func domain(_ input: inout ByteCursor) throws -> String {
        if input.peek == UInt8(ascii: "[") {
            let bytes = input.takeWhile { $0 != UInt8(ascii: "]") && $0 != UInt8(ascii: ">") }
            guard input.consume(UInt8(ascii: "]")), bytes.count > 1,
                  bytes.dropFirst().allSatisfy({ SMTPGrammar.isDigit($0) || SMTPGrammar.isAlpha($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") })
            else { throw SMTPSyntaxError.badAddress("malformed address literal") }
            return String(decoding: bytes, as: UTF8.self).lowercased() + "]"
        }
        let bytes = input.takeWhile { SMTPGrammar.isAlpha($0) || SMTPGrammar.isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 >= 0x80 }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard !bytes.isEmpty, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 && $0.first != UInt8(ascii: "-") && $0.last != UInt8(ascii: "-") }),
              let text = String(validating: bytes, as: UTF8.self) else {
            throw SMTPSyntaxError.badAddress("malformed domain")
        }
        return text.lowercased()
    }
}

/// A read position in a byte array.
public struct ByteCursor {
    public let bytes: [UInt8]
    public var index = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { index >= bytes.count }
    public var peek: UInt8? { isAtEnd ? nil : bytes[index] }
    public mutating func advance() { index += 1 }

    public mutating func next() -> UInt8? {
        guard !isAtEnd else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    public mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    public mutating func consume(_ sequence: [UInt8]) -> Bool {
        guard bytes.count - index >= sequence.count, Array(bytes[index..<(index + sequence.count)]) == sequence else { return false }
        index += sequence.count
        return true
    }

    public mutating func consumeCaseInsensitive(_ text: String) -> Bool {
        let expected = Array(text.utf8)
        guard bytes.count - index >= expected.count else { return false }
        for (offset, byte) in expected.enumerated() where SMTPGrammar.lower(bytes[index + offset]) != SMTPGrammar.lower(byte) {
            return false
        }
        index += expected.count
        return true
    }

    @discardableResult
    public mutating func skipSpaces() -> Int {
        let start = index
        while peek == UInt8(ascii: " ") { index += 1 }
        return index - start
    }

    public mutating func takeWhile(_ predicate: (UInt8) -> Bool) -> [UInt8] {
        let start = index
        while let byte = peek, predicate(byte) { index += 1 }
        return Array(bytes[start..<index])
    }
}

/// Character classes of RFC 5321 §4.1.2 and RFC 5322 §3.2.3.
public enum SMTPGrammar {
    public static func isAlpha(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    public static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    public static func lower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// atext: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
    public static func isAtext(_ byte: UInt8) -> Bool {
        if isAlpha(byte) || isDigit(byte) { return true }
        return Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(byte)
    }
}

extension XText {
    /// Decoded xtext may hold any octet; a control character (CR, LF, NUL, …) in a value that
    /// is stored and later written into headers and DSNs is refused (501 5.5.4).
    public static func refuseControls(_ decoded: String, _ name: String) throws {
        guard decoded.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }) else {
            throw SMTPSyntaxError.badArguments("\(name) holds control characters")
        }
    }

}
