import EventLog
import Facts
import Foundation
import MailAuth
import MailCore
import Synchronization

/// What goes to the receiving server: `loop` (`X-Loop:` fields of distribution lists), then
/// `signature` (its DKIM-Signature fields), then `header` when the header modifiers rewrote
/// it, then the stored message (`body` when it was read with the message, else streamed from
/// the store) from byte `skip` on: past its `Return-Path:` line, and past its own header when
/// `header` replaces it.
struct OutgoingContent: Sendable {
    var body: [UInt8]?
    var loop: [UInt8] = []
    var signature: [UInt8] = []
    var header: [UInt8] = []
    var skip: Int

    /// The bytes sent in place of the stored message's first `skip`.
    var added: Int { loop.count + signature.count + header.count }
    var start: [UInt8] { loop + signature + header }

    /// This content as it goes to `recipients`: with an `X-Loop:` field for each distribution
    /// list they were reached through (outside the DKIM signature, which does not cover it), so
    /// a member passing it back to the list is recognised.
    func reaching(_ recipients: [OutboundMessage.Recipient]) -> OutgoingContent {
        var content = self
        var seen = Set<String>()
        for list in recipients.compactMap(\.distributedBy) where seen.insert(list.lowercased()).inserted {
            content.loop += Array("X-Loop: \(list)\r\n".utf8)
        }
        return content
    }
}

/// Opened DKIM keys by vault id: a key is opened from the vault once per process.
final class DKIMKeyCache: Sendable {
    private let keys = Mutex<[UUID: DKIMKey]>([:])

    func key(_ entry: DKIMKeyEntry, vault: SecretVault, store: EventStore) async throws -> DKIMKey? {
        if let found = keys.withLock({ $0[entry.secret] }) { return found }
        guard let bytes = try await vault.open(entry.secret, purpose: DKIMKeyEntry.purpose, subject: entry.subject, client: store.client),
              let algorithm = DKIMSignature.Algorithm(rawValue: entry.algorithm) else { return nil }
        let key = try DKIMKey(domain: entry.domain, selector: entry.selector, algorithm: algorithm, secretBytes: bytes)
        keys.withLock { $0[entry.secret] = key }
        return key
    }
}

extension DeliveryScheduler {
    /// What `message` goes out as: its header rewritten by `outqueue.header_modifiers` when it
    /// comes from a local sender, and signed with DKIM when its From domain (or a parent) has
    /// keys in `dkim.keys`. When signing fails the mail goes unsigned, and the log says why.
    func outgoingContent(_ message: OutboundMessage, body: [UInt8]?, policy: Policy) async -> OutgoingContent {
        var content = OutgoingContent(body: body, skip: message.accepted.returnPathLength)
        let entries = vault == nil ? [] : settings.value(.dkimKeys)
        let modifiers = policy.fromLocalSender(message.accepted) ? policy.headerModifiers : []
        guard !entries.isEmpty || !modifiers.isEmpty else { return content }
        do {
            guard let stored = try await storedHeader(message, body: body, hashBody: !entries.isEmpty) else { return content }
            var head = stored.head
            if stored.complete, let edited = HeaderModifier.apply(modifiers, to: head) {
                content.header = edited
                content.skip += head.count
                head = edited
            }
            guard !entries.isEmpty, let header = HeaderFields(head), let domain = Self.fromDomain(header) else { return content }
            let chosen = DKIMKeyEntry.signing(entries, for: domain)
            guard !chosen.isEmpty, let vault else { return content }
            var keys: [DKIMKey] = []
            for entry in chosen {
                if let key = try await dkimKeys.key(entry, vault: vault, store: store) { keys.append(key) }
            }
            guard !keys.isEmpty, let bodyHash = stored.bodyHash else { return content }
            content.signature = try DKIMSigner.sign(header: header, bodyHash: bodyHash, keys: keys, at: Date())
        } catch {
            logger.warning("could not sign a message with DKIM; it goes unsigned", metadata: [
                "message": "\(message.accepted.messageID)", "error": "\(error)",
            ])
        }
        return content
    }

    /// The stored message's header after its `Return-Path:` line, with the empty line that ends
    /// it (`complete`: one was found within `HeaderFields.maximumSize`), and, when asked, its
    /// body's relaxed DKIM hash, in one pass; nil when the stored body is missing.
    private func storedHeader(_ message: OutboundMessage, body: [UInt8]?, hashBody: Bool) async throws
        -> (head: [UInt8], complete: Bool, bodyHash: [UInt8]?)? {
        var head: [UInt8] = []
        var headerEnd: Int?
        var complete = false
        var hasher = DKIMCanonicalization.BodyHasher(.relaxed)
        var toSkip = message.accepted.returnPathLength
        func take(_ piece: ArraySlice<UInt8>) {
            var slice = piece
            if toSkip > 0 {
                let dropped = min(toSkip, slice.count)
                slice = slice.dropFirst(dropped)
                toSkip -= dropped
            }
            guard !slice.isEmpty else { return }
            if headerEnd != nil {
                if hashBody { hasher.update(slice) }
                return
            }
            let start = head.count
            head += slice
            // The empty line that ends the header, looked for from just before this piece.
            var index = max(0, start - 3)
            while index + 1 < head.count {
                if head[index] == 0x0A, head[index + 1] == 0x0D || head[index + 1] == 0x0A {
                    let end = head[index + 1] == 0x0D ? index + 3 : index + 2
                    if end <= head.count {
                        headerEnd = end
                        complete = true
                        if hashBody { hasher.update(head[end...]) }
                        head.removeSubrange(end...)
                        return
                    }
                }
                index += 1
            }
            if head.count > HeaderFields.maximumSize { headerEnd = head.count }
        }
        if let body {
            take(body[...])
        } else {
            guard try await store.forEachPiece(of: message.accepted.blob, { take($0[...]) }) else { return nil }
        }
        return (head, complete, hashBody ? hasher.finish() : nil)
    }

    /// The domain of the (last) From field's address.
    static func fromDomain(_ header: HeaderFields) -> String? {
        guard let from = header.lastFirst("from").first else { return nil }
        var value = String(decoding: from.value, as: UTF8.self)
        if let open = value.lastIndex(of: "<"), let close = value[open...].firstIndex(of: ">") {
            value = String(value[value.index(after: open)..<close])
        }
        guard let at = value.lastIndex(of: "@") else { return nil }
        let domain = value[value.index(after: at)...].prefix { !" \t\r\n>,;()".contains($0) }.lowercased()
        return domain.isEmpty ? nil : domain
    }
}
