import Crypto
import EventLog
import Foundation

/// An API token for the admin's JSON API made (`pillarbox admin token create`): scripts send it
/// as `Authorization: Bearer …` and act as `user`. Only its SHA-256 is kept; the token itself
/// is shown once. Stream `admintoken-<name>`; written by the CLI.
public struct AdminTokenCreated: Event {
    public static let eventType = "admin_token_created"
    public static let category = "admintoken"

    public var name: String
    public var user: String
    /// SHA-256 of the token, hex.
    public var hash: String
    public var actor: String

    public init(name: String, user: String, hash: String, actor: String) {
        self.name = name
        self.user = user
        self.hash = hash
        self.actor = actor
    }

    public static func stream(name: String) throws -> StreamName {
        try StreamName(category: category, id: name.lowercased())
    }

    /// What is kept of a token: its SHA-256, hex.
    public static func hash(of token: String) -> String {
        Array(SHA256.hash(data: Data(token.utf8))).hexString
    }
}

/// An API token withdrawn: requests with it are refused from then on.
public struct AdminTokenRevoked: Event {
    public static let eventType = "admin_token_revoked"
    public static let category = AdminTokenCreated.category

    public var name: String
    public var actor: String

    public init(name: String, actor: String) {
        self.name = name
        self.actor = actor
    }
}
