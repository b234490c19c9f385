import EventLog
import Foundation

/// Which mail of a kind message monitoring copies (VPOP3's All / Selected / None): `selected`
/// is mail of the users in `monitoring.users`.
public enum MonitoringMode: String, Codable, Sendable, CaseIterable {
    case none, all, selected
}

/// The kinds of mail monitoring tells apart: from outside to a local user, from a local user to
/// outside, and between local users. One message can be outgoing and internal at once.
public enum MonitoredKind: String, Codable, Sendable, CaseIterable {
    case incoming, outgoing, `internal`
}

// Owner of the facts below: the monitoring agent in `serve` (`Delivery/Automation`).

/// Message monitoring copied message `messageID`: copy `copyID` (accepted in the same
/// transaction) went to `recipients` — the monitor target, and the random sample's recipient
/// when the draw (`sampled`) chose it. `users` are the local users the message was attributed
/// to: its sender (by SMTP AUTH, else by a local `From:`) and its local recipients.
public struct MessageMonitored: Event {
    public static let eventType = "message_monitored"
    public static let category = "monitoring"

    public var messageID: String
    public var kinds: [MonitoredKind]
    public var users: [String]
    public var copyID: String
    public var recipients: [String]
    public var sampled: Bool

    public init(messageID: String, kinds: [MonitoredKind], users: [String], copyID: String, recipients: [String], sampled: Bool) {
        self.messageID = messageID
        self.kinds = kinds
        self.users = users
        self.copyID = copyID
        self.recipients = recipients
        self.sampled = sampled
    }

    public static func stream(messageID: String) throws -> StreamName {
        try StreamName(category: category, id: messageID)
    }

    enum CodingKeys: String, CodingKey {
        case kinds, users, recipients, sampled
        case messageID = "message_id", copyID = "copy_id"
    }
}

// Owner: the receipt agent in `serve` (`Delivery/Automation`).

/// A transmission receipt (VPOP3's, for outgoing mail carrying a receipt request) went to the
/// sender of message `messageID`: message `receiptID`, accepted in the same transaction, says
/// that `recipients` were handed to the receiving server.
public struct TransmissionReceiptSent: Event {
    public static let eventType = "transmission_receipt_sent"
    public static let category = "receipts"

    public var messageID: String
    public var recipients: [String]
    public var receiptID: String

    public init(messageID: String, recipients: [String], receiptID: String) {
        self.messageID = messageID
        self.recipients = recipients
        self.receiptID = receiptID
    }

    public static func stream(messageID: String) throws -> StreamName {
        try StreamName(category: category, id: messageID)
    }

    enum CodingKeys: String, CodingKey {
        case recipients
        case messageID = "message_id", receiptID = "receipt_id"
    }
}
