import Crypto
import Synchronization

/// The data keys of message bodies this process stored or opened lately, shared by every store
/// in the process (a key depends only on its body, KeyStore.swift). Sealing a personal field of
/// an event (`Personal`) and opening one both look here: JSON coding cannot wait for the
/// database, so a store loads the keys a batch of events needs before decoding it, and a writer
/// learns a body's key before it encodes the event that seals with it.
public final class DataKeys: Sendable {
    public static let shared = DataKeys()

    private struct State {
        var keys: [BlobID: SymmetricKey] = [:]
        var order: [BlobID] = []
        var sealing = false
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 16_384) { self.capacity = capacity }

    /// Whether new events seal their personal fields (a store in this process seals bodies).
    public var sealing: Bool { state.withLock { $0.sealing } }

    func startSealing() { state.withLock { $0.sealing = true } }

    func key(for blob: BlobID) -> SymmetricKey? { state.withLock { $0.keys[blob] } }

    /// The key to seal a new event's fields with, when this process seals.
    func sealingKey(for blob: BlobID) -> SymmetricKey? {
        state.withLock { $0.sealing ? $0.keys[blob] : nil }
    }

    func remember(_ key: SymmetricKey, of blob: BlobID) {
        state.withLock { state in
            guard state.keys.updateValue(key, forKey: blob) == nil else { return }
            state.order.append(blob)
            if state.order.count > capacity {
                let dropped = state.order.prefix(capacity / 4)
                for old in dropped { state.keys[old] = nil }
                state.order.removeFirst(dropped.count)
            }
        }
    }

    /// Learns the key of a body about to be stored, when this process seals.
    func learn(_ bytes: [UInt8], id: BlobID) {
        guard sealing, key(for: id) == nil else { return }
        remember(KeyStore.dataKey(of: bytes), of: id)
    }

    /// The sealed bodies a stored event's JSON names in its sealed fields (`Personal`), found
    /// without decoding it.
    static func sealedBlobs(in json: [UInt8]) -> [BlobID] {
        var found: [BlobID] = []
        let marker = sealedMarker
        json.withUnsafeBufferPointer { bytes in
            var index = 0
            let last = bytes.count - marker.count - 64
            while index <= last {
                // The marker starts with a quote: look at quotes only.
                guard bytes[index] == marker[0] else { index += 1; continue }
                var matches = true
                for offset in 1..<marker.count where bytes[index + offset] != marker[offset] {
                    matches = false
                    break
                }
                guard matches else { index += 1; continue }
                let hexStart = index + marker.count
                let hex = String(decoding: UnsafeBufferPointer(rebasing: bytes[hexStart..<hexStart + 64]), as: UTF8.self)
                if let id = BlobID(hex: hex) { found.append(id) }
                index = hexStart + 64
            }
        }
        return found
    }

    static let sealedMarker = Array("\"$sealed\":\"".utf8)

    /// Forgets every key (after a holder key was destroyed here).
    func forgetAll() {
        state.withLock {
            $0.keys = [:]
            $0.order = []
        }
    }
}
