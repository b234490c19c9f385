import Facts
import Foundation
import Gateways
import HTTPTypes
import Hummingbird
import Projections

/// Finds who a request acts as: a bearer token (`admin.tokens`) or a session cookie. A
/// state-changing request on a session must carry the session's CSRF token in
/// `X-CSRF-Token` (a bearer token cannot be sent by another site, a cookie can).
struct AdminAuthentication: RouterMiddleware {
    typealias Context = AdminRequestContext
    let sessions: AdminSessions
    let engine: ProjectionEngine
    let directory: LiveDirectory

    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") {
            let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty, token.count <= 256,
                  let name = try await AdminTokensProjection.user(forHash: AdminTokenCreated.hash(of: token), engine: engine),
                  let user = directory.snapshot.users[name.lowercased()], !user.lockedOut else {
                throw Problem.unauthorized
            }
            context.user = user
        } else if let id = request.cookies[AdminSessions.cookieName]?.value, let session = sessions.session(id),
                  let user = directory.snapshot.users[session.user.lowercased()], !user.lockedOut {
            // The login form is the one change made before a session exists.
            if ![.get, .head, .options].contains(request.method) && request.uri.path != "/login" {
                guard request.headers[Self.csrfHeader] == session.csrf else {
                    throw Problem(.forbidden, "the request has no valid CSRF token", field: "X-CSRF-Token")
                }
            }
            context.user = user
            context.session = session
        }
        return try await next(request, context)
    }
}

/// Lets through requests that act as a user (401 otherwise) and, with `adminOnly`, only
/// administrators (403).
struct RequireUser: RouterMiddleware {
    typealias Context = AdminRequestContext
    let adminOnly: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let user = context.user else { throw Problem.unauthorized }
        if adminOnly && !user.admin { throw Problem.forbidden }
        return try await next(request, context)
    }
}
