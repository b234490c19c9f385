import Crypto
import Foundation

/// The canonical bytes of a stored event, as `eventlog.event_hash` hashes them in SQL
/// (migrations/0001_event_log.sql); the two definitions must stay identical:
///
///     pillarbox-event-v1 LF event_id LF byte-length ":" stream_key LF stream_version LF type LF
///     type_version LF codec LF dict_id-or-0 LF correlation_id-or-empty LF causation_id-or-empty LF
///     recorded_at-in-microseconds-since-1970 LF payload
///
/// (UUIDs lower-case with hyphens, integers in decimal). Any edit to a stored row changes it.
struct EventContentHash {
    var eventID: UUID
    var streamKey: String
    var streamVersion: Int64
    var type: String
    var typeVersion: Int16
    var codec: Int16
    var dictionaryID: Int32?
    var correlationID: UUID?
    var causationID: UUID?
    var recordedAtMicroseconds: Int64
    var payload: [UInt8]

    var digest: [UInt8] {
        var header = "pillarbox-event-v1\n"
        header += eventID.uuidString.lowercased() + "\n"
        header += "\(streamKey.utf8.count):\(streamKey)\n"
        header += "\(streamVersion)\n\(type)\n\(typeVersion)\n\(codec)\n\(dictionaryID ?? 0)\n"
        header += (correlationID?.uuidString.lowercased() ?? "") + "\n"
        header += (causationID?.uuidString.lowercased() ?? "") + "\n"
        header += "\(recordedAtMicroseconds)\n"
        var hasher = SHA256()
        hasher.update(data: Array(header.utf8))
        hasher.update(data: payload)
        return Array(hasher.finalize())
    }
}

/// One link of the ledger: SHA-256(previous ‖ seq ‖ position ‖ content_hash), integers as
/// 8-byte big-endian, 32 zero bytes before the first link.
package enum LedgerChain {
    package static let genesis = [UInt8](repeating: 0, count: 32)

    package static func link(previous: [UInt8], sequence: Int64, position: Int64, contentHash: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        withUnsafeBytes(of: sequence.bigEndian) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: position.bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: contentHash)
        return Array(hasher.finalize())
    }
}
