import Commands
import EventLog
import Facts
import Foundation
import IMAPWire
import MailCore
import Projections

/// RFC 4469 CATENATE: a message put together from text sent with the APPEND and IMAP URLs
/// (RFC 5092) of messages, or parts of them, the user may read.
extension IMAPSession {
    enum CatenateFailure: Error {
        case badURL(String)
        case tooBig
    }

    /// The parts joined in order; a URL this user cannot read, or one naming nothing, is BADURL.
    func catenated(_ parts: [IMAPCatenatePart], user: UserRecord) async throws -> Result<[UInt8], CatenateFailure> {
        let limit = limits.literalSize
        var joined: [UInt8] = []
        // The streamed literals are taken in order whatever happens, so a later message of a
        // MULTIAPPEND does not get an earlier one's spool.
        var texts: [[UInt8]] = []
        for part in parts {
            guard case .text(let bytes, let binary, let streamed) = part else { continue }
            if streamed {
                guard !appendSpools.isEmpty else { throw MailStoreError.invalidName("a streamed literal that was not spooled") }
                let spooled = try appendSpools.removeFirst().finish()
                defer { try? FileManager.default.removeItem(atPath: spooled.path) }
                texts.append(Array(try Data(contentsOf: URL(fileURLWithPath: spooled.path))))
            } else {
                texts.append(binary ? bytes : Self.normalisedLineEndings(bytes))
            }
        }
        var nextText = texts.makeIterator()
        for part in parts {
            switch part {
            case .text:
                joined += nextText.next() ?? []
            case .url(let text):
                guard let url = IMAPURL.parse(text), let bytes = try await content(of: url, user: user) else {
                    return .failure(.badURL(text))
                }
                joined += bytes
            }
            if joined.count > limit { return .failure(.tooBig) }
        }
        return .success(joined)
    }

    /// What `url` names, read with `user`'s rights; nil when it names nothing they may read.
    func content(of url: IMAPURL, user: UserRecord) async throws -> [UInt8]? {
        // URLAUTH-authorized URLs are for URLFETCH, not for the user's own reading.
        guard !url.authorized, url.user.map({ $0.lowercased() == user.name.lowercased() || $0.lowercased() == user.id }) ?? true
        else { return nil }
        let owner: String, mailbox: MailboxInfo
        if let name = url.mailbox {
            guard let (location, found) = try await urlMailbox(name, user: user),
                  try await rights(owner: location.owner, mailboxID: found.id, user: user).contains("r") else { return nil }
            owner = location.owner
            mailbox = found
        } else {
            guard let current = selected, current.rights.contains("r") else { return nil }
            owner = current.owner
            mailbox = current.mailbox
        }
        return try await urlContent(url, owner: owner, mailbox: mailbox)?.bytes
    }

    /// The folder a URL names (as `user` names folders), without looking at rights.
    func urlMailbox(_ name: String, user: UserRecord) async throws -> (Location, MailboxInfo)? {
        let stored = name.lowercased() == "inbox" ? "INBOX" : name
        guard let location = locate(stored, user: user),
              let found = try await accounts.mail.reader.mailbox(location.owner, named: location.name) else { return nil }
        return (location, found)
    }

    /// What a URL names in `owner`'s folder: its bytes (a section's, then PARTIAL's), and the body
    /// part when it names a whole part (or message).
    func urlContent(_ url: IMAPURL, owner: String, mailbox: MailboxInfo) async throws -> (bytes: [UInt8], part: BodyPart?)? {
        if let validity = url.uidValidity, validity != mailbox.uidValidity { return nil }
        guard let message = try await accounts.mail.reader.messages(owner, mailboxID: mailbox.id, uids: [url.uid]).first,
              let body = try await accounts.bodies([message.blob])[message.blob],
              let summary = try await accounts.mail.reader.summaries([message.blob])[message.blob] else { return nil }
        var bytes = body
        var part: BodyPart? = summary.body
        if let section = url.section {
            guard let sectionBytes = IMAPRender.section(section, of: body, summary: summary) else { return nil }
            bytes = sectionBytes
            part = section.text == .all ? IMAPRender.part(section.part, in: summary.body) : nil
        }
        if let offset = url.partialOffset {
            let start = min(offset, bytes.count)
            let end = url.partialLength.map { min(start + $0, bytes.count) } ?? bytes.count
            bytes = Array(bytes[start..<end])
            part = nil
        }
        return (bytes, part)
    }
}
