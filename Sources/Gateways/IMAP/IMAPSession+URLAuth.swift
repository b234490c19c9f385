import Commands
import Crypto
import EventLog
import Facts
import Foundation
import IMAPWire
import MailCore
import Projections

/// RFC 4467 URLAUTH (with RFC 5524 URLAUTH=BINARY): GENURLAUTH turns a URL of the user's own
/// message into one others may fetch, signed with the INTERNAL mechanism; URLFETCH reads such
/// URLs for whoever their access identifier admits; RESETKEY voids them.
///
/// The token is an HMAC-SHA256 of the rump URL under the folder's access key, itself an HMAC
/// of the owner, the folder and its UIDVALIDITY, and the latest RESETKEY nonces, under a key
/// derived from the key directory: no key is ever stored, and a reset only appends a nonce.
extension IMAPSession {
    func urlauthCommand(_ command: IMAPCommand, user: UserRecord) async throws {
        let tag = command.tag
        guard let secret = accounts.urlauthKey else {
            tagged(tag, "BAD URLAUTH is not offered")
            return
        }
        switch command.kind {
        case .genURLAuth(let requests):
            var made: [String] = []
            for request in requests {
                guard request.mechanism == "INTERNAL" else {
                    tagged(tag, "NO Only the INTERNAL mechanism is offered")
                    return
                }
                guard let url = IMAPURL.parse(request.url), let authorization = url.authorization, authorization.mechanism == nil,
                      url.user.map({ $0.lowercased() == user.id || $0.lowercased() == user.name.lowercased() }) == true,
                      let name = url.mailbox, let (location, mailbox) = try await urlMailbox(name, user: user),
                      location.owner == user.id,
                      try await urlContent(url, owner: user.id, mailbox: mailbox) != nil,
                      let token = try await token(authorization.rump, owner: user.id, mailbox: mailbox, secret: secret) else {
                    tagged(tag, "NO [BADURL \(request.url)] Not a URL of one of your messages to authorize")
                    return
                }
                made.append(String(decoding: IMAPText.string(authorization.rump + ":INTERNAL:" + token), as: UTF8.self))
            }
            untagged("GENURLAUTH " + made.joined(separator: " "))
            tagged(tag, .completed("GENURLAUTH"))
        case .resetKey(let name):
            var mailboxID: Int64?
            if let name {
                guard let stored = storedName(name), let location = locate(stored, user: user), location.owner == user.id,
                      let mailbox = try await accounts.mail.reader.mailbox(user.id, named: location.name) else {
                    tagged(tag, .noSuchMailbox)
                    return
                }
                mailboxID = mailbox.id
            }
            try await accounts.mail.resetURLAuthKey(user: user.id, mailboxID: mailboxID)
            tagged(tag, .completed("RESETKEY"))
        case .urlFetch(let fetches):
            for fetch in fetches {
                let shown = String(decoding: IMAPText.string(fetch.url), as: UTF8.self)
                guard let (bytes, part) = try await authorizedContent(fetch.url, user: user, secret: secret) else {
                    untagged("URLFETCH \(shown) NIL")
                    continue
                }
                guard let parameters = fetch.parameters else {
                    output += Array("* URLFETCH \(shown) ".utf8) + IMAPText.literal(bytes) + [0x0D, 0x0A]
                    continue
                }
                var items: [[UInt8]] = []
                let decoded = parameters.contains(.binary) ? part.flatMap { IMAPRender.decoded(bytes, encoding: $0.encoding) } : nil
                if parameters.contains(.bodyPartStructure) {
                    // With BINARY, the part as it is sent: decoded, its size the decoded one (lines
                    // are not counted in decoded content, as Dovecot reports them).
                    var described = part
                    if let decoded {
                        described?.encoding = decoded.allSatisfy { $0 != 0 && $0 < 0x80 } ? "7bit" : "binary"
                        described?.bodySize = decoded.count
                        described?.lines = 0
                    }
                    items.append(Array("(BODYPARTSTRUCTURE ".utf8) + (described.map { IMAPRender.bodyStructure($0, extended: true) } ?? Array("NIL".utf8))
                                 + [UInt8(ascii: ")")])
                }
                if parameters.contains(.binary) {
                    let value = decoded.map { $0.contains(0) ? Array("~{\($0.count)}\r\n".utf8) + $0 : IMAPText.literal($0) }
                    items.append(Array("(BINARY ".utf8) + (value ?? Array("NIL".utf8)) + [UInt8(ascii: ")")])
                } else if parameters.contains(.body) {
                    items.append(Array("(BODY ".utf8) + IMAPText.literal(bytes) + [UInt8(ascii: ")")])
                }
                output += Array("* URLFETCH \(shown)".utf8) + items.flatMap { [0x20] + $0 } + [0x0D, 0x0A]
            }
            tagged(tag, .completed("URLFETCH"))
        default:
            break
        }
    }

    /// The token for `rump` in `owner`'s folder; nil when the folder's key cannot be read.
    func token(_ rump: String, owner: String, mailbox: MailboxInfo, secret: SymmetricKey) async throws -> String? {
        let nonces = try await accounts.mail.reader.urlauthNonces(owner, mailboxID: mailbox.id)
        let material = "\(owner)\n\(mailbox.id)\n\(mailbox.uidValidity)\n\(nonces.account)\n\(nonces.mailbox)"
        let accessKey = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(material.utf8), using: secret)))
        return HMAC<SHA256>.authenticationCode(for: Array(rump.utf8), using: accessKey).hexString
    }

    /// What an authorized URL names, when its token is right, it has not expired, its access
    /// identifier admits `user`, and its owner may still read the folder; nil otherwise.
    func authorizedContent(_ text: String, user: UserRecord, secret: SymmetricKey) async throws -> (bytes: [UInt8], part: BodyPart?)? {
        guard let url = IMAPURL.parse(text), let authorization = url.authorization, authorization.mechanism == "INTERNAL",
              let given = authorization.token, let ownerName = url.user, let name = url.mailbox else { return nil }
        if let expire = authorization.expire, expire <= accounts.clock() { return nil }
        let access = authorization.access
        let admitted = access == "anonymous" || access == "authuser"
            || (access.hasPrefix("user+") && access.dropFirst(5).lowercased() == user.id)
        guard admitted, let owner = accounts.directory.snapshot.users[ownerName.lowercased()] else { return nil }
        // The folder as the URL's owner names it, read with the owner's rights.
        guard let (location, mailbox) = try await urlMailbox(name, user: owner),
              try await rights(owner: location.owner, mailboxID: mailbox.id, user: owner).contains("r"),
              location.owner == owner.id,
              let expected = try await token(authorization.rump, owner: owner.id, mailbox: mailbox, secret: secret),
              Array(expected.utf8).count == Array(given.utf8).count,
              zip(expected.utf8, given.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
        return try await urlContent(url, owner: location.owner, mailbox: mailbox)
    }
}
