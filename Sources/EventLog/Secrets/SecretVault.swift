import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Reversible secrets (APOP and CRAM-MD5 secrets today; relay, collector and DKIM keys later),
/// sealed with ChaCha20-Poly1305 under the key in the key directory and stored in
/// `vault.secrets`. Events carry a secret's id, never the secret: the log is forever, the vault
/// can be deleted from, and a copy of the database without the key directory reveals nothing.
///
/// The key is read when a secret is first sealed or opened, so a server that never stores one
/// never makes the key.
public struct SecretVault: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        /// The row was sealed with another key than the one in the key directory.
        case otherKey(UUID, String)
        /// The row does not open under the key: it was altered or belongs to another secret.
        case tampered(UUID)

        public var description: String {
            switch self {
            case .otherKey(let id, let key): "secret \(id.uuidString.lowercased()) was sealed with key \(key), not the key in the key directory"
            case .tampered(let id): "secret \(id.uuidString.lowercased()) does not open: its row was altered"
            }
        }
    }

    public let keys: KeyDirectory
    let logger: Logger

    public init(keys: KeyDirectory, logger: Logger) {
        self.keys = keys
        self.logger = logger
    }

    /// Seals `secret` and stores it inside the caller's transaction; returns its id.
    public func store(_ secret: [UInt8], purpose: String, subject: String, on connection: PostgresConnection) async throws -> UUID {
        let key = try keys.secretsKey()
        let id = UUID()
        let box = try ChaChaPoly.seal(secret, using: key.key, authenticating: Self.context(id: id, purpose: purpose, subject: subject))
        try await connection.query("""
            INSERT INTO vault.secrets (secret_id, purpose, subject, key_id, sealed)
            VALUES (\(id), \(purpose), \(subject), \(key.id), \(ByteBuffer(bytes: box.combined)))
            """, logger: logger)
        return id
    }

    /// The secret `id` if it exists and was stored for `purpose` and `subject`; nil when it does not.
    public func open(_ id: UUID, purpose: String, subject: String, client: PostgresClient) async throws -> [UInt8]? {
        let rows = try await client.query("""
            SELECT key_id, sealed FROM vault.secrets WHERE secret_id = \(id) AND purpose = \(purpose) AND subject = \(subject)
            """, logger: logger)
        for try await (keyID, sealed) in rows.decode((String, ByteBuffer).self) {
            let key = try keys.secretsKey()
            guard keyID == key.id else { throw Failure.otherKey(id, keyID) }
            do {
                let box = try ChaChaPoly.SealedBox(combined: Array(sealed.readableBytesView))
                return Array(try ChaChaPoly.open(box, using: key.key,
                                                 authenticating: Self.context(id: id, purpose: purpose, subject: subject)))
            } catch {
                throw Failure.tampered(id)
            }
        }
        return nil
    }

    /// Removes secrets inside the caller's transaction (after the change that stops referring to them).
    public func delete(_ ids: [UUID], on connection: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        try await connection.query("DELETE FROM vault.secrets WHERE secret_id = ANY(\(ids))", logger: logger)
    }

    /// Removes every secret of `subject` inside the caller's transaction.
    public func delete(subject: String, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM vault.secrets WHERE subject = \(subject)", logger: logger)
    }

    /// Associated data: a sealed secret opens only as the row it was sealed for.
    static func context(id: UUID, purpose: String, subject: String) -> [UInt8] {
        Array("pillarbox-secret-v1\n\(id.uuidString.lowercased())\n\(purpose)\n\(subject)".utf8)
    }
}
