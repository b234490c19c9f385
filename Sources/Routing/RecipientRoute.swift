import Facts

/// Where a recipient goes, as the directory and the relay rules decide.
public enum RecipientRoute: Sendable, Equatable {
    case local(user: String)
    /// A list of the directory (by lower-case name): its members get the message.
    case list(String)
    /// The ListServer (`lists.listserver_name`): commands for the list agent.
    case listServer
    /// `mailer_daemon@`: mail commands (Set Forwarding, …) for the mail command agent.
    case mailCommands
    /// Accepted and thrown away (an alias to `No-one`).
    case discard
    case remote
    /// LAN forwarding (a rule, or a list member's inline `SMTP:` target): to `target`'s
    /// server, addressed to `address` (the recipient after the rule's rewriting).
    case lan(LANTarget, address: String)
    /// An address this server made with SRS when it forwarded a message (a bounce or reply to
    /// it): on to the original sender, `address`.
    case senderReturn(address: String)
    /// A local domain with no such user, alias or list.
    case unknownLocal
    /// A remote address from a client that may not relay.
    case relayDenied
    /// An authenticated user without "may send internet mail".
    case internetMailNotAllowed
}

/// Who is sending, as far as the relay rules care.
public struct RouteSender: Sendable {
    /// The authenticated user's name and whether they may send internet mail; nil when the
    /// client did not authenticate.
    public var user: (name: String, maySendInternetMail: Bool)?
    /// The client's address is in `smtp.relay_networks`.
    public var inRelayNetworks: Bool

    public init(user: (name: String, maySendInternetMail: Bool)?, inRelayNetworks: Bool) {
        self.user = user
        self.inRelayNetworks = inRelayNetworks
    }

    /// An authenticated user who may send internet mail, or a client in the relay networks.
    public var mayRelay: Bool {
        if let user { return user.maySendInternetMail }
        return inRelayNetworks
    }
}
