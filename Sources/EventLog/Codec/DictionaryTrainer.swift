import Logging
import NIOCore
import PostgresNIO

/// Trains a zstd dictionary from the log's recent events and stores it as the newest version in
/// `eventlog.zstd_dicts`. Running stores pick it up through a NOTIFY; rows written earlier keep
/// decoding with the dictionary their `dict_id` names.
public struct DictionaryTrainer: Sendable {
    public struct Result: Sendable {
        public let id: Int32
        public let bytes: Int
        public let samples: Int
        /// The samples' total size compressed without a dictionary, and with the new one.
        public let bytesWithout: Int
        public let bytesWith: Int
    }

    let store: EventStore
    let logger: Logger

    public init(store: EventStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func train(samples limit: Int, capacity: Int) async throws -> Result {
        let rows = try await store.client.query("""
            SELECT global_position, codec, dict_id, payload FROM eventlog.events ORDER BY global_position DESC LIMIT \(limit)
            """, logger: logger)
        var samples: [[UInt8]] = []
        for try await (position, codec, dictionaryID, payload) in rows.decode((Int64, Int16, Int32?, ByteBuffer).self) {
            samples.append(try await store.codec.decode(codec: codec, dictionaryID: dictionaryID, bytes: payload,
                                                         position: position, client: store.client, logger: logger))
        }
        guard samples.count >= 10 else {
            throw ZstdError.trainingFailed("the log holds \(samples.count) events; at least 10 are needed")
        }
        let dictionaryBytes = try Zstd.trainDictionary(samples: samples, capacity: capacity)
        let level = store.configuration.compressionLevel
        let probe = try ZstdDictionary(id: 0, bytes: dictionaryBytes, level: level)
        var without = 0
        var with = 0
        for sample in samples {
            without += min(try Zstd.compress(sample, level: level).count, sample.count)
            with += min(try Zstd.compress(sample, level: level, dictionary: probe).count, sample.count)
        }

        let sampleBytes = samples.reduce(0) { $0 + $1.count }
        let id = try await store.client.transaction(logger: logger) { connection -> Int32 in
            let inserted = try await connection.query("""
                INSERT INTO eventlog.zstd_dicts (sample_count, sample_bytes, data)
                VALUES (\(samples.count), \(Int64(sampleBytes)), \(ByteBuffer(bytes: dictionaryBytes)))
                RETURNING dict_id
                """, logger: logger)
            var id: Int32 = 0
            for try await value in inserted.decode(Int32.self) { id = value }
            try await connection.query("SELECT pg_notify(\(LogNotifier.dictionariesChannel), '')", logger: logger)
            return id
        }
        try await store.codec.loadNewestDictionary(client: store.client, logger: logger)
        logger.info("stored zstd dictionary \(id)", metadata: ["bytes": "\(dictionaryBytes.count)", "samples": "\(samples.count)"])
        return Result(id: id, bytes: dictionaryBytes.count, samples: samples.count, bytesWithout: without, bytesWith: with)
    }
}
