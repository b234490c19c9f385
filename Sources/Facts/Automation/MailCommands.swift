import EventLog
import Foundation

/// Where users send mail commands: `mailer_daemon@<any local domain>` (VPOP3's address).
public enum MailCommandAddress {
    public static let localPart = "mailer_daemon"
}

// Owner of the fact below: the mail command agent in `serve` (`Delivery/Automation`). The
// changes a command makes are the directory's own facts (`user_changed`), appended by the
// directory commands in the same transaction.

/// A message to `mailer_daemon@` was read: the command its subject named, the user it acted
/// for, what came of it (`done`, `refused` with the reason, or `not answered` for automatic
/// mail), the answer sent to the sender and the notice sent to the user when they are not the
/// sender. Never a password.
public struct MailCommandAnswered: Event {
    public static let eventType = "mail_command_answered"
    public static let category = "mailcommands"

    public var messageID: String
    public var sender: String
    public var command: String
    public var user: String?
    public var outcome: String
    public var detail: String
    public var replyID: String?
    public var noticeID: String?

    public init(messageID: String, sender: String, command: String, user: String?, outcome: String, detail: String,
                replyID: String?, noticeID: String?) {
        self.messageID = messageID
        self.sender = sender
        self.command = command
        self.user = user
        self.outcome = outcome
        self.detail = detail
        self.replyID = replyID
        self.noticeID = noticeID
    }

    public static func stream(messageID: String) throws -> StreamName {
        try StreamName(category: category, id: messageID)
    }

    enum CodingKeys: String, CodingKey {
        case sender, command, user, outcome, detail
        case messageID = "message_id", replyID = "reply_id", noticeID = "notice_id"
    }
}
