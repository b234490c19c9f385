import Foundation
import WireCore

/// Parses one complete IMAP command: the bytes from the tag to the final CRLF (excluded), literals
/// included as sent (`{n}` CRLF then n bytes). Strings come back decoded; mailbox names are
/// returned as sent (modified UTF-7 or UTF-8, decoded by the session).
public struct IMAPParser {
    public var bytes: [UInt8]
    public var index = 0
    /// Bounds from `IMAPLimits`.
    public let maxDepth: Int
    public let maxRanges: Int

    public init(_ bytes: [UInt8], maxDepth: Int = 16, maxRanges: Int = 1_000) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxRanges = maxRanges
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 16, maxRanges: Int = 1_000) -> Result<IMAPCommand, IMAPParseError> {
        var parser = IMAPParser(bytes, maxDepth: maxDepth, maxRanges: maxRanges)
        return parser.command()
    }

    public struct Failure: Error {
        let text: String
    }

    public mutating func command() -> Result<IMAPCommand, IMAPParseError> {
        let tagBytes = take { $0 > 0x20 && $0 < 0x7f && !Self.tagExcluded.contains($0) }
        guard !tagBytes.isEmpty, tagBytes.count <= 64 else { return .failure(.noTag) }
        let tag = String(decoding: tagBytes, as: UTF8.self)
        do {
            try space()
            let kind = try commandKind()
            guard isAtEnd else { throw Failure(text: "unexpected text after the command") }
            return .success(IMAPCommand(tag: tag, kind: kind))
        } catch let failure as Failure {
            return .failure(.bad(tag: tag, failure.text))
        } catch {
            return .failure(.bad(tag: tag, "syntax error"))
        }
    }

    public static let tagExcluded = Set("(){%*\"\\+".utf8)
    public static let atomSpecials = Set("(){ %*\"\\]".utf8)

    // MARK: Commands

    public mutating func commandKind() throws -> IMAPCommandKind {
        let name = try atom().uppercased()
        switch name {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "STARTTLS": return .startTLS
        case "CHECK": return .check
        case "NAMESPACE": return .namespace
        case "IDLE": return .idle
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "UNAUTHENTICATE": return .unauthenticate
        case "SETACL":
            try space()
            let mailbox = try astring()
            try space()
            let identifier = try astring()
            try space()
            return .setACL(mailbox, identifier: identifier, rights: try astring())
        case "DELETEACL", "LISTRIGHTS":
            try space()
            let mailbox = try astring()
            try space()
            let identifier = try astring()
            return name == "DELETEACL" ? .deleteACL(mailbox, identifier: identifier) : .listRights(mailbox, identifier: identifier)
        case "GETMETADATA":
            try space()
            var maxSize: Int?
            var depth = 0
            if consume(UInt8(ascii: "(")) {
                repeat {
                    let option = try atom().uppercased()
                    try space()
                    switch option {
                    case "MAXSIZE":
                        let value = try number()
                        guard value <= Int64(Int32.max) else { throw Failure(text: "MAXSIZE too large") }
                        maxSize = Int(value)
                    case "DEPTH":
                        switch try atom().uppercased() {
                        case "0": depth = 0
                        case "1": depth = 1
                        case "INFINITY": depth = -1
                        default: throw Failure(text: "DEPTH is 0, 1 or infinity")
                        }
                    default:
                        throw Failure(text: "unknown GETMETADATA option \(option)")
                    }
                } while try optionalSpace()
                try expect(")")
                try space()
            }
            let mailbox = try astring()
            try space()
            let entries = peek == UInt8(ascii: "(") ? try parenthesised() : [try astring()]
            guard !entries.isEmpty else { throw Failure(text: "GETMETADATA needs entries") }
            return .getMetadata(mailbox, entries: entries, maxSize: maxSize, depth: depth)
        case "SETMETADATA":
            try space()
            let mailbox = try astring()
            try space()
            try expect("(")
            var entries: [IMAPMetadataEntry] = []
            repeat {
                let entry = try astring()
                try space()
                var value: String?
                if consume(UInt8(ascii: "~")) { // RFC 5464 allows a literal8
                    guard let text = String(validating: try literal(), as: UTF8.self) else { throw Failure(text: "value is not UTF-8") }
                    value = text
                } else {
                    value = try nstring()
                }
                entries.append(IMAPMetadataEntry(entry: entry, value: value))
                guard entries.count <= 100 else { throw Failure(text: "too many entries") }
            } while try optionalSpace()
            try expect(")")
            return .setMetadata(mailbox, entries)
        case "GETACL", "MYRIGHTS":
            try space()
            let mailbox = try astring()
            return name == "GETACL" ? .getACL(mailbox) : .myRights(mailbox)
        case "NOTIFY": return .notify(try notify())
        case "GENURLAUTH":
            var pairs: [IMAPURLAuthRequest] = []
            repeat {
                try space()
                let url = try astring()
                try space()
                pairs.append(IMAPURLAuthRequest(url: url, mechanism: try atom().uppercased()))
                guard pairs.count <= 100 else { throw Failure(text: "too many URLs") }
            } while peek == UInt8(ascii: " ")
            return .genURLAuth(pairs)
        case "RESETKEY":
            guard try optionalSpace() else { return .resetKey(nil) }
            let mailbox = try astring()
            while try optionalSpace() { _ = try atom() } // mechanisms: INTERNAL is the only one, and is always reset
            return .resetKey(mailbox)
        case "URLFETCH":
            var fetches: [IMAPURLFetch] = []
            repeat {
                try space()
                if consume(UInt8(ascii: "(")) {
                    let url = try astring()
                    var parameters: [IMAPURLFetch.Parameter] = []
                    while try optionalSpace() {
                        guard let parameter = IMAPURLFetch.Parameter(rawValue: try atom().uppercased()), !parameters.contains(parameter)
                        else { throw Failure(text: "URLFETCH parameters are BODY, BINARY and BODYPARTSTRUCTURE, once each") }
                        parameters.append(parameter)
                    }
                    try expect(")")
                    guard !(parameters.contains(.body) && parameters.contains(.binary)) else { throw Failure(text: "BODY or BINARY, not both") }
                    fetches.append(IMAPURLFetch(url: url, parameters: parameters))
                } else {
                    fetches.append(IMAPURLFetch(url: try astring()))
                }
                guard fetches.count <= 100 else { throw Failure(text: "too many URLs") }
            } while peek == UInt8(ascii: " ")
            return .urlFetch(fetches)
        case "CANCELUPDATE":
            var tags: [String] = []
            while try optionalSpace() {
                let tag = try quoted()
                guard !tag.isEmpty, tag.utf8.count <= 64 else { throw Failure(text: "CANCELUPDATE takes the tags of searches") }
                tags.append(tag)
            }
            guard !tags.isEmpty else { throw Failure(text: "CANCELUPDATE needs a tag") }
            return .cancelUpdate(tags)
        case "EXPUNGE": return .expunge
        case "AUTHENTICATE":
            try space()
            let mechanism = try atom().uppercased()
            var initial: [UInt8]?
            if peek == UInt8(ascii: " ") {
                try space()
                let text = take { $0 > 0x20 && $0 < 0x7f }
                guard let decoded = Base64.decode(Array(text)) else { throw Failure(text: "the initial response is not base64") }
                initial = decoded
            }
            return .authenticate(mechanism: mechanism, initialResponse: initial)
        case "LOGIN":
            try space()
            let user = try astring()
            try space()
            return .login(user: user, password: try astring())
        case "ENABLE":
            var capabilities: [String] = []
            while peek == UInt8(ascii: " ") {
                try space()
                capabilities.append(try atom().uppercased())
            }
            guard !capabilities.isEmpty else { throw Failure(text: "ENABLE needs a capability") }
            return .enable(capabilities)
        case "SELECT", "EXAMINE":
            try space()
            let mailbox = try astring()
            var condStore = false
            var qresync: IMAPQResync?
            if peek == UInt8(ascii: " ") {
                try space()
                try expect("(")
                repeat {
                    let parameter = try atom().uppercased()
                    if parameter == "CONDSTORE" {
                        condStore = true
                    } else if parameter == "QRESYNC" {
                        try space()
                        try expect("(")
                        let validity = try number()
                        try space()
                        let modSeq = try number()
                        var known: IMAPSequenceSet?
                        if peek == UInt8(ascii: " ") {
                            try space()
                            known = try sequenceSet()
                            if peek == UInt8(ascii: " ") { // the optional sequence match data is accepted and ignored
                                try space()
                                _ = try parenthesised()
                            }
                        }
                        try expect(")")
                        guard validity > 0, validity <= Int64(UInt32.max) else { throw Failure(text: "bad UIDVALIDITY") }
                        qresync = IMAPQResync(uidValidity: UInt32(validity), modSeq: modSeq, knownUIDs: known)
                    } else {
                        throw Failure(text: "unknown SELECT parameter \(parameter)")
                    }
                } while try optionalSpace()
                try expect(")")
            }
            return name == "SELECT" ? .select(mailbox, condStore: condStore, qresync: qresync)
                : .examine(mailbox, condStore: condStore, qresync: qresync)
        case "CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT":
            try space()
            let mailbox = try astring()
            if name == "CREATE" && peek == UInt8(ascii: " ") { // RFC 6154 USE: accepted, ignored
                try space()
                _ = try parenthesised()
            }
            switch name {
            case "CREATE": return .create(mailbox)
            case "DELETE": return .delete(mailbox)
            case "SUBSCRIBE": return .subscribe(mailbox)
            case "UNSUBSCRIBE": return .unsubscribe(mailbox)
            default: return .getQuotaRoot(mailbox)
            }
        case "GETQUOTA":
            try space()
            return .getQuota(try astring())
        case "RENAME":
            try space()
            let from = try astring()
            try space()
            return .rename(from, try astring())
        case "LIST":
            try space()
            var selection: [String] = []
            if peek == UInt8(ascii: "(") {
                selection = try parenthesised().map { $0.uppercased() }
                try space()
            }
            let reference = try astring()
            try space()
            var patterns: [String] = []
            if peek == UInt8(ascii: "(") {
                try expect("(")
                repeat { patterns.append(try listMailbox()) } while try optionalSpace()
                try expect(")")
            } else {
                patterns = [try listMailbox()]
            }
            var returns: [String] = []
            if peek == UInt8(ascii: " ") {
                try space()
                guard try atom().uppercased() == "RETURN" else { throw Failure(text: "expected RETURN") }
                try space()
                returns = try returnOptions()
            }
            return .list(reference: reference, patterns: patterns, selection: selection, returns: returns)
        case "LSUB":
            try space()
            let reference = try astring()
            try space()
            return .lsub(reference: reference, pattern: try listMailbox())
        case "STATUS":
            try space()
            let mailbox = try astring()
            try space()
            let items = try parenthesised().map { $0.uppercased() }
            guard !items.isEmpty else { throw Failure(text: "STATUS needs items") }
            return .status(mailbox, items)
        case "APPEND":
            try space()
            let mailbox = try astring()
            // RFC 3502 MULTIAPPEND: one or more messages, each with its own flags and date.
            var messages: [IMAPAppendMessage] = []
            repeat {
                try space()
                var flags: [String] = []
                var date: Date?
                if peek == UInt8(ascii: "(") {
                    flags = try flagList()
                    try space()
                }
                if peek == UInt8(ascii: "\"") {
                    guard let parsed = IMAPDate.parseDateTime(try quoted()) else { throw Failure(text: "bad date-time") }
                    date = parsed
                    try space()
                }
                if peek == UInt8(ascii: "C") || peek == UInt8(ascii: "c") {
                    // RFC 4469: CATENATE (TEXT literal / URL url ...)
                    guard try atom().uppercased() == "CATENATE" else { throw Failure(text: "APPEND needs the message as a literal") }
                    try space()
                    try expect("(")
                    var parts: [IMAPCatenatePart] = []
                    repeat {
                        switch try atom().uppercased() {
                        case "TEXT":
                            try space()
                            let binary = consume(UInt8(ascii: "~"))
                            let (bytes, streamed) = try appendLiteral()
                            parts.append(.text(bytes, binary: binary, streamed: streamed))
                        case "URL":
                            try space()
                            parts.append(.url(try astring()))
                        default:
                            throw Failure(text: "CATENATE takes TEXT and URL parts")
                        }
                        guard parts.count <= IMAPAppendMessage.maximumParts else { throw Failure(text: "too many CATENATE parts") }
                    } while consume(UInt8(ascii: " "))
                    try expect(")")
                    messages.append(IMAPAppendMessage(flags: flags, date: date, message: [], binary: false, catenate: parts))
                } else {
                    let binary = consume(UInt8(ascii: "~")) // RFC 3516 binary literal
                    guard peek == UInt8(ascii: "{") else { throw Failure(text: "APPEND needs the message as a literal") }
                    let (bytes, streamed) = try appendLiteral()
                    messages.append(IMAPAppendMessage(flags: flags, date: date, message: bytes, binary: binary, streamed: streamed))
                }
                guard messages.count <= IMAPAppendMessage.maximumCount else { throw Failure(text: "too many messages in one APPEND") }
            } while peek == UInt8(ascii: " ")
            return .append(mailbox, messages)
        case "UID":
            try space()
            let sub = try atom().uppercased()
            switch sub {
            case "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD":
                return try setCommand(sub, uid: true)
            case "EXPUNGE":
                try space()
                return .uidExpunge(try sequenceSet())
            default:
                throw Failure(text: "unknown UID command \(sub)")
            }
        case "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD":
            return try setCommand(name, uid: false)
        case "ID":
            try space()
            if try nilOrOpen() {
                var parameters: [String: String] = [:]
                while peek != UInt8(ascii: ")") {
                    let key = try string()
                    try space()
                    let value = try nstring()
                    parameters[key] = value ?? ""
                    guard parameters.count <= 30 else { throw Failure(text: "too many ID fields") }
                    _ = try optionalSpace()
                }
                try expect(")")
                return .id(parameters)
            }
            return .id(nil)
        default:
            throw Failure(text: "unknown command \(name)")
        }
    }

    public mutating func setCommand(_ name: String, uid: Bool) throws -> IMAPCommandKind {
        try space()
        switch name {
        case "FETCH":
            let set = try sequenceSet()
            try space()
            let items = try fetchItems()
            var changedSince: Int64?
            var vanished = false
            if peek == UInt8(ascii: " ") {
                try space()
                try expect("(")
                repeat {
                    let modifier = try atom().uppercased()
                    if modifier == "CHANGEDSINCE" {
                        try space()
                        changedSince = try number()
                    } else if modifier == "VANISHED" {
                        vanished = true
                    } else {
                        throw Failure(text: "unknown FETCH modifier \(modifier)")
                    }
                } while try optionalSpace()
                try expect(")")
            }
            return .fetch(uid: uid, set, items, changedSince: changedSince, vanished: vanished)
        case "STORE":
            let set = try sequenceSet()
            try space()
            var unchangedSince: Int64?
            if peek == UInt8(ascii: "(") {
                try expect("(")
                guard try atom().uppercased() == "UNCHANGEDSINCE" else { throw Failure(text: "unknown STORE modifier") }
                try space()
                unchangedSince = try number()
                try expect(")")
                try space()
            }
            var item = try atom().uppercased()
            var mode = IMAPStoreMode.replace
            if item.hasPrefix("+") { mode = .add; item.removeFirst() } else if item.hasPrefix("-") { mode = .remove; item.removeFirst() }
            let silent = item == "FLAGS.SILENT"
            guard item == "FLAGS" || silent else { throw Failure(text: "STORE takes FLAGS or FLAGS.SILENT") }
            try space()
            var flags: [String]
            if peek == UInt8(ascii: "(") {
                flags = try flagList()
            } else {
                flags = [try flag()]
                while try optionalSpace() { flags.append(try flag()) }
            }
            return .store(uid: uid, set, mode, silent: silent, flags: flags, unchangedSince: unchangedSince)
        case "COPY", "MOVE":
            let set = try sequenceSet()
            try space()
            let mailbox = try astring()
            return name == "COPY" ? .copy(uid: uid, set, mailbox) : .move(uid: uid, set, mailbox)
        case "SEARCH":
            var returns: [String]?
            if matchKeyword("RETURN") {
                try space()
                returns = try returnOptions()
                try space()
            }
            if matchKeyword("CHARSET") {
                try space()
                let charset = try astring().uppercased()
                guard charset == "UTF-8" || charset == "US-ASCII" else { throw Failure(text: "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset") }
                try space()
            }
            return .search(uid: uid, returns: returns, key: try searchKeys())
        case "SORT":
            var returns: [String]?
            if matchKeyword("RETURN") {
                try space()
                returns = try returnOptions()
                try space()
            }
            let criteria = try parenthesised().map { $0.uppercased() }
            try space()
            _ = try astring() // charset
            try space()
            return .sort(uid: uid, returns: returns, criteria: criteria, key: try searchKeys())
        default: // THREAD
            let algorithm = try atom().uppercased()
            try space()
            _ = try astring()
            try space()
            return .thread(uid: uid, algorithm: algorithm, key: try searchKeys())
        }
    }

    // MARK: FETCH items

    public mutating func fetchItems() throws -> [IMAPFetchItem] {
        if peek == UInt8(ascii: "(") {
            try expect("(")
            var items: [IMAPFetchItem] = []
            repeat { items.append(contentsOf: try fetchItem()) } while try optionalSpace()
            try expect(")")
            return items
        }
        return try fetchItem()
    }

    public mutating func fetchItem() throws -> [IMAPFetchItem] {
        let name = take { Self.isAtomChar($0) && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "<") }
        let word = String(decoding: name, as: UTF8.self).uppercased()
        switch word {
        case "ALL": return [.flags, .internalDate, .rfc822Size, .envelope]
        case "FAST": return [.flags, .internalDate, .rfc822Size]
        case "FULL": return [.flags, .internalDate, .rfc822Size, .envelope, .body]
        case "UID": return [.uid]
        case "FLAGS": return [.flags]
        case "INTERNALDATE": return [.internalDate]
        case "RFC822.SIZE": return [.rfc822Size]
        case "ENVELOPE": return [.envelope]
        case "BODYSTRUCTURE": return [.bodyStructure]
        case "MODSEQ": return [.modSeq]
        case "EMAILID": return [.emailID]
        case "THREADID": return [.threadID]
        case "SAVEDATE": return [.saveDate]
        case "PREVIEW":
            // RFC 8970 §3: an optional list of modifiers, of which LAZY is the one defined.
            // (A FETCH's own modifiers, CHANGEDSINCE and VANISHED, may follow a bare PREVIEW.)
            var lazy = false
            if index + 6 <= bytes.count, peek == UInt8(ascii: " "), bytes[index + 1] == UInt8(ascii: "("),
               String(decoding: bytes[(index + 2)..<(index + 6)], as: UTF8.self).uppercased() == "LAZY" {
                try space()
                for modifier in try parenthesised() {
                    guard modifier.uppercased() == "LAZY" else { throw Failure(text: "unknown PREVIEW modifier \(modifier)") }
                    lazy = true
                }
            }
            return [.preview(lazy: lazy)]
        case "RFC822": return [.rfc822]
        case "RFC822.HEADER": return [.rfc822Header]
        case "RFC822.TEXT": return [.rfc822Text]
        case "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK":
            if word == "BODY" && peek != UInt8(ascii: "[") { return [.body] }
            let section = try sectionSpec(binary: word.hasPrefix("BINARY"))
            var partial: ClosedRange<Int>?
            if peek == UInt8(ascii: "<") {
                index += 1
                let start = try number()
                try expect(".")
                let length = try number()
                try expect(">")
                guard length > 0, start <= Int64(Int32.max), length <= Int64(Int32.max) else { throw Failure(text: "bad partial range") }
                partial = Int(start)...Int(start + length - 1)
            }
            return [.section(section, partial: partial, peek: word.hasSuffix(".PEEK"), binary: word.hasPrefix("BINARY"))]
        case "BINARY.SIZE":
            let section = try sectionSpec(binary: true)
            return [.binarySize(section.part)]
        default:
            throw Failure(text: "unknown FETCH item \(word)")
        }
    }

    public mutating func sectionSpec(binary: Bool) throws -> IMAPSection {
        try expect("[")
        var part: [Int] = []
        var text = IMAPSection.Text.all
        while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            let value = try number()
            guard value > 0, value < 10_000, part.count < maxDepth else { throw Failure(text: "bad section part") }
            part.append(Int(value))
            guard peek == UInt8(ascii: ".") else { break }
            index += 1
        }
        if peek != UInt8(ascii: "]") {
            guard !binary else { throw Failure(text: "BINARY takes part numbers only") }
            let name = String(decoding: take { Self.isAtomChar($0) && $0 != UInt8(ascii: "]") }, as: UTF8.self).uppercased()
            switch name {
            case "HEADER": text = .header
            case "TEXT": text = .text
            case "MIME":
                guard !part.isEmpty else { throw Failure(text: "MIME needs a part number") }
                text = .mime
            case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
                try space()
                let fields = try parenthesised()
                guard !fields.isEmpty else { throw Failure(text: "HEADER.FIELDS needs field names") }
                text = .headerFields(fields.map { $0.uppercased() }, not: name.hasSuffix(".NOT"))
            default:
                throw Failure(text: "unknown section \(name)")
            }
        }
        try expect("]")
        return IMAPSection(part: part, text: text)
    }

    // MARK: SEARCH

    public mutating func searchKeys() throws -> IMAPSearchKey {
        var keys = [try searchKey(depth: 0)]
        while try optionalSpace() { keys.append(try searchKey(depth: 0)) }
        return keys.count == 1 ? keys[0] : .and(keys)
    }

    public mutating func searchKey(depth: Int) throws -> IMAPSearchKey {
        guard depth < maxDepth else { throw Failure(text: "search keys nested too deeply") }
        if peek == UInt8(ascii: "(") {
            index += 1
            var keys = [try searchKey(depth: depth + 1)]
            while try optionalSpace() { keys.append(try searchKey(depth: depth + 1)) }
            try expect(")")
            return keys.count == 1 ? keys[0] : .and(keys)
        }
        if let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "*")
            || byte == UInt8(ascii: "$") {
            return .sequence(try sequenceSet())
        }
        let name = try atom().uppercased()
        func argument() throws -> String { try space(); return try astring() }
        func date() throws -> Date {
            try space()
            let text = peek == UInt8(ascii: "\"") ? try quoted() : try atom()
            guard let date = IMAPDate.parseDate(text) else { throw Failure(text: "bad date \(text)") }
            return date
        }
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .flag("\\Answered", set: true)
        case "UNANSWERED": return .flag("\\Answered", set: false)
        case "DELETED": return .flag("\\Deleted", set: true)
        case "UNDELETED": return .flag("\\Deleted", set: false)
        case "DRAFT": return .flag("\\Draft", set: true)
        case "UNDRAFT": return .flag("\\Draft", set: false)
        case "FLAGGED": return .flag("\\Flagged", set: true)
        case "UNFLAGGED": return .flag("\\Flagged", set: false)
        case "SEEN": return .flag("\\Seen", set: true)
        case "UNSEEN": return .flag("\\Seen", set: false)
        case "NEW": return .new
        case "OLD": return .old
        case "RECENT": return .recent
        case "KEYWORD": try space(); return .flag(try flag(), set: true)
        case "UNKEYWORD": try space(); return .flag(try flag(), set: false)
        case "BCC", "CC", "FROM", "SUBJECT", "TO": return .header(name.lowercased(), try argument())
        case "HEADER":
            try space()
            let field = try astring()
            return .header(field.lowercased(), try argument())
        case "BODY": return .body(try argument())
        case "TEXT": return .text(try argument())
        case "BEFORE": return .before(try date())
        case "ON": return .on(try date())
        case "SINCE": return .since(try date())
        case "SENTBEFORE": return .sentBefore(try date())
        case "SENTON": return .sentOn(try date())
        case "SENTSINCE": return .sentSince(try date())
        case "LARGER": try space(); return .larger(try number())
        case "SMALLER": try space(); return .smaller(try number())
        case "OLDER": try space(); return .older(try number())
        case "EMAILID": return .emailID(try argument())
        case "THREADID": return .threadID(try argument())
        case "SAVEDBEFORE": return .savedBefore(try date())
        case "SAVEDON": return .savedOn(try date())
        case "SAVEDSINCE": return .savedSince(try date())
        case "SAVEDATESUPPORTED": return .saveDateSupported
        case "YOUNGER": try space(); return .younger(try number())
        case "UID": try space(); return .uid(try sequenceSet())
        case "NOT": try space(); return .not(try searchKey(depth: depth + 1))
        case "OR":
            try space()
            let first = try searchKey(depth: depth + 1)
            try space()
            return .or(first, try searchKey(depth: depth + 1))
        case "MODSEQ":
            try space()
            if peek == UInt8(ascii: "\"") { // entry name and type: accepted, ignored (RFC 7162 §3.1.5)
                _ = try quoted()
                try space()
                _ = try atom()
                try space()
            }
            return .modSeq(try number())
        default:
            throw Failure(text: "unknown search key \(name)")
        }
    }

    public mutating func returnOptions() throws -> [String] {
        try parenthesised().map { $0.uppercased() }
    }

    // MARK: Sequence sets

    public mutating func sequenceSet() throws -> IMAPSequenceSet {
        if consume(UInt8(ascii: "$")) { return .savedResult } // RFC 5182
        var ranges: [IMAPSequenceSet.Range] = []
        repeat {
            let from = try sequenceNumber()
            var to = from
            if peek == UInt8(ascii: ":") {
                index += 1
                to = try sequenceNumber()
            }
            ranges.append(.init(from: from, to: to))
            guard ranges.count <= maxRanges else { throw Failure(text: "too many ranges in a sequence set") }
        } while consume(UInt8(ascii: ","))
        return IMAPSequenceSet(ranges: ranges)
    }

    public mutating func sequenceNumber() throws -> IMAPSequenceSet.Bound {
        if consume(UInt8(ascii: "*")) { return .last }
        let value = try number()
        guard value > 0, value <= Int64(UInt32.max) else { throw Failure(text: "bad message number") }
        return .number(UInt32(value))
    }
}
