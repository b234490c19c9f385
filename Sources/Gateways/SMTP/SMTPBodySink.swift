import Crypto
import EventLog
import Foundation
import Routing
import SMTPWire
import WireCore

/// A message body as the session hands it to the backend.
public enum SMTPMessageBody: Sendable {
    /// Small enough to keep: the stored bytes.
    case memory([UInt8])
    /// Spooled to a file (trace lines first) while it arrived; the backend stores it from there
    /// piece by piece and removes the file.
    case spooled(path: String)
}

/// Collects a message as it arrives: the trace lines (`Return-Path:`, `Received:`, fixed when the
/// body starts), then the client's bytes. Up to `memoryLimit` bytes stay in memory; past that
/// everything goes to a spool file, so a large message is never held whole. The SHA-256 that
/// names the stored body runs as the bytes arrive.
final class SMTPBodySink {
    let messageID: String
    let traceLength: Int
    /// Bytes of the `Return-Path:` line at the start.
    let returnPathLength: Int
    let memoryLimit: Int
    let spoolDirectory: String?
    /// The first bytes of the client's message, for checks on its header section.
    private(set) var head: [UInt8] = []
    static let headLimit = 256 * 1024

    private var hasher = SHA256()
    private var memory: [UInt8]
    private var file: FileHandle?
    private var path: String?
    private(set) var size: Int
    /// Whether any NUL octet arrived.
    private(set) var containsNUL = false

    init(messageID: String, trace: [UInt8], returnPathLength: Int, memoryLimit: Int, spoolDirectory: String?) {
        self.messageID = messageID
        self.returnPathLength = returnPathLength
        self.traceLength = trace.count
        self.memoryLimit = memoryLimit
        self.spoolDirectory = spoolDirectory
        memory = trace
        size = trace.count
        hasher.update(data: trace)
    }

    deinit { discard() }



    func append(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        hasher.update(data: bytes)
        size += bytes.count
        if !containsNUL && bytes.contains(0) { containsNUL = true }
        if head.count < Self.headLimit { head += bytes.prefix(Self.headLimit - head.count) }
        if let file {
            try file.write(contentsOf: bytes)
            return
        }
        memory += bytes
        if memory.count > memoryLimit, let spoolDirectory {
            try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true)
            let path = spoolDirectory + "/" + messageID
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: path) else {
                throw CocoaError(.fileWriteUnknown)
            }
            self.path = path
            file = handle
            try handle.write(contentsOf: memory)
            memory = []
        }
    }

    var blob: BlobID { BlobID(digest: Array(hasher.finalize())) }

    /// The collected body; the sink no longer owns a spool file after this.
    func finish() throws -> SMTPMessageBody {
        if let file, let path {
            try file.synchronize()
            try file.close()
            self.file = nil
            self.path = nil
            return .spooled(path: path)
        }
        defer { memory = [] }
        return .memory(memory)
    }

    /// Drops what was collected (and the spool file).
    func discard() {
        try? file?.close()
        file = nil
        if let path { try? FileManager.default.removeItem(atPath: path) }
        path = nil
        memory = []
    }
}
