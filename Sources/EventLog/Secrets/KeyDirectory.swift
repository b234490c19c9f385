import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The keys Pillarbox keeps outside the database, each in a file only its user can read, so a
/// copy of the database alone (a dump, a stolen backup, a role that can read every table)
/// reveals no sealed secret and cannot re-sign the ledger:
///
///     DIR/secrets.key          32 random bytes: seals secrets in `vault.secrets` (ChaCha20-Poly1305)
///     DIR/ledger-signing.key   32 bytes: the Ed25519 key that signs the ledger's chain heads
///
/// Each key is made the first time it is needed, by whichever process needs it first (the file
/// is linked into place, so two processes starting together end up with the same key), and never
/// changes after. Losing `secrets.key` loses the secrets sealed with it; back it up apart from
/// the database.
public struct KeyDirectory: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var secretsKeyPath: String { path + "/secrets.key" }
    public var ledgerKeyPath: String { path + "/ledger-signing.key" }

    /// The key that seals secrets, made on first use.
    public func secretsKey() throws -> SecretsKey {
        SecretsKey(SymmetricKey(data: try bytes(at: secretsKeyPath, create: true)))
    }

    /// A key for one purpose (`pillarbox srs`), derived from the secrets key with HKDF: the
    /// same for every process sharing the key directory, never stored.
    public func derivedKey(_ purpose: String) throws -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: try secretsKey().key, info: Array(purpose.utf8), outputByteCount: 32)
    }

    /// The ledger's signing key, made on first use.
    public func ledgerSigningKey() throws -> Curve25519.Signing.PrivateKey {
        do {
            return try Curve25519.Signing.PrivateKey(rawRepresentation: try bytes(at: ledgerKeyPath, create: true))
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(message: "\(ledgerKeyPath) does not hold an Ed25519 key: \(error)")
        }
    }

    /// The ledger's public key when its signing key exists here; nil otherwise.
    public func ledgerPublicKey() throws -> Curve25519.Signing.PublicKey? {
        guard FileManager.default.fileExists(atPath: ledgerKeyPath) else { return nil }
        return try ledgerSigningKey().publicKey
    }

    /// The 32 bytes in `file`, making the file with fresh random bytes when `create` and it is missing.
    private func bytes(at file: String, create: Bool) throws -> [UInt8] {
        if let existing = try read(file) { return existing }
        guard create else { throw Failure(message: "\(file) is missing") }
        try makeDirectory()
        var fresh = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in fresh.indices { fresh[index] = generator.next() }
        let temporary = "\(file).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(message: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = fresh.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        defer { unlink(temporary) }
        guard written == 32, synced == 0 else { throw Failure(message: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        // link() fails when the name exists: the first process to get here wins, the others read its key.
        if link(temporary, file) != 0 && errno != EEXIST {
            throw Failure(message: "cannot create \(file): \(String(cString: strerror(errno)))")
        }
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        guard let stored = try read(file) else { throw Failure(message: "\(file) vanished after it was made") }
        return stored
    }

    private func read(_ file: String) throws -> [UInt8]? {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            throw Failure(message: "cannot read \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw Failure(message: "cannot read \(file): \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure(message: "\(file) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        var buffer = [UInt8](repeating: 0, count: 33)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count == 32 else { throw Failure(message: "\(file) must hold exactly 32 bytes") }
        return Array(buffer.prefix(32))
    }

    private func makeDirectory() throws {
        var info = stat()
        if stat(path, &info) == 0 { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            if stat(path, &info) == 0 { return }
            throw Failure(message: "cannot create the key directory \(path): \(error)")
        }
    }
}

/// The key that seals secrets, with a short id naming it in each sealed row.
public struct SecretsKey: Sendable {
    let key: SymmetricKey
    /// The first 8 bytes of SHA-256 of the key, hex: tells which key sealed a row without revealing it.
    public let id: String

    init(_ key: SymmetricKey) {
        self.key = key
        let digest = key.withUnsafeBytes { SHA256.hash(data: Array("pillarbox-secrets-key".utf8) + Array($0)) }
        id = Array(digest.prefix(8)).hexString
    }
}
