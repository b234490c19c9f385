/// Bounds on what the MIME parser will look into. Beyond them the rest is kept as opaque
/// bytes: the message is stored whole either way, only its structure is summarised less deeply.
public struct MIMELimits: Sendable {
    /// Nesting of multiparts and message/rfc822 parts.
    public var maxDepth = 32
    /// Parts in one message, counting containers.
    public var maxParts = 2_000
    /// Bytes of one header block that are parsed into fields.
    public var maxHeaderBytes = 256 * 1024
    /// Fields in one header block.
    public var maxHeaderFields = 2_000

    public init() {}
}

/// IMAP ENVELOPE data (RFC 3501 §7.4.2), from a message's header as written.
public struct Envelope: Codable, Hashable, Sendable {
    public var date: String?
    public var subject: String?
    public var from: [MessageAddress]
    public var sender: [MessageAddress]
    public var replyTo: [MessageAddress]
    public var to: [MessageAddress]
    public var cc: [MessageAddress]
    public var bcc: [MessageAddress]
    public var inReplyTo: String?
    public var messageID: String?

    public init(date: String?, subject: String?, from: [MessageAddress], sender: [MessageAddress], replyTo: [MessageAddress],
                to: [MessageAddress], cc: [MessageAddress], bcc: [MessageAddress], inReplyTo: String?, messageID: String?) {
        self.date = date
        self.subject = subject
        self.from = from
        self.sender = sender
        self.replyTo = replyTo
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.inReplyTo = inReplyTo
        self.messageID = messageID
    }

    public init(header: MessageHeader) {
        date = header.first("Date")
        subject = header.first("Subject")
        from = header.first("From").map { MessageAddress.parseList($0) } ?? []
        // RFC 3501 §7.4.2: Sender and Reply-To default to From.
        let sender = header.first("Sender").map { MessageAddress.parseList($0) } ?? []
        self.sender = sender.isEmpty ? from : sender
        let replyTo = header.first("Reply-To").map { MessageAddress.parseList($0) } ?? []
        self.replyTo = replyTo.isEmpty ? from : replyTo
        to = header.first("To").map { MessageAddress.parseList($0) } ?? []
        cc = header.first("Cc").map { MessageAddress.parseList($0) } ?? []
        bcc = header.first("Bcc").map { MessageAddress.parseList($0) } ?? []
        inReplyTo = header.first("In-Reply-To")
        messageID = header.first("Message-ID")
    }
}

/// One MIME part as IMAP's BODYSTRUCTURE describes it (RFC 3501 §7.4.2), plus where its
/// header and body lie in the message, so a FETCH of any section slices the stored bytes
/// without parsing them again.
public struct BodyPart: Codable, Hashable, Sendable {
    /// Lower-case media type and subtype: `text`, `plain`.
    public var type: String
    public var subtype: String
    /// Content-Type parameters as `[name, value]` pairs, names lower-cased, RFC 2231 decoded.
    public var parameters: [[String]]
    public var id: String?
    public var description: String?
    /// Content-Transfer-Encoding, lower-case; `7bit` when absent.
    public var encoding: String
    public var md5: String?
    public var disposition: String?
    public var dispositionParameters: [[String]]
    public var language: [String]
    public var location: String?
    /// Offset of the part's header in the message.
    public var headerOffset: Int
    /// Offset of the part's body (after the empty line) in the message.
    public var bodyOffset: Int
    /// Octets in the body.
    public var bodySize: Int
    /// Lines in the body.
    public var lines: Int
    /// Children of a multipart, or the single body of a message/rfc822.
    public var parts: [BodyPart]
    /// For message/rfc822: the embedded message's envelope.
    public var envelope: Envelope?

    public init(type: String, subtype: String, parameters: [[String]], id: String?, description: String?, encoding: String,
                md5: String?, disposition: String?, dispositionParameters: [[String]], language: [String], location: String?,
                headerOffset: Int, bodyOffset: Int, bodySize: Int, lines: Int, parts: [BodyPart], envelope: Envelope?) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
        self.id = id
        self.description = description
        self.encoding = encoding
        self.md5 = md5
        self.disposition = disposition
        self.dispositionParameters = dispositionParameters
        self.language = language
        self.location = location
        self.headerOffset = headerOffset
        self.bodyOffset = bodyOffset
        self.bodySize = bodySize
        self.lines = lines
        self.parts = parts
        self.envelope = envelope
    }

    public var isMultipart: Bool { type == "multipart" }
    public var isMessage: Bool { type == "message" && (subtype == "rfc822" || subtype == "global") && envelope != nil }

    public func parameter(_ name: String) -> String? {
        parameters.first { $0.first == name }?.last
    }
}

/// What is known of a message once it has been parsed: stored with it, so no gateway parses it again.
public struct MessageSummary: Codable, Hashable, Sendable {
    public var envelope: Envelope
    public var body: BodyPart
    /// Octets of the top-level header, through the empty line.
    public var headerSize: Int
    public var size: Int
    /// The Subject with encoded words decoded, for searching and listing.
    public var subjectText: String?
    /// The Date header as seconds since 1970, when it can be read.
    public var sentDate: Int64?
    /// True when a limit stopped the parser before the end of the structure.
    public var truncated: Bool
    /// RFC 8970 PREVIEW text, worked out once when the message is stored (`withPreview`); nil
    /// for summaries stored before it was kept.
    public var preview: String?
    /// The message id at the root of its conversation: the first in References, else
    /// In-Reply-To's, else its own Message-ID (without `<>`); what RFC 8474 THREADID is drawn
    /// from. nil when none is there, or for summaries stored before it was kept.
    public var threadRoot: String?

    public init(envelope: Envelope, body: BodyPart, headerSize: Int, size: Int, subjectText: String?, sentDate: Int64?,
                truncated: Bool) {
        self.envelope = envelope
        self.body = body
        self.headerSize = headerSize
        self.size = size
        self.subjectText = subjectText
        self.sentDate = sentDate
        self.truncated = truncated
    }

    /// The conversation's root as `threadRoot` has it, or, for a summary stored before that was
    /// kept, as near as the envelope tells (In-Reply-To, else Message-ID).
    public var conversationRoot: String? {
        threadRoot ?? [envelope.inReplyTo, envelope.messageID].lazy.compactMap { $0.flatMap(Self.firstMessageID) }.first
    }

    /// The first `<id>` in a header value, without its brackets.
    public static func firstMessageID(_ value: String) -> String? {
        guard let open = value.firstIndex(of: "<"), let close = value[open...].firstIndex(of: ">") else { return nil }
        let inside = value[value.index(after: open)..<close]
        // Almost every id is printable ASCII with no white space in it: taken as it is.
        let id = inside.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) ? String(inside) : inside.filter { !$0.isWhitespace }
        return id.isEmpty || id.utf8.count > 998 ? nil : id
    }
}
