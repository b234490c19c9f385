import Crypto
import EventLog
import Foundation
import Projections

/// RFC 8474 OBJECTID: identifiers that come out of the log, so `pillarbox rebuild` gives the
/// same ones. A mailbox's is drawn from its owner, its id within the account (kept across
/// renames) and its UIDVALIDITY (new when a name is used again); a message's is
/// `MessageSearch.emailID`, a thread's `MessageSearch.threadID`.
extension IMAPSession {
    static func mailboxObjectID(user: String, _ mailbox: MailboxInfo) -> String {
        let digest = SHA256.hash(data: Array("\(user.lowercased())/\(mailbox.id)/\(mailbox.uidValidity)".utf8))
        return "F" + digest.prefix(12).map { String(format: "%02x", $0) }.joined()
    }
}
