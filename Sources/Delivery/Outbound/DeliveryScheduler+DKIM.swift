import EventLog
import Facts
import Foundation
import MailAuth
import Synchronization

/// What goes to the receiving server: the stored message (`body` when it was read with the
/// message, else streamed from the store) after `signature`, its DKIM-Signature fields.
struct OutgoingContent: Sendable {
    var body: [UInt8]?
    var signature: [UInt8] = []
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
    /// The DKIM-Signature fields for `message` when its From domain (or a parent) has keys in
    /// `dkim.keys`; empty otherwise, or when signing fails (the mail goes unsigned, and the log says why).
    func dkimSignature(_ message: OutboundMessage, body: [UInt8]?) async -> [UInt8] {
        let entries = settings.value(.dkimKeys)
        guard !entries.isEmpty, let vault else { return [] }
        let skip = message.accepted.returnPathLength
        do {
            // The header and the body's relaxed hash, in one pass over the stored message.
            var head: [UInt8] = []
            var headerEnd: Int?
            var hasher = DKIMCanonicalization.BodyHasher(.relaxed)
            var toSkip = skip
            func take(_ piece: ArraySlice<UInt8>) {
                var slice = piece
                if toSkip > 0 {
                    let dropped = min(toSkip, slice.count)
                    slice = slice.dropFirst(dropped)
                    toSkip -= dropped
                }
                guard !slice.isEmpty else { return }
                if headerEnd != nil {
                    hasher.update(slice)
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
                            hasher.update(head[end...])
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
                guard try await store.forEachPiece(of: message.accepted.blob, { take($0[...]) }) else { return [] }
            }
            guard let header = HeaderFields(head), let domain = Self.fromDomain(header) else { return [] }
            let chosen = DKIMKeyEntry.signing(entries, for: domain)
            guard !chosen.isEmpty else { return [] }
            var keys: [DKIMKey] = []
            for entry in chosen {
                if let key = try await dkimKeys.key(entry, vault: vault, store: store) { keys.append(key) }
            }
            guard !keys.isEmpty else { return [] }
            return try DKIMSigner.sign(header: header, bodyHash: hasher.finish(), keys: keys, at: Date())
        } catch {
            logger.warning("could not sign a message with DKIM; it goes unsigned", metadata: [
                "message": "\(message.accepted.messageID)", "error": "\(error)",
            ])
            return []
        }
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
