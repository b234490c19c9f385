import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections

/// Letting go of the server's own copy of mail sent to other servers. A body that goes anywhere
/// but a local folder is also wrapped for the transit holder (EventLog's KeyStore.swift), so
/// the queue runner and the agents can read it. Once none of them needs it, an erasure deletes
/// that wrap: a body no local user holds can then be opened by no one, and the sealed fields of
/// its events (the subject in `message_accepted`) with it.
///
/// A body is let go of only when every queued message carrying it is finished, was chosen
/// (sent before a retention cutoff, or by the user being erased), is past every agent that reads
/// messages after intake, and is not a list post waiting for a moderator. Mail that went only
/// to agents (lists, command addresses) and never to the queue is not covered.
public struct TransitRelease: Sendable {
    /// A queued message whose body the transit holder keeps readable.
    public struct SentMessage: Sendable {
        public let messageID: String
        public let blob: BlobID
        /// The local user who sent it: the authenticated user, or the user a return path at a
        /// local domain names (an alias of theirs, or their name); nil for anyone else.
        public let sender: String?
        /// When its last recipient finished; nil while any is waiting.
        public let finished: Date?
    }

    /// What a release let go of, or would.
    public struct Outcome: Sendable, Codable, Equatable {
        /// Queued messages whose bodies the server let go of.
        public var messages = 0
        /// Bodies whose transit wrap went (or would go).
        public var bodies = 0
        /// Of those, the bodies no local user holds either: unreadable from then on.
        public var unreadable = 0
        /// Bodies of chosen messages kept for now: another message with the same body is still
        /// queued or chosen differently, an agent has not read it yet, or a list post is held.
        public var kept = 0

        public init() {}
    }

    /// The consumers that read messages (`message_accepted` and the delivery facts) after
    /// intake, and may open their bodies when they do.
    public static let readers = [
        LocalDelivery.consumerName, ListAgent.consumerName, MailCommandAgent.consumerName, ReceiptAgent.consumerName,
        MonitoringAgent.consumerName, ErrorReporter.consumerName, CollectionReplies.consumerName,
    ]

    /// Retention rules name the server's copies of sent mail by this folder name
    /// (`Outqueue=90`); a rule for every folder (`*=2555`) covers them too.
    public static let folderName = "Outqueue"

    let engine: ProjectionEngine

    public init(engine: ProjectionEngine) {
        self.engine = engine
    }

    private var logger: Logger { engine.logger }

    /// Lets go of the bodies of the finished queued messages `chosen` picks, as far as nothing
    /// else still needs them. Senders are found in `directory` (the directory as it is now when
    /// nil). With `dryRun`, only counts.
    public func release(dryRun: Bool, directory: DirectorySnapshot? = nil,
                        chosen: @Sendable (SentMessage) -> Bool) async throws -> Outcome {
        let store = engine.store
        guard let keyStore = store.keyStore else { return Outcome() }
        let snapshot = if let directory { directory } else { try await DirectorySnapshot.load(from: engine) }
        let rows = try await store.client.query("""
            SELECT m.msgid, m.blob, m.authsender, m.returnpath, m.finishedtime FROM outqueue.outmessages m
             WHERE m.blob IN (SELECT w.sha256 FROM keystore.blob_keys w JOIN keystore.holder_keys k ON k.key_id = w.key_id
                               WHERE k.holder = \(BlobHolder.transit.description))
            """, logger: logger)
        var byBlob: [BlobID: [(message: SentMessage, chosen: Bool)]] = [:]
        for try await (id, blob, authUser, returnPath, finished) in rows.decode((String, ByteBuffer, String?, String?, Date?).self) {
            let message = SentMessage(messageID: id, blob: BlobID(digest: Array(buffer: blob)),
                                      sender: Self.sender(authUser: authUser, returnPath: returnPath ?? "", in: snapshot),
                                      finished: finished)
            byBlob[message.blob, default: []].append((message, message.finished != nil && chosen(message)))
        }
        var outcome = Outcome()
        let wanted = byBlob.filter { $0.value.contains(where: \.chosen) }
        guard !wanted.isEmpty else { return outcome }
        let held = try await heldListPosts()
        let unread = try await notYetRead(wanted.values.flatMap { $0.map(\.message.messageID) })
        var going: [BlobID: [String]] = [:]
        for (blob, messages) in wanted {
            if messages.allSatisfy(\.chosen), !held.contains(blob.description),
               !messages.contains(where: { unread.contains($0.message.messageID) }) {
                going[blob] = messages.map(\.message.messageID)
            } else {
                outcome.kept += 1
            }
        }
        guard !going.isEmpty else { return outcome }
        let blobs = going.keys.sorted { $0.hex < $1.hex }
        let only = try await KeyStore.bodiesHeldOnly(by: .transit, among: blobs, client: store.client, logger: logger)
        outcome.messages = going.values.reduce(0) { $0 + $1.count }
        outcome.bodies = blobs.count
        outcome.unreadable = only.count
        guard !dryRun else { return outcome }

        // Each body about to become unreadable is opened once more first: the erasure records
        // whether it was intact, since no one can check that afterwards.
        let altered = try await store.alteredBodies(only)
        let messages = going.values.flatMap { $0 }.sorted()
        try await engine.transaction { transaction in
            let connection = transaction.connection
            let bodies = try await KeyStore.erasedBodies(held: .transit, among: blobs, altered: altered, on: connection,
                                                         logger: logger)
            let wraps = try await KeyStore.deleteWraps(of: .transit, among: blobs, on: connection, logger: logger)
            guard wraps > 0 else { return }
            let stream = try StreamName(category: "erasure", id: "main")
            let expected = try await transaction.expectedVersion(of: stream)
            try await transaction.append([PendingEvent(TransitKeysDestroyed(messages: messages, sharedBodies: wraps - bodies.count,
                                                                            bodies: bodies).stamped())],
                                         to: stream, expectedVersion: expected)
        }
        keyStore.forgetDataKeys()
        return outcome
    }

    /// The bodies of list posts waiting for a moderator, by address in hex.
    private func heldListPosts() async throws -> Set<String> {
        let rows = try await engine.store.client.query("""
            SELECT blob FROM lists.pending WHERE kind = 'post' AND blob IS NOT NULL
            """, logger: logger)
        var held = Set<String>()
        for try await blob in rows.decode(String.self) { held.insert(blob.lowercased()) }
        return held
    }

    /// Of `messageIDs`, those with an event some reader of messages (`readers`) has not passed.
    private func notYetRead(_ messageIDs: [String]) async throws -> Set<String> {
        let keys = messageIDs.map { "\(MessageAccepted.category)-\($0)" }
        let rows = try await engine.store.client.query("""
            SELECT DISTINCT s.stream_key FROM eventlog.streams s
              JOIN eventlog.events e ON e.stream_id = s.stream_id
              JOIN eventlog.consumer_checkpoints c ON c.consumer = ANY(\(Self.readers))
             WHERE s.stream_key = ANY(\(keys)) AND (c.tx_id, c.global_position) < (e.tx_id, e.global_position)
            """, logger: logger)
        var unread = Set<String>()
        let prefix = MessageAccepted.category + "-"
        for try await key in rows.decode(String.self) { unread.insert(String(key.dropFirst(prefix.count))) }
        return unread
    }

    /// The local user who sent a message: the one who logged in to send it, else the user a
    /// return path at a local domain names (an alias to them, or their name itself, also for a
    /// user since removed).
    static func sender(authUser: String?, returnPath: String, in snapshot: DirectorySnapshot) -> String? {
        if let user = authUser?.lowercased(), !user.isEmpty { return user }
        guard let at = returnPath.lastIndex(of: "@") else { return nil }
        let local = returnPath[..<at].lowercased(), domain = returnPath[returnPath.index(after: at)...].lowercased()
        guard !local.isEmpty, snapshot.domains.contains(where: { DirectoryRules.matches(pattern: $0, domain: domain) }) else {
            return nil
        }
        if let target = snapshot.aliases["\(local)@\(domain)"] ?? snapshot.aliases[local] {
            return target.kind == .user ? target.name.lowercased() : nil
        }
        return snapshot.lists[local] == nil ? local : nil
    }
}
