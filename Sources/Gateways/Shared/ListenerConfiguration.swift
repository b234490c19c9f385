/// The protocol listeners and where each binds; nil disables a listener.
public struct ListenerConfiguration: Sendable, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        /// Incoming mail from other servers (RFC 5321), STARTTLS offered, AUTH optional.
        case smtp
        /// Mail from users' clients (RFC 6409), AUTH required before MAIL.
        case submission
        /// Submission over implicit TLS (RFC 8314).
        case smtps
        /// POP3 with STLS (RFC 1939, RFC 2595).
        case pop3
        /// POP3 over implicit TLS (RFC 8314).
        case pop3s
        /// IMAP with STARTTLS (RFC 9051).
        case imap
        /// IMAP over implicit TLS (RFC 8314).
        case imaps
        /// The web administration pages and JSON API.
        case admin

        /// The standard port, bound on all addresses by default (the admin pages on loopback only).
        public var defaultAddress: ListenAddress {
            switch self {
            case .smtp: ListenAddress(host: "0.0.0.0", port: 25)
            case .submission: ListenAddress(host: "0.0.0.0", port: 587)
            case .smtps: ListenAddress(host: "0.0.0.0", port: 465)
            case .pop3: ListenAddress(host: "0.0.0.0", port: 110)
            case .pop3s: ListenAddress(host: "0.0.0.0", port: 995)
            case .imap: ListenAddress(host: "0.0.0.0", port: 143)
            case .imaps: ListenAddress(host: "0.0.0.0", port: 993)
            case .admin: ListenAddress(host: "127.0.0.1", port: 8080)
            }
        }
    }

    public struct ConflictError: Error, CustomStringConvertible {
        public let first: Kind
        public let second: Kind
        public let address: ListenAddress
        public var description: String {
            "listeners.\(first.rawValue) and listeners.\(second.rawValue) both bind \(address)"
        }
    }

    private var addresses: [Kind: ListenAddress]

    public init(addresses: [Kind: ListenAddress]) {
        self.addresses = addresses
    }

    /// Every listener on its standard port.
    public static var standard: ListenerConfiguration {
        ListenerConfiguration(addresses: Dictionary(uniqueKeysWithValues: Kind.allCases.map { ($0, $0.defaultAddress) }))
    }

    public subscript(kind: Kind) -> ListenAddress? {
        get { addresses[kind] }
        set { addresses[kind] = newValue }
    }

    /// Two listeners may not bind the same address and port (port 0 excepted: each gets its own).
    public func validate() throws(ConflictError) {
        var seen: [ListenAddress: Kind] = [:]
        for kind in Kind.allCases {
            guard let address = addresses[kind], address.port != 0 else { continue }
            if let other = seen[address] { throw ConflictError(first: other, second: kind, address: address) }
            seen[address] = kind
        }
    }
}
