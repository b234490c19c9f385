import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// How a payload or blob is stored, tagged per row so old rows keep decoding after the codec or
/// dictionary used for new rows changes.
public enum StorageCodec: Int16, Sendable {
    /// The bytes as they are (used when compression would not make them smaller).
    case identity = 0
    /// A zstd frame, with the row's dictionary when `dict_id` is set.
    case zstd = 1
}

extension StorageCodec {
    /// Added to a body row's codec when its bytes are sealed under the body's data key
    /// (KeyStore.swift): open them first, then decode them with the codec below the flag.
    static let sealedFlag: Int16 = 0x100
}

/// A payload or blob ready for its row.
struct EncodedBytes: Sendable {
    let codec: StorageCodec
    /// 0 when no dictionary was used.
    let dictionaryID: Int32
    let bytes: ByteBuffer
    /// Sealed under the body's data key after compression.
    var sealed = false

    /// The codec as its row records it.
    var wireCodec: Int16 { codec.rawValue | (sealed ? StorageCodec.sealedFlag : 0) }
}

/// Compresses event payloads with the newest trained dictionary and decompresses any row with
/// the dictionary it names, loading dictionaries from `eventlog.zstd_dicts` as needed.
final class PayloadCodec: Sendable {
    private struct State {
        var dictionaries: [Int32: ZstdDictionary] = [:]
        var newest: ZstdDictionary?
    }

    let level: Int32
    let blobLevel: Int32
    let decodedLimit: Int
    private let state = Mutex(State())

    init(level: Int32, blobLevel: Int32, decodedLimit: Int) {
        self.level = level
        self.blobLevel = blobLevel
        self.decodedLimit = decodedLimit
    }

    var newestDictionaryID: Int32? { state.withLock { $0.newest?.id } }

    func encodePayload(_ json: [UInt8]) throws -> EncodedBytes {
        try encode(json, level: level, dictionary: state.withLock { $0.newest })
    }

    func encodeBlob(_ bytes: [UInt8]) throws -> EncodedBytes {
        try encode(bytes, level: blobLevel, dictionary: nil)
    }

    private func encode(_ bytes: [UInt8], level: Int32, dictionary: ZstdDictionary?) throws -> EncodedBytes {
        let compressed = try Zstd.compress(bytes, level: level, dictionary: dictionary)
        if compressed.count >= bytes.count {
            return EncodedBytes(codec: .identity, dictionaryID: 0, bytes: ByteBuffer(bytes: bytes))
        }
        return EncodedBytes(codec: .zstd, dictionaryID: dictionary?.id ?? 0, bytes: ByteBuffer(bytes: compressed))
    }

    /// Decodes a stored row's bytes; `position` only names the row in errors.
    func decode(codec: Int16, dictionaryID: Int32?, bytes: ByteBuffer, position: Int64,
                client: PostgresClient, logger: Logger) async throws -> [UInt8] {
        guard let storage = StorageCodec(rawValue: codec) else {
            throw EventLogError.unknownCodec(position: position, codec: codec)
        }
        switch storage {
        case .identity:
            return Array(bytes.readableBytesView)
        case .zstd:
            var dictionary: ZstdDictionary?
            if let dictionaryID, dictionaryID != 0 {
                dictionary = try await self.dictionary(dictionaryID, client: client, logger: logger)
            }
            return try Zstd.decompress(Array(bytes.readableBytesView), dictionary: dictionary, limit: decodedLimit)
        }
    }

    func dictionary(_ id: Int32, client: PostgresClient, logger: Logger) async throws -> ZstdDictionary {
        if let known = state.withLock({ $0.dictionaries[id] }) { return known }
        let rows = try await client.query("SELECT data FROM eventlog.zstd_dicts WHERE dict_id = \(id)", logger: logger)
        for try await data in rows.decode(ByteBuffer.self) {
            let dictionary = try ZstdDictionary(id: id, bytes: Array(data.readableBytesView), level: level)
            state.withLock { $0.dictionaries[id] = dictionary }
            return dictionary
        }
        throw EventLogError.unknownDictionary(id)
    }

    /// Makes the newest dictionary in the database the one new payloads are compressed with.
    func loadNewestDictionary(client: PostgresClient, logger: Logger) async throws {
        let rows = try await client.query("SELECT max(dict_id) FROM eventlog.zstd_dicts", logger: logger)
        var newestID: Int32?
        for try await id in rows.decode(Int32?.self) { newestID = id }
        guard let newestID, newestID != self.newestDictionaryID else { return }
        let dictionary = try await self.dictionary(newestID, client: client, logger: logger)
        state.withLock { $0.newest = dictionary }
        logger.info("compressing new events with zstd dictionary \(newestID)")
    }
}
