import Facts
import Foundation
import Gateways
import Hummingbird
import NIOCore
import Synchronization

/// What a request to the admin listener carries besides itself: the client's address and,
/// once the authentication middleware has seen it, who is acting and how.
public struct AdminRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address as text.
    public let clientIP: String
    /// The user acting, when the request proved one.
    public var user: UserRecord?
    /// The session the request came with (a cookie), nil with a bearer token.
    public var session: AdminSessions.Session?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientIP = source.channel.remoteAddress?.ipAddress ?? ""
    }

    /// Bodies larger than this are refused with 413 (CSV uploads are the largest).
    public var maxUploadSize: Int { 16 * 1024 * 1024 }

    /// How a change made through this request is attributed in the log: the acting user and
    /// where they came from.
    public var actor: String {
        "admin:\(user?.name ?? "?") from \(clientIP)"
    }
}

/// Logged-in browser sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, with a
/// CSRF token every state-changing request must echo in `X-CSRF-Token`. Kept in this
/// process; they end after `lifetime` without use or at logout.
public final class AdminSessions: Sendable {
    public struct Session: Sendable {
        public let id: String
        public let user: String
        public let csrf: String
        var lastUse: Date
    }

    public static let cookieName = "pillarbox_session"
    let lifetime: TimeInterval
    private let sessions = Mutex<[String: Session]>([:])

    public init(lifetime: TimeInterval = 8 * 3_600) {
        self.lifetime = lifetime
    }

    func start(user: String, now: Date = Date()) -> Session {
        let session = Session(id: Self.random(), user: user, csrf: Self.random(), lastUse: now)
        sessions.withLock { table in
            table = table.filter { now.timeIntervalSince($0.value.lastUse) < lifetime }
            table[session.id] = session
        }
        return session
    }

    func session(_ id: String, now: Date = Date()) -> Session? {
        sessions.withLock { table in
            guard var session = table[id] else { return nil }
            guard now.timeIntervalSince(session.lastUse) < lifetime else {
                table[id] = nil
                return nil
            }
            session.lastUse = now
            table[id] = session
            return session
        }
    }

    func end(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// 256 random bits.
    static func random() -> String {
        RandomText.hex(64)
    }
}
