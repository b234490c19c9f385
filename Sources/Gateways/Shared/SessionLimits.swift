import Synchronization

/// The connection limits of POP3 and IMAP: sessions in total, sessions not logged in yet from
/// one address (what an anonymous client can hold open), and sessions of one user from one
/// address once logged in (Dovecot's `mail_max_userip_connections`).
public final class SessionLimits: Sendable {
    public struct Bounds: Sendable {
        public var total: Int
        public var unauthenticatedPerAddress: Int
        public var perUserAndAddress: Int

        public init(total: Int, unauthenticatedPerAddress: Int, perUserAndAddress: Int) {
            self.total = total
            self.unauthenticatedPerAddress = unauthenticatedPerAddress
            self.perUserAndAddress = perUserAndAddress
        }
    }

    public enum Refusal: Error, Sendable {
        case tooMany
        case tooManyUnauthenticated
        case tooManyForUser
    }

    private struct UserAddress: Hashable {
        let user: String
        let address: String
    }

    private struct State {
        var total = 0
        var unauthenticated: [String: Int] = [:]
        var authenticated: [UserAddress: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// A new connection from `address`, not logged in; a refusal when a bound is reached.
    public func admit(_ address: String, bounds: Bounds) -> Result<Ticket, Refusal> {
        state.withLock { state in
            guard state.total < bounds.total else { return .failure(.tooMany) }
            guard state.unauthenticated[address, default: 0] < bounds.unauthenticatedPerAddress else {
                return .failure(.tooManyUnauthenticated)
            }
            state.total += 1
            state.unauthenticated[address, default: 0] += 1
            return .success(Ticket(limits: self, address: address))
        }
    }

    /// Counts a connection's login: false (and nothing changed) when the user already has
    /// as many sessions from the address as allowed.
    fileprivate func logIn(_ ticket: Ticket, user: String, bound: Int) -> Bool {
        state.withLock { state in
            let key = UserAddress(user: user, address: ticket.address)
            guard state.authenticated[key, default: 0] < bound else { return false }
            state.authenticated[key, default: 0] += 1
            Self.decrement(&state.unauthenticated, ticket.address)
            return true
        }
    }

    /// Counts a connection's logout (RFC 8437 UNAUTHENTICATE): back to its address's
    /// connections not logged in.
    fileprivate func logOut(_ ticket: Ticket, user: String) {
        state.withLock { state in
            Self.decrement(&state.authenticated, UserAddress(user: user, address: ticket.address))
            state.unauthenticated[ticket.address, default: 0] += 1
        }
    }

    fileprivate func release(_ ticket: Ticket, user: String?) {
        state.withLock { state in
            state.total -= 1
            if let user {
                Self.decrement(&state.authenticated, UserAddress(user: user, address: ticket.address))
            } else {
                Self.decrement(&state.unauthenticated, ticket.address)
            }
        }
    }

    private static func decrement<Key: Hashable>(_ table: inout [Key: Int], _ key: Key) {
        let remaining = table[key, default: 1] - 1
        table[key] = remaining > 0 ? remaining : nil
    }

    /// One connection's place: unauthenticated until `logIn`, given back once by `release()`.
    public final class Ticket: Sendable {
        fileprivate let limits: SessionLimits
        let address: String
        private let state = Mutex<(user: String?, released: Bool)>((nil, false))

        fileprivate init(limits: SessionLimits, address: String) {
            self.limits = limits
            self.address = address
        }

        /// Moves the connection to `user`'s count; false when that would exceed `bound`.
        public func logIn(user: String, bound: Int) -> Bool {
            let user = user.lowercased()
            guard state.withLock({ !$0.released && $0.user == nil }) else { return true }
            guard limits.logIn(self, user: user, bound: bound) else { return false }
            state.withLock { $0.user = user }
            return true
        }

        /// Back to not logged in, the connection still open.
        public func logOut() {
            let user = state.withLock { state -> String? in
                guard !state.released, let user = state.user else { return nil }
                state.user = nil
                return user
            }
            if let user { limits.logOut(self, user: user) }
        }

        public func release() {
            let user = state.withLock { state -> String?? in
                guard !state.released else { return .none }
                state.released = true
                return .some(state.user)
            }
            guard case .some(let held) = user else { return }
            limits.release(self, user: held)
        }
    }
}

extension SessionLimits {
    /// Why a new connection was turned away before its greeting.
    enum Turnaway {
        /// The IPS or an administrator blocked the client's address.
        case blocked
        case refused(Refusal)
    }

    /// Admits a new connection, or answers it with `reply` and returns nil: a blocked address
    /// first, then the limits. The ticket is to be released when the session ends.
    func admit(_ connection: GatewayConnection, blocked: Bool, bounds: Bounds,
               reply: (Turnaway) -> [UInt8]) async -> Ticket? {
        if blocked {
            await connection.write(reply(.blocked))
            return nil
        }
        switch admit(connection.clientAddress, bounds: bounds) {
        case .success(let ticket):
            return ticket
        case .failure(let refusal):
            await connection.write(reply(.refused(refusal)))
            return nil
        }
    }
}
