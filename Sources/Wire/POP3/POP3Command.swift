import Foundation

/// One POP3 command (RFC 1939 §5–7, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
public enum POP3Command: Equatable, Sendable {
    case user(String)
    /// The password as sent: RFC 1939 §7 lets it contain spaces.
    case pass(String)
    case apop(user: String, digest: String)
    case stat
    case list(Int?)
    case retr(Int)
    case dele(Int)
    case rset
    case noop
    case quit
    case uidl(Int?)
    case top(Int, lines: Int)
    case capa
    case stls
    /// RFC 5034: mechanism (upper case) and the optional initial response; no mechanism lists them.
    case auth(mechanism: String?, initialResponse: String?)
}

public enum POP3SyntaxError: Error, Equatable, Sendable {
    case unknownCommand
    case badArguments(String)
}

/// Command line bytes (without CRLF) → a typed command. Keywords are case-insensitive; a
/// message number is a positive decimal (RFC 1939 §3).
public enum POP3CommandParser {
    public static func parse(_ line: some Collection<UInt8>) -> Result<POP3Command, POP3SyntaxError> {
        let bytes = Array(line)
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7f || $0 >= 0x80 }) else { return .failure(.badArguments("control character")) }
        let keywordEnd = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.count
        guard (3...4).contains(keywordEnd), bytes[..<keywordEnd].allSatisfy({ isLetter($0) }) else { return .failure(.unknownCommand) }
        let keyword = String(decoding: bytes[..<keywordEnd], as: UTF8.self).uppercased()
        let rest = keywordEnd < bytes.count ? Array(bytes[(keywordEnd + 1)...]) : []
        let hasArgument = keywordEnd < bytes.count
        let words = rest.isEmpty ? [] : rest.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map { Array($0) }
        func none(_ command: POP3Command) -> Result<POP3Command, POP3SyntaxError> {
            hasArgument && !rest.allSatisfy({ $0 == UInt8(ascii: " ") }) ? .failure(.badArguments("\(keyword) takes no arguments")) : .success(command)
        }
        func number(_ word: [UInt8]) -> Int? {
            guard (1...10).contains(word.count), word.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let value = Int(String(decoding: word, as: UTF8.self)), value > 0 else { return nil }
            return value
        }
        func text(_ word: [UInt8]) -> String? {
            guard !word.isEmpty, word.count <= 255 else { return nil }
            return String(validating: word, as: UTF8.self)
        }
        switch keyword {
        case "USER":
            guard words.count == 1, let name = text(words[0]) else { return .failure(.badArguments("USER takes one name")) }
            return .success(.user(name))
        case "PASS":
            guard let password = text(rest) else { return .failure(.badArguments("PASS takes a password")) }
            return .success(.pass(password))
        case "APOP":
            guard words.count == 2, let name = text(words[0]), words[1].count == 32,
                  words[1].allSatisfy({ isHexDigit($0) }) else {
                return .failure(.badArguments("APOP takes a name and a 32-digit MD5 digest"))
            }
            return .success(.apop(user: name, digest: String(decoding: words[1], as: UTF8.self).lowercased()))
        case "STAT": return none(.stat)
        case "RSET": return none(.rset)
        case "NOOP": return none(.noop)
        case "QUIT": return none(.quit)
        case "CAPA": return none(.capa)
        case "STLS": return none(.stls)
        case "LIST", "UIDL":
            let argument: Int?
            if words.isEmpty {
                argument = nil
            } else {
                guard words.count == 1, let value = number(words[0]) else { return .failure(.badArguments("\(keyword) takes a message number")) }
                argument = value
            }
            return .success(keyword == "LIST" ? .list(argument) : .uidl(argument))
        case "RETR", "DELE":
            guard words.count == 1, let value = number(words[0]) else { return .failure(.badArguments("\(keyword) takes a message number")) }
            return .success(keyword == "RETR" ? .retr(value) : .dele(value))
        case "TOP":
            guard words.count == 2, let message = number(words[0]),
                  words[1].count <= 10, !words[1].isEmpty, words[1].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let lines = Int(String(decoding: words[1], as: UTF8.self)) else {
                return .failure(.badArguments("TOP takes a message number and a line count"))
            }
            return .success(.top(message, lines: lines))
        case "AUTH":
            if words.isEmpty { return .success(.auth(mechanism: nil, initialResponse: nil)) }
            guard (1...2).contains(words.count), !words[0].isEmpty, words[0].count <= 20,
                  words[0].allSatisfy({ isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
            else { return .failure(.badArguments("AUTH takes a mechanism and an optional initial response")) }
            var initial: String?
            if words.count == 2 {
                guard !words[1].isEmpty, words[1].allSatisfy({ isBase64($0) }) else {
                    return .failure(.badArguments("the initial response is base64 or ="))
                }
                initial = String(decoding: words[1], as: UTF8.self)
            }
            return .success(.auth(mechanism: String(decoding: words[0], as: UTF8.self).uppercased(), initialResponse: initial))
        default:
            return .failure(.unknownCommand)
        }
    }

    public static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    public static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    public static func isBase64(_ byte: UInt8) -> Bool {
        isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
    }
}

/// RETR and TOP output: the stored bytes with RFC 1939 §3 byte-stuffing (a line starting with
/// "." gets another), ending in CRLF "." CRLF.
public enum POP3MessageWriter {
    /// `bodyLines`: nil for the whole message (RETR); for TOP, the header section plus that many
    /// lines of the body.
    public static func multiline(_ message: [UInt8], bodyLines: Int? = nil) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.count + 64)
        message.withUnsafeBufferPointer { bytes in
            var lineStart = 0
            var inBody = false
            var bodyLinesLeft = bodyLines ?? Int.max
            var runStart = 0 // bytes not yet copied start here
            while lineStart < bytes.count {
                if inBody {
                    if bodyLinesLeft == 0 { break }
                    bodyLinesLeft -= 1
                } else if bytes[lineStart] == 0x0D || bytes[lineStart] == 0x0A {
                    inBody = true // the empty line ending the header section
                }
                if bytes[lineStart] == UInt8(ascii: ".") {
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<lineStart]))
                    output.append(UInt8(ascii: "."))
                    runStart = lineStart
                }
                // The next line starts after the next LF.
                guard let base = bytes.baseAddress,
                      let found = memchr(base + lineStart, 0x0A, bytes.count - lineStart) else {
                    lineStart = bytes.count
                    break
                }
                lineStart = base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<min(lineStart, bytes.count)]))
        }
        let endsWithLineBreak = output.count >= 2 && output[output.count - 2] == 0x0D && output[output.count - 1] == 0x0A
        if !output.isEmpty && !endsWithLineBreak { output.append(contentsOf: [0x0D, 0x0A]) }
        output.append(contentsOf: [UInt8(ascii: "."), 0x0D, 0x0A])
        return output
    }
}
