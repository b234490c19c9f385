import Crypto
import EventLog
import Foundation

/// A large APPEND message literal as it arrives: written to a spool file in pieces, its line
/// endings made CRLF on the way (a literal8 keeps its bytes), hashed as it goes. The session
/// holds at most one write buffer of it, however large the message.
final class IMAPAppendSpool {
    struct Spooled {
        let path: String
        let blob: BlobID
        let size: Int64
        /// Whether a NUL octet arrived (such a message needs `BinaryContent`).
        let containsNUL: Bool
    }

    let path: String
    let binary: Bool
    private var file: FileHandle?
    private var hasher = SHA256()
    private var buffer: [UInt8] = []
    private var size: Int64 = 0
    private var containsNUL = false
    /// A CR whose LF (if any) has not arrived yet.
    private var pendingCR = false
    /// The first failure writing the file; the rest of the literal is then read and dropped.
    private(set) var failure: (any Error)?
    private var handedOff = false
    static let bufferSize = 256 * 1024

    init(directory: String, name: String, binary: Bool) {
        path = directory + "/" + name
        self.binary = binary
        buffer.reserveCapacity(Self.bufferSize)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteUnknown) }
            file = handle
        } catch {
            failure = error
        }
    }

    deinit { discard() }

    func append(_ bytes: ArraySlice<UInt8>) {
        guard failure == nil else { return }
        if !containsNUL && bytes.contains(0) { containsNUL = true }
        if binary {
            buffer.append(contentsOf: bytes)
        } else {
            for byte in bytes { normalise(byte) }
        }
        if buffer.count >= Self.bufferSize { write() }
    }

    /// Bare CR and bare LF become CRLF, as for a literal kept in memory.
    private func normalise(_ byte: UInt8) {
        if pendingCR {
            pendingCR = false
            buffer.append(0x0D)
            buffer.append(0x0A)
            if byte == 0x0A { return }
        }
        switch byte {
        case 0x0D: pendingCR = true
        case 0x0A: buffer += [0x0D, 0x0A]
        default: buffer.append(byte)
        }
    }

    private func write() {
        guard !buffer.isEmpty, let file else { return }
        do {
            try file.write(contentsOf: buffer)
            hasher.update(data: buffer)
            size += Int64(buffer.count)
        } catch {
            failure = error
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// The whole message on disk; the caller owns the file from here on.
    func finish() throws -> Spooled {
        if pendingCR {
            pendingCR = false
            buffer += [0x0D, 0x0A]
        }
        write()
        if let failure { throw failure }
        try file?.close()
        file = nil
        handedOff = true
        return Spooled(path: path, blob: BlobID(digest: Array(hasher.finalize())), size: size, containsNUL: containsNUL)
    }

    /// Drops the file (unless `finish` handed it off).
    func discard() {
        try? file?.close()
        file = nil
        if !handedOff {
            handedOff = true
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
