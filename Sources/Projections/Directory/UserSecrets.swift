import EventLog
import Facts
import Foundation

/// The sealed secrets of users, opened for a login: the CRAM-MD5 context and the APOP
/// password, each read from the vault by the id the user's record carries.
public struct UserSecrets: Sendable {
    let vault: SecretVault
    let engine: ProjectionEngine

    public init(vault: SecretVault, engine: ProjectionEngine) {
        self.vault = vault
        self.engine = engine
    }

    /// `user`'s credentials with the CRAM-MD5 context filled in; nil when the user has none.
    public func withCRAMMD5Context(_ user: UserRecord) async throws -> Credentials? {
        guard var credentials = user.credentials, let id = credentials.cramMD5Secret,
              let context = try await vault.open(id, purpose: Credentials.cramMD5Purpose, subject: user.id, client: engine.client)
        else { return nil }
        credentials.cramMD5Context = context.hexString
        return credentials
    }

    /// `user`'s password as kept for APOP; nil when the user has none.
    public func apopPassword(_ user: UserRecord) async throws -> [UInt8]? {
        guard user.apopEnabled, let id = user.credentials?.apopSecret else { return nil }
        return try await vault.open(id, purpose: Credentials.apopPurpose, subject: user.id, client: engine.client)
    }
}

extension Array where Element == UInt8 {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
