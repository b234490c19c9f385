/// Why a mailbox command was refused; the gateways turn each case into their protocol's reply.
public enum MailStoreError: Error, Equatable, CustomStringConvertible {
    case noSuchAccount(String)
    case accountExists(String)
    case noSuchMailbox(String)
    case mailboxExists(String)
    case notSelectable(String)
    case invalidName(String)
    case cannotDeleteInbox
    case hasChildren(String)
    case sameMailbox
    /// A message body the log does not hold.
    case noSuchBody(String)

    public var description: String {
        switch self {
        case .noSuchAccount(let user): "no mail account for \(user)"
        case .accountExists(let user): "\(user) already has a mail account"
        case .noSuchMailbox(let name): "no mailbox named \(name)"
        case .mailboxExists(let name): "mailbox \(name) already exists"
        case .notSelectable(let name): "mailbox \(name) cannot hold messages"
        case .invalidName(let name): "not a valid mailbox name: \(name)"
        case .cannotDeleteInbox: "INBOX cannot be deleted"
        case .hasChildren(let name): "mailbox \(name) has children and holds no messages"
        case .sameMailbox: "source and target are the same mailbox"
        case .noSuchBody(let blob): "no stored body \(blob)"
        }
    }
}
