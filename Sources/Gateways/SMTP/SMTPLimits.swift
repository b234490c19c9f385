import Foundation
import MailCore
import Routing
import SMTPWire
import WireCore

/// Every bound the SMTP gateway puts on a client, in one place. Built from the runtime
/// settings at the start of each session (and again at each MAIL FROM), so a change made by
/// an administrator applies to the next transaction.
public struct SMTPLimits: Sendable, Equatable {
    /// RFC 5321 §4.5.3.1.4 sets 512 octets for a command line; RFC 1869 §4.1.2 lets each
    /// extension add to it (SIZE, BODY, RET, ENVID, AUTH, NOTIFY, ORCPT), so allow 2048.
    public var commandLineLength = 2_048
    /// RFC 4954 §4: an AUTH command or response line may be 12288 octets.
    public var authLineLength = 12_288
    /// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF.
    public var textLineLength = 1_000
    /// RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted.
    public var maxRecipients = 500
    /// RFC 1870: the SIZE we advertise and enforce.
    public var maxMessageSize = 50 * 1024 * 1024
    public var maxAuthFailures = 3
    /// Unknown or out-of-sequence commands before the session is closed.
    public var maxErrors = 20
    /// RFC 5321 §4.5.3.2.7: at least 5 minutes.
    public var idleTimeout: Duration = .seconds(300)
    /// More `Received:` lines than this is a loop (RFC 5321 §6.3).
    public var maxHops = 50

    public init() {}
}

/// The policy the session applies, from the runtime settings.
public struct SMTPPolicy: Sendable {
    public var limits = SMTPLimits()
    /// Addresses that may relay without authenticating.
    public var relayNetworks = IPAccessListValue(lines: [])
    public var vrfyEnabled = false
    public var vrfyNetworks = IPAccessListValue(lines: [])
    public var refuseHelo: [String] = []
    public var dsn = true
    /// `smtp.spf_policy`: `off`, `tag` or `reject-fail`.
    public var spfPolicy = "tag"
    /// `smtp.dkim_verify`.
    public var dkimVerify = true
    /// `smtp.dmarc_policy`: `off`, `tag` or `enforce`.
    public var dmarcPolicy = "tag"
    public var authWithoutTLS = false
    public var cramMD5 = false
    public var maxSessions = 200
    public var maxSessionsPerIP = 20
    public var greetingPause: Duration = .zero
    public var neverBlock = IPAccessListValue(lines: [])

    public init() {}
}


/// An access list that keeps the lines it came from (a malformed line denies nothing and
/// allows nothing: settings are checked when they are set).
public struct IPAccessListValue: Sendable {
    public let list: IPAccessList
    public init(lines: [String]) {
        list = (try? IPAccessList.parse(lines).get()) ?? IPAccessList(entries: [])
    }
    public func allows(_ address: String) -> Bool { list.allows(address) }
}
