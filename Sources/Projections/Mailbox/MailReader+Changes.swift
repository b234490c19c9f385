import EventLog
import Foundation
import MailCore
import PostgresNIO

extension MailReader {
    /// What changed in a folder after `modSeq` (RFC 7162): messages added or whose flags
    /// changed, and UIDs expunged, each with its MODSEQ.
    public struct Changes: Sendable {
        public let messages: [MessageInfo]
        public let expunged: [(uid: UInt32, modSeq: Int64)]
    }

    public func changes(_ user: String, mailboxID: Int64, since modSeq: Int64) async throws -> Changes {
        let user = user.lowercased()
        // One statement, so both halves come from one snapshot.
        let rows = try await engine.client.execute(MailReaderStatements.Changes(user: user, mailbox: mailboxID, modSeq: modSeq),
                                                   logger: logger)
        var messages: [MessageInfo] = []
        var expunged: [(uid: UInt32, modSeq: Int64)] = []
        for try await (uid, changed, flags, date, size, blob) in rows {
            if let flags, let date, let size, let blob {
                messages.append(MessageInfo(uid: UInt32(clamping: uid), modSeq: changed, flags: flags, internalDate: date, size: size,
                                            blob: BlobID(digest: Array(buffer: blob))))
            } else {
                expunged.append((UInt32(clamping: uid), changed))
            }
        }
        return Changes(messages: messages, expunged: expunged)
    }

    /// The parsed summaries (ENVELOPE, BODYSTRUCTURE, dates) of stored bodies.
    public func summaries(_ blobs: [BlobID]) async throws -> [BlobID: MessageSummary] {
        guard !blobs.isEmpty else { return [:] }
        let keys = blobs.map { ByteBuffer(bytes: $0.bytes) }
        return try await engine.client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT blob, size, header_size, subject, extract(epoch FROM sent_at)::bigint, envelope::text, body_structure::text, truncated,
                       preview, thread_root
                FROM mail.message_data WHERE blob = ANY(\(keys))
                """, logger: logger)
            var result: [BlobID: MessageSummary] = [:]
            for try await (blob, size, headerSize, subject, sent, envelope, body, truncated, preview, threadRoot) in rows.decode(
                (ByteBuffer, Int64, Int64, String?, Int64?, String, String, Bool, String?, String?).self
            ) {
                var summary = MessageSummary(envelope: try EventCoding.decode(Envelope.self, from: Array(envelope.utf8)),
                                             body: try EventCoding.decode(BodyPart.self, from: Array(body.utf8)),
                                             headerSize: Int(headerSize), size: Int(size), subjectText: subject,
                                             sentDate: sent, truncated: truncated)
                summary.preview = preview
                summary.threadRoot = threadRoot
                result[BlobID(digest: Array(buffer: blob))] = summary
            }
            return result
        }
    }
}
