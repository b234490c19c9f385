import Crypto
import EventLog
import Foundation
import MailCore
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

extension SMTPBodySink {
    /// The finished body with `field` put in after its `Return-Path:` line (above the trace
    /// line) and the `removing` ranges of the client's message (offsets from its start) taken
    /// out; its SHA-256, size and head made again. A spooled body is written to a new spool
    /// file and the old one removed.
    static func rewrite(_ finished: SMTPStateMachine.FinishedBody, inserting field: [UInt8],
                        removing: [Range<Int>]) throws -> SMTPStateMachine.FinishedBody {
        var result = finished
        var hasher = SHA256()
        var size = 0
        var head: [UInt8] = []
        /// The client's bytes to keep, as ranges of the client's message.
        func kept(_ count: Int) -> [Range<Int>] {
            var ranges: [Range<Int>] = []
            var cursor = 0
            for range in removing.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                let lower = min(max(range.lowerBound, cursor), count), upper = min(max(range.upperBound, lower), count)
                if lower > cursor { ranges.append(cursor..<lower) }
                cursor = upper
            }
            if cursor < count { ranges.append(cursor..<count) }
            return ranges
        }
        func emit(_ bytes: UnsafeRawBufferPointer, client: Bool, into write: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            hasher.update(bufferPointer: bytes)
            size += bytes.count
            if client && head.count < headLimit { head += bytes.prefix(headLimit - head.count) }
            try write(bytes)
        }
        func copy(_ all: UnsafeRawBufferPointer, write: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            let returnPath = min(finished.returnPathLength, all.count), trace = min(finished.traceLength, all.count)
            try emit(UnsafeRawBufferPointer(rebasing: all[0..<returnPath]), client: false, into: write)
            try field.withUnsafeBytes { try emit($0, client: false, into: write) }
            try emit(UnsafeRawBufferPointer(rebasing: all[returnPath..<trace]), client: false, into: write)
            for range in kept(all.count - trace) {
                // In pieces, so a spooled message is never copied whole.
                var start = trace + range.lowerBound
                while start < trace + range.upperBound {
                    let end = min(start + (1 << 20), trace + range.upperBound)
                    try emit(UnsafeRawBufferPointer(rebasing: all[start..<end]), client: true, into: write)
                    start = end
                }
            }
        }
        switch finished.body {
        case .memory(let bytes):
            var output: [UInt8] = []
            output.reserveCapacity(bytes.count + field.count)
            bytes.withUnsafeBytes { all in copy(all) { output.append(contentsOf: $0) } }
            result.body = .memory(output)
        case .spooled(let path):
            let newPath = path + "-checked"
            guard FileManager.default.createFile(atPath: newPath, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: newPath) else {
                throw CocoaError(.fileWriteUnknown)
            }
            do {
                let file = try MappedFile(path: path)
                try file.withBytes { all in try copy(all) { try handle.write(contentsOf: Data($0)) } }
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                try? FileManager.default.removeItem(atPath: newPath)
                throw error
            }
            try? FileManager.default.removeItem(atPath: path)
            result.body = .spooled(path: newPath)
        }
        result.blob = BlobID(digest: Array(hasher.finalize()))
        result.size = size
        result.head = head
        result.traceLength = finished.traceLength + field.count
        return result
    }
}
