import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Who may read a sealed message body: a mail user, whose key erasing the user destroys, or
/// the server's transit holder, for mail on its way to other servers and to the agents that
/// answer it.
public enum BlobHolder: Hashable, Sendable, CustomStringConvertible {
    case user(String)
    case transit

    /// The holder's name in `keystore.holder_keys`.
    public var description: String {
        switch self {
        case .user(let name): "user:\(name.lowercased())"
        case .transit: "transit"
        }
    }
}

/// A stored body that an append gives one more holder (a message filed into a user's folder
/// from a body stored earlier).
public struct BlobGrant: Hashable, Sendable {
    public let blob: BlobID
    public let holder: BlobHolder

    public init(_ blob: BlobID, to holder: BlobHolder) {
        self.blob = blob
        self.holder = holder
    }
}

/// A body's data key wrapped for one holder, as `keystore.blob_keys` keeps it.
struct BlobWrap: Hashable, Sendable {
    let blob: BlobID
    let keyID: UUID
    let wrapped: [UInt8]
}

/// The keys that seal message bodies (migrations/0007_keystore.sql).
///
/// A body's data key is derived from the body itself (SHA-256 under its own label, unrelated to
/// the body's address): whoever stores the same bytes again derives the same key, so a body
/// stays stored once however many messages carry it, and nobody derives the key without the
/// bytes. The key is kept only wrapped, once per holder, under the holder's random key; holder
/// keys are sealed under the server key in the key directory. Destroying a holder's key leaves
/// every body only that holder could open unreadable, the server included.
public final class KeyStore: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        /// The holder key was sealed with another server key than the one in the key directory.
        case otherServerKey(holder: String, serverKey: String)
        /// A sealed row does not open: it was altered.
        case tampered(String)

        public var description: String {
            switch self {
            case .otherServerKey(let holder, let key):
                "the key of \(holder) was sealed with server key \(key), not the key in the key directory"
            case .tampered(let what): "\(what) does not open: its row was altered"
            }
        }
    }

    let keys: KeyDirectory
    let logger: Logger
    private struct Cache {
        var byHolder: [String: (id: UUID, key: SymmetricKey)] = [:]
        var byID: [UUID: SymmetricKey] = [:]
    }
    private let cache = Mutex(Cache())

    public init(keys: KeyDirectory, logger: Logger) {
        self.keys = keys
        self.logger = logger
    }

    // MARK: Holder keys

    /// The holder's key, made on first use.
    func holderKey(_ holder: BlobHolder, via runner: StatementRunner) async throws -> (id: UUID, key: SymmetricKey) {
        let name = holder.description
        if let known = cache.withLock({ $0.byHolder[name] }) { return known }
        if let stored = try await lookUp(name, via: runner) { return stored }
        let server = try keys.secretsKey()
        let id = UUID()
        let fresh = SymmetricKey(size: .bits256)
        let sealed = try fresh.withUnsafeBytes {
            try ChaChaPoly.seal(Array($0), using: server.key, authenticating: Self.holderContext(id: id, holder: name)).combined
        }
        try await runner.query("""
            INSERT INTO keystore.holder_keys (key_id, holder, server_key_id, sealed)
            VALUES (\(id), \(name), \(server.id), \(ByteBuffer(bytes: sealed)))
            ON CONFLICT (holder) DO NOTHING
            """, logger: logger)
        guard let stored = try await lookUp(name, via: runner) else {
            throw Failure.tampered("the key of \(name)")
        }
        return stored
    }

    private func lookUp(_ name: String, via runner: StatementRunner) async throws -> (id: UUID, key: SymmetricKey)? {
        let rows = try await runner.query("""
            SELECT key_id, server_key_id, sealed FROM keystore.holder_keys WHERE holder = \(name)
            """, logger: logger)
        for try await (id, serverKeyID, sealed) in rows.decode((UUID, String, ByteBuffer).self) {
            let key = try unseal(id: id, holder: name, serverKeyID: serverKeyID, sealed: sealed)
            cache.withLock { $0.byHolder[name] = (id, key) }
            return (id, key)
        }
        return nil
    }

    /// A holder key from its row, unsealed once per process.
    func unseal(id: UUID, holder: String, serverKeyID: String, sealed: ByteBuffer) throws -> SymmetricKey {
        if let known = cache.withLock({ $0.byID[id] }) { return known }
        let server = try keys.secretsKey()
        guard serverKeyID == server.id else { throw Failure.otherServerKey(holder: holder, serverKey: serverKeyID) }
        let opened: [UInt8]
        do {
            let box = try ChaChaPoly.SealedBox(combined: Array(sealed.readableBytesView))
            opened = Array(try ChaChaPoly.open(box, using: server.key, authenticating: Self.holderContext(id: id, holder: holder)))
        } catch {
            throw Failure.tampered("the key of \(holder)")
        }
        let key = SymmetricKey(data: opened)
        cache.withLock { $0.byID[id] = key }
        return key
    }

    /// Forgets the data keys this process has at hand, after wraps were deleted, so nothing
    /// erased is opened from memory.
    public func forgetDataKeys() {
        DataKeys.shared.forgetAll()
    }

    /// Forgets every cached holder key: after another process destroyed one, a wrap under it
    /// is refused (its row is gone), and the next append looks the holder up again.
    func forgetHolderKeys() {
        cache.withLock {
            $0.byHolder = [:]
            $0.byID = [:]
        }
    }

    /// Destroys `holder`'s key, and with it every wrap under it, inside the caller's
    /// transaction. Returns the destroyed key's id, nil when the holder had none.
    @discardableResult
    public func destroy(_ holder: BlobHolder, on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.query("""
            DELETE FROM keystore.holder_keys WHERE holder = \(holder.description) RETURNING key_id
            """, logger: logger)
        var destroyed: UUID?
        for try await id in rows.decode(UUID.self) { destroyed = id }
        forgetHolderKeys()
        DataKeys.shared.forgetAll()
        return destroyed
    }

    /// After keys were destroyed, on a connection of the database's owner: rewrites
    /// `keystore.holder_keys` so a destroyed key's row is not left in a data file as a dead
    /// tuple, then closes the current write-ahead log segment and checkpoints, so the segments
    /// still holding what was erased (the key's row, the rows of tables just rebuilt) are no
    /// longer needed and are deleted (the embedded cluster runs with `wal_recycle` off). A step
    /// the role may not take is logged and left to PostgreSQL's own housekeeping.
    public static func retireErased(on connection: PostgresConnection, logger: Logger) async {
        for statement in ["VACUUM (FULL) keystore.holder_keys", "SELECT pg_switch_wal()::text", "CHECKPOINT",
                          "SELECT pg_switch_wal()::text", "CHECKPOINT"] {
            do {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            } catch {
                logger.warning("could not clear what an erasure left behind; PostgreSQL will reuse the space in time",
                               metadata: ["statement": "\(statement)", "error": "\(String(reflecting: error))"])
                return
            }
        }
    }

    static func holderContext(id: UUID, holder: String) -> [UInt8] {
        Array("pillarbox-holder-key-v1\n\(id.uuidString.lowercased())\n\(holder)".utf8)
    }

    // MARK: Data keys

    /// The data key of a body: SHA-256 of a label and the bytes.
    static func dataKey(of bytes: some DataProtocol) -> SymmetricKey {
        var hasher = SHA256()
        hasher.update(data: dataKeyLabel)
        hasher.update(data: bytes)
        return SymmetricKey(data: Array(hasher.finalize()))
    }

    /// The data key of a body stored in a file, read in pieces.
    static func dataKey(ofFile path: String, pieceSize: Int = 1 << 20) throws -> SymmetricKey {
        guard let file = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
        defer { try? file.close() }
        var hasher = SHA256()
        hasher.update(data: dataKeyLabel)
        while let piece = try file.read(upToCount: pieceSize), !piece.isEmpty { hasher.update(data: piece) }
        return SymmetricKey(data: Array(hasher.finalize()))
    }

    private static let dataKeyLabel = Array("pillarbox-blob-key-v1\n".utf8)

    func remember(_ key: SymmetricKey, of blob: BlobID) {
        DataKeys.shared.remember(key, of: blob)
    }

    func rememberedKey(of blob: BlobID) -> SymmetricKey? {
        DataKeys.shared.key(for: blob)
    }

    /// The data key wrapped for the holder key `keyID`.
    static func wrap(_ dataKey: SymmetricKey, of blob: BlobID, keyID: UUID, under holderKey: SymmetricKey) throws -> BlobWrap {
        let sealed = try dataKey.withUnsafeBytes {
            try AES.GCM.seal(Array($0), using: holderKey, authenticating: wrapContext(blob: blob, keyID: keyID)).combined
        }
        guard let sealed else { throw Failure.tampered("a data key wrap") }
        return BlobWrap(blob: blob, keyID: keyID, wrapped: Array(sealed))
    }

    /// The data key of `blob` from a wrap and its holder key's row.
    func unwrap(blob: BlobID, keyID: UUID, holder: String, serverKeyID: String, sealedHolderKey: ByteBuffer,
                wrapped: ByteBuffer) throws -> SymmetricKey {
        if let known = rememberedKey(of: blob) { return known }
        let holderKey = try unseal(id: keyID, holder: holder, serverKeyID: serverKeyID, sealed: sealedHolderKey)
        do {
            let box = try AES.GCM.SealedBox(combined: Array(wrapped.readableBytesView))
            let key = SymmetricKey(data: try AES.GCM.open(box, using: holderKey, authenticating: Self.wrapContext(blob: blob, keyID: keyID)))
            remember(key, of: blob)
            return key
        } catch {
            throw Failure.tampered("the data key of body \(blob.hex) for \(holder)")
        }
    }

    private static func wrapContext(blob: BlobID, keyID: UUID) -> [UInt8] {
        Array("pillarbox-blob-wrap-v1\n\(keyID.uuidString.lowercased())\n".utf8) + blob.bytes
    }

    // MARK: Sealing bodies

    /// A stored piece of a body (the whole of it, or chunk `piece`) sealed under its data key:
    /// nonce, ciphertext and tag, with the body's address and the piece number authenticated.
    static func seal(_ stored: ByteBuffer, of blob: BlobID, piece: Int32, using dataKey: SymmetricKey) throws -> ByteBuffer {
        guard let combined = try AES.GCM.seal(stored.readableBytesView, using: dataKey,
                                              authenticating: pieceContext(blob: blob, piece: piece)).combined else {
            throw Failure.tampered("a body being sealed")
        }
        return ByteBuffer(bytes: combined)
    }

    static func open(_ sealed: ByteBuffer, of blob: BlobID, piece: Int32, using dataKey: SymmetricKey) throws -> ByteBuffer {
        do {
            let box = try AES.GCM.SealedBox(combined: Array(sealed.readableBytesView))
            return ByteBuffer(bytes: try AES.GCM.open(box, using: dataKey, authenticating: pieceContext(blob: blob, piece: piece)))
        } catch {
            throw BlobTampered(blob: blob)
        }
    }

    private static func pieceContext(blob: BlobID, piece: Int32) -> [UInt8] {
        Array("pillarbox-blob-v1\n\(piece)\n".utf8) + blob.bytes
    }
}
