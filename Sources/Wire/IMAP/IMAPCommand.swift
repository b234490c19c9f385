import Foundation
import WireCore

/// A sequence set (RFC 9051 §9 `sequence-set`): ranges of message numbers or UIDs, `*` being
/// the largest in the mailbox. Kept as written; resolved against a mailbox when used.
public struct IMAPSequenceSet: Equatable, Sendable {
    public enum Bound: Equatable, Sendable {
        case number(UInt32)
        case last
    }
    public struct Range: Equatable, Sendable {
        public let from: Bound
        public let to: Bound

        public init(from: Bound, to: Bound) {
            self.from = from
            self.to = to
        }
    }
    public var ranges: [Range]
    /// RFC 5182 `$`: the result the last SEARCH saved, which the session substitutes; as a
    /// set it contains nothing.
    public var saved = false

    public init(ranges: [Range], saved: Bool = false) {
        self.ranges = ranges
        self.saved = saved
    }

    /// `$`, the last saved search result.
    public static let savedResult = IMAPSequenceSet(ranges: [], saved: true)

    /// The members among `1...largest` (message numbers) or among `existing` (UIDs).
    public func contains(_ value: UInt32, largest: UInt32) -> Bool {
        ranges.contains { range in
            let a = Self.resolve(range.from, largest), b = Self.resolve(range.to, largest)
            return (min(a, b)...max(a, b)).contains(value)
        }
    }

    public static func resolve(_ bound: Bound, _ largest: UInt32) -> UInt32 {
        switch bound {
        case .number(let value): value
        case .last: largest
        }
    }
}

/// One FETCH data item (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ).
public enum IMAPFetchItem: Equatable, Sendable {
    case uid, flags, internalDate, rfc822Size, envelope, bodyStructure, body, modSeq
    case rfc822, rfc822Header, rfc822Text
    /// BODY[section]<partial> or BODY.PEEK[...]; BINARY[...] and BINARY.SIZE[...] when `binary`.
    case section(IMAPSection, partial: ClosedRange<Int>?, peek: Bool, binary: Bool)
    case binarySize([Int])
    /// RFC 8474 OBJECTID.
    case emailID, threadID
    /// RFC 8514.
    case saveDate
    /// RFC 8970 PREVIEW; `lazy`: NIL rather than work it out now.
    case preview(lazy: Bool)
}

/// A body section (RFC 9051 §6.4.5): a part path and what of it.
public struct IMAPSection: Equatable, Sendable, CustomStringConvertible {
    public enum Text: Equatable, Sendable {
        case all
        case header
        case headerFields([String], not: Bool)
        case text
        case mime
    }
    public var part: [Int]
    public var text: Text

    public init(part: [Int], text: Text) {
        self.part = part
        self.text = text
    }

    public var description: String {
        var parts = part.map(String.init)
        switch text {
        case .all: break
        case .header: parts.append("HEADER")
        case .headerFields(let fields, let not):
            parts.append((not ? "HEADER.FIELDS.NOT" : "HEADER.FIELDS") + " (" + fields.joined(separator: " ") + ")")
        case .text: parts.append("TEXT")
        case .mime: parts.append("MIME")
        }
        return parts.joined(separator: ".")
    }
}

/// SEARCH keys (RFC 9051 §6.4.4, RFC 7162 MODSEQ).
public indirect enum IMAPSearchKey: Equatable, Sendable {
    case all
    case sequence(IMAPSequenceSet)
    case uid(IMAPSequenceSet)
    case flag(String, set: Bool)
    case header(String, String)
    case body(String), text(String)
    case before(Date), on(Date), since(Date)
    case sentBefore(Date), sentOn(Date), sentSince(Date)
    case larger(Int64), smaller(Int64)
    case not(IMAPSearchKey)
    case or(IMAPSearchKey, IMAPSearchKey)
    case and([IMAPSearchKey])
    case modSeq(Int64)
    case new, old, recent
    /// RFC 5032 WITHIN: an internal date more (`older`) or less (`younger`) than this many
    /// seconds before now.
    case older(Int64), younger(Int64)
    /// RFC 8474 §6.
    case emailID(String), threadID(String)
    /// RFC 8514: when the message came into its mailbox, by day; and whether that is known.
    case savedBefore(Date), savedOn(Date), savedSince(Date), saveDateSupported
}

public enum IMAPStoreMode: Equatable, Sendable {
    case replace, add, remove
}

/// One IMAP command with its arguments typed.
public enum IMAPCommandKind: Equatable, Sendable {
    case capability, noop, logout, startTLS, check
    case authenticate(mechanism: String, initialResponse: [UInt8]?)
    case login(user: String, password: String)
    case enable([String])
    case select(String, condStore: Bool, qresync: IMAPQResync?)
    case examine(String, condStore: Bool, qresync: IMAPQResync?)
    case create(String), delete(String), subscribe(String), unsubscribe(String)
    case rename(String, String)
    case list(reference: String, patterns: [String], selection: [String], returns: [String])
    case lsub(reference: String, pattern: String)
    case namespace
    case status(String, [String])
    /// `binary`: the message came as an RFC 3516 literal8 (`~{n}`).
    /// One message, or several (RFC 3502 MULTIAPPEND, all or none).
    case append(String, [IMAPAppendMessage])
    case idle
    case close, unselect, expunge
    case uidExpunge(IMAPSequenceSet)
    case search(uid: Bool, returns: [String]?, key: IMAPSearchKey)
    case fetch(uid: Bool, IMAPSequenceSet, [IMAPFetchItem], changedSince: Int64?, vanished: Bool)
    case store(uid: Bool, IMAPSequenceSet, IMAPStoreMode, silent: Bool, flags: [String], unchangedSince: Int64?)
    case copy(uid: Bool, IMAPSequenceSet, String)
    case move(uid: Bool, IMAPSequenceSet, String)
    case id([String: String]?)
    case getQuota(String), getQuotaRoot(String)
    /// RFC 4314 ACL: `rights` may start with + or - (add to or take from the present ones).
    case setACL(String, identifier: String, rights: String)
    case deleteACL(String, identifier: String)
    case getACL(String)
    case listRights(String, identifier: String)
    case myRights(String)
    /// RFC 5464: `depth` 0, 1 or -1 for infinity; `maxSize` the longest value wanted.
    case getMetadata(String, entries: [String], maxSize: Int?, depth: Int)
    case setMetadata(String, [IMAPMetadataEntry])
    /// `returns`: RFC 5267 ESORT's RETURN options; nil for a plain SORT answer.
    case sort(uid: Bool, returns: [String]?, criteria: [String], key: IMAPSearchKey)
    /// RFC 5267 §4.2: stop the updates of the searches started with these tags.
    case cancelUpdate([String])
    /// RFC 8437: back to the not-authenticated state.
    case unauthenticate
    case thread(uid: Bool, algorithm: String, key: IMAPSearchKey)
    /// RFC 5465: nil is NOTIFY NONE.
    case notify(IMAPNotify?)
    /// RFC 4467: rump URLs, each with the mechanism to authorize it with.
    case genURLAuth([IMAPURLAuthRequest])
    /// RFC 4467: a new access key for one mailbox, or (nil) for all of the user's.
    case resetKey(String?)
    /// RFC 4467 URLFETCH, with RFC 5524's fetch parameters per URL.
    case urlFetch([IMAPURLFetch])

    /// The command's name as a client sends it (`UID FETCH`), without its arguments.
    public var name: String {
        switch self {
        case .capability: "CAPABILITY"
        case .noop: "NOOP"
        case .logout: "LOGOUT"
        case .startTLS: "STARTTLS"
        case .check: "CHECK"
        case .authenticate: "AUTHENTICATE"
        case .login: "LOGIN"
        case .enable: "ENABLE"
        case .select: "SELECT"
        case .examine: "EXAMINE"
        case .create: "CREATE"
        case .delete: "DELETE"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .rename: "RENAME"
        case .list: "LIST"
        case .lsub: "LSUB"
        case .namespace: "NAMESPACE"
        case .status: "STATUS"
        case .append: "APPEND"
        case .idle: "IDLE"
        case .close: "CLOSE"
        case .unselect: "UNSELECT"
        case .expunge: "EXPUNGE"
        case .uidExpunge: "UID EXPUNGE"
        case .search(let uid, _, _): uid ? "UID SEARCH" : "SEARCH"
        case .fetch(let uid, _, _, _, _): uid ? "UID FETCH" : "FETCH"
        case .store(let uid, _, _, _, _, _): uid ? "UID STORE" : "STORE"
        case .copy(let uid, _, _): uid ? "UID COPY" : "COPY"
        case .move(let uid, _, _): uid ? "UID MOVE" : "MOVE"
        case .id: "ID"
        case .getQuota: "GETQUOTA"
        case .getQuotaRoot: "GETQUOTAROOT"
        case .sort(let uid, _, _, _): uid ? "UID SORT" : "SORT"
        case .cancelUpdate: "CANCELUPDATE"
        case .setACL: "SETACL"
        case .deleteACL: "DELETEACL"
        case .getACL: "GETACL"
        case .listRights: "LISTRIGHTS"
        case .myRights: "MYRIGHTS"
        case .getMetadata: "GETMETADATA"
        case .setMetadata: "SETMETADATA"
        case .unauthenticate: "UNAUTHENTICATE"
        case .notify: "NOTIFY"
        case .genURLAuth: "GENURLAUTH"
        case .resetKey: "RESETKEY"
        case .urlFetch: "URLFETCH"
        case .thread(let uid, _, _): uid ? "UID THREAD" : "THREAD"
        }
    }
}

/// One entry of SETMETADATA: nil removes it.
public struct IMAPMetadataEntry: Equatable, Sendable {
    public var entry: String
    public var value: String?

    public init(entry: String, value: String?) {
        self.entry = entry
        self.value = value
    }
}

/// One message of an APPEND. `binary`: it came as an RFC 3516 literal8 (`~{n}`). `streamed`: the
/// literal went to the session's spool in pieces (the command holds `{*}` in its place).
/// `catenate`: RFC 4469, the message is put together from these parts instead.
public struct IMAPAppendMessage: Equatable, Sendable {
    public var flags: [String]
    public var date: Date?
    public var message: [UInt8]
    public var binary: Bool
    public var streamed: Bool
    public var catenate: [IMAPCatenatePart]?

    public init(flags: [String], date: Date?, message: [UInt8], binary: Bool, streamed: Bool = false,
                catenate: [IMAPCatenatePart]? = nil) {
        self.flags = flags
        self.date = date
        self.message = message
        self.binary = binary
        self.streamed = streamed
        self.catenate = catenate
    }

    /// Messages one APPEND may carry.
    public static let maximumCount = 1_000
    /// Parts one CATENATE may join.
    public static let maximumParts = 100
}

/// A part of an RFC 4469 CATENATE: text sent with the command, or an IMAP URL of a message or
/// part of one already stored.
public enum IMAPCatenatePart: Equatable, Sendable {
    case text([UInt8], binary: Bool, streamed: Bool)
    case url(String)
}

/// RFC 7162 §3.2.5 QRESYNC parameters of SELECT/EXAMINE.
public struct IMAPQResync: Equatable, Sendable {
    public var uidValidity: UInt32
    public var modSeq: Int64
    public var knownUIDs: IMAPSequenceSet?
}

public struct IMAPCommand: Equatable, Sendable {
    public var tag: String
    public var kind: IMAPCommandKind
}

public enum IMAPParseError: Error, Equatable, Sendable {
    /// No usable tag: answered with an untagged BAD.
    case noTag
    /// A tagged BAD with this text.
    case bad(tag: String, String)
}

/// One URL of an URLFETCH, with what to send for it (RFC 5524): nil parameters are RFC 4467's
/// plain form, the content as it is stored.
public struct IMAPURLFetch: Equatable, Sendable {
    public enum Parameter: String, Equatable, Sendable {
        case body = "BODY", binary = "BINARY", bodyPartStructure = "BODYPARTSTRUCTURE"
    }

    public var url: String
    public var parameters: [Parameter]?

    public init(url: String, parameters: [Parameter]? = nil) {
        self.url = url
        self.parameters = parameters
    }
}

/// One rump URL of a GENURLAUTH and the mechanism to authorize it with (RFC 4467).
public struct IMAPURLAuthRequest: Equatable, Sendable {
    public var url: String
    public var mechanism: String

    public init(url: String, mechanism: String) {
        self.url = url
        self.mechanism = mechanism
    }
}
