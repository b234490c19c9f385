import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The event log: append to streams, read them back, follow the whole log.
///
/// An `EventStore` is a `Service`: `run()` keeps the NOTIFY listener that wakes subscriptions and
/// picks up new compression dictionaries; appends are refused once it has returned.
public final class EventStore: Service, Sendable {
    /// The database connection pool, for the read models (projections, the CLI's reports) in
    /// this package; never the gateways, which go through the store's and the projections' own
    /// operations.
    package let client: PostgresClient
    public let configuration: EventLogConfiguration
    let logger: Logger
    let codec: PayloadCodec
    let committer: GroupCommitter
    let notifier = LogNotifier()
    /// Events its followers decoded lately, shared between them.
    let decodedEvents = DecodedEvents()
    /// The newest stretch of the log its followers read, shared between them.
    let window = LogWindow()
    /// How many events the window reads at once.
    static let windowBatch = 2_000
    /// The keys that seal message bodies; nil for a store opened without the key directory,
    /// which stores bodies unsealed and cannot read sealed ones.
    public let keyStore: KeyStore?

    public init(client: PostgresClient, configuration: EventLogConfiguration = .init(), keys: KeyDirectory? = nil,
                logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.keyStore = keys.map { KeyStore(keys: $0, logger: logger) }
        if keys != nil && configuration.sealBodies { DataKeys.shared.startSealing() }
        self.codec = PayloadCodec(level: configuration.compressionLevel,
                                  blobLevel: configuration.blobCompressionLevel,
                                  decodedLimit: configuration.maxDecodedBytes)
        self.committer = GroupCommitter(client: client, maxWait: configuration.groupCommitMaxWait,
                                        maxEvents: configuration.groupCommitMaxEvents,
                                        maxBytes: configuration.groupCommitMaxBytes,
                                        connectionDeadline: configuration.groupCommitConnectionDeadline,
                                        statementDeadline: configuration.groupCommitStatementDeadline, logger: logger)
    }

    public func run() async throws {
        try await codec.loadNewestDictionary(client: client, logger: logger)
        await cancelWhenGracefulShutdown {
            await self.notifier.run(client: self.client, logger: self.logger) {
                do {
                    try await self.codec.loadNewestDictionary(client: self.client, logger: self.logger)
                } catch where !Task.isCancelled {
                    self.logger.error("loading the newest zstd dictionary failed", metadata: ["error": "\(error)"])
                } catch {
                    // Stopping: nothing to report.
                }
            }
        }
        committer.close()
    }

    /// Runs `body` while the store runs, for commands and tests outside a service group.
    public func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    // MARK: Appending

    /// Appends events to one stream if it is at `expectedVersion`; returns once committed.
    @discardableResult
    public func append(_ events: [EventData], to stream: StreamName,
                       expectedVersion: ExpectedVersion = .any) async throws -> AppendResult {
        try await append([StreamAppend(stream: stream, expectedVersion: expectedVersion, events: events)])[0]
    }

    /// Appends to several streams in one transaction: all of them, or none when any check fails.
    @discardableResult
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        let group = PreparedGroup(appends: try await prepare(appends, via: .pool(client)))
        return try await forgettingDestroyedKeys(group) { try await committer.submit(group) }
    }

    /// Appends inside the caller's transaction on `connection`, bypassing group commit: the
    /// events commit (and notify readers) when that transaction does. For work that must commit
    /// atomically with the events, such as inline projections.
    @discardableResult
    public func append(_ appends: [StreamAppend], on connection: PostgresConnection) async throws -> [AppendResult] {
        let group = PreparedGroup(appends: try await prepare(appends, via: .connection(connection)))
        return try await forgettingDestroyedKeys(group) {
            try await AppendBatchStatement.run([group], on: connection, logger: logger)[0].get()
        }
    }

    /// Whether new bodies are stored sealed.
    var sealsBodies: Bool { keyStore != nil && configuration.sealBodies }

    private func prepare(_ appends: [StreamAppend], via runner: StatementRunner) async throws -> [PreparedAppend] {
        var prepared: [PreparedAppend] = []
        prepared.reserveCapacity(appends.count)
        for append in appends { prepared.append(try await prepare(append, via: runner)) }
        return prepared
    }

    private func prepare(_ append: StreamAppend, via runner: StatementRunner) async throws -> PreparedAppend {
        guard !append.events.isEmpty else { throw EventLogError.emptyAppend(stream: append.stream.key) }
        var blobs: [PreparedAppend.Blob] = []
        var wraps: [BlobWrap] = []
        var seenBlobs = Set<BlobID>()
        var events: [PreparedAppend.Event] = []
        events.reserveCapacity(append.events.count)
        for event in append.events {
            guard EventCoding.isValidType(event.type) else { throw EventLogError.invalidEventType(event.type) }
            for blob in event.blobs where seenBlobs.insert(blob.id).inserted {
                var contents = try codec.encodeBlob(blob.bytes)
                if sealsBodies, let keyStore {
                    let dataKey = keyStore.rememberedKey(of: blob.id) ?? KeyStore.dataKey(of: blob.bytes)
                    keyStore.remember(dataKey, of: blob.id)
                    contents = EncodedBytes(codec: contents.codec, dictionaryID: contents.dictionaryID,
                                            bytes: try KeyStore.seal(contents.bytes, of: blob.id, piece: 0, using: dataKey),
                                            sealed: true)
                    wraps += try await self.wraps(of: blob.id, dataKey: dataKey, for: blob.holders, via: runner)
                }
                blobs.append(.init(id: blob.id, size: Int64(blob.bytes.count), contents: contents))
            }
            events.append(PreparedAppend.Event(
                eventID: event.eventID, type: event.type, typeVersion: event.typeVersion,
                payload: try codec.encodePayload(event.json),
                correlationID: event.correlationID, causationID: event.causationID))
        }
        wraps += try await grantWraps(append.grants, via: runner)
        return PreparedAppend(stream: append.stream, expected: append.expectedVersion, events: events, blobs: blobs, wraps: wraps)
    }

    /// A body's data key wrapped for each of `holders`.
    private func wraps(of blob: BlobID, dataKey: SymmetricKey, for holders: [BlobHolder],
                       via runner: StatementRunner) async throws -> [BlobWrap] {
        guard let keyStore else { return [] }
        var wraps: [BlobWrap] = []
        for holder in Set(holders) {
            let holderKey = try await keyStore.holderKey(holder, via: runner)
            wraps.append(try KeyStore.wrap(dataKey, of: blob, keyID: holderKey.id, under: holderKey.key))
        }
        return wraps
    }

    /// Wraps for bodies stored earlier: their data keys come from this process's memory or
    /// from any wrap still live. A body stored unsealed, or erased, gets none.
    private func grantWraps(_ grants: [BlobGrant], via runner: StatementRunner) async throws -> [BlobWrap] {
        guard sealsBodies, let keyStore, !grants.isEmpty else { return [] }
        var wraps: [BlobWrap] = []
        for (blob, holders) in Dictionary(grouping: grants, by: \.blob) {
            guard let dataKey = try await dataKey(of: blob, keyStore: keyStore, via: runner) else { continue }
            wraps += try await self.wraps(of: blob, dataKey: dataKey, for: holders.map(\.holder), via: runner)
        }
        return wraps
    }

    /// Loads into this process the data keys of stored bodies (through any live wrap), so
    /// events that seal fields with them can be written and read (`Personal`). Bodies stored
    /// unsealed, or erased, have none.
    public func loadDataKeys(_ blobs: some Sequence<BlobID>, on connection: PostgresConnection? = nil) async throws {
        guard let keyStore else { return }
        let missing = Array(Set(blobs.filter { keyStore.rememberedKey(of: $0) == nil }))
        guard !missing.isEmpty else { return }
        let runner: StatementRunner = connection.map { .connection($0) } ?? .pool(client)
        let rows = try await runner.query("""
            SELECT DISTINCT ON (bk.sha256) bk.sha256, k.key_id, k.holder, k.server_key_id, k.sealed, bk.wrapped
              FROM keystore.blob_keys bk JOIN keystore.holder_keys k ON k.key_id = bk.key_id
             WHERE bk.sha256 = ANY(\(missing.map { ByteBuffer(bytes: $0.bytes) }))
            """, logger: logger)
        for try await (key, keyID, holder, serverKeyID, sealed, wrapped) in rows.decode((ByteBuffer, UUID, String, String, ByteBuffer, ByteBuffer).self) {
            _ = try keyStore.unwrap(blob: BlobID(digest: Array(buffer: key)), keyID: keyID, holder: holder,
                                    serverKeyID: serverKeyID, sealedHolderKey: sealed, wrapped: wrapped)
        }
    }

    /// Learns the data key of a body this process is about to store from a file, so the event
    /// referring to it can seal its fields with it.
    public func learnDataKey(ofFile path: String, id: BlobID) throws {
        guard sealsBodies, let keyStore, keyStore.rememberedKey(of: id) == nil else { return }
        keyStore.remember(try KeyStore.dataKey(ofFile: path), of: id)
    }

    /// The data key of a stored body through any live wrap; nil when it has none.
    private func dataKey(of blob: BlobID, keyStore: KeyStore, via runner: StatementRunner) async throws -> SymmetricKey? {
        if let known = keyStore.rememberedKey(of: blob) { return known }
        let rows = try await runner.query("""
            SELECT k.key_id, k.holder, k.server_key_id, k.sealed, bk.wrapped
              FROM keystore.blob_keys bk JOIN keystore.holder_keys k ON k.key_id = bk.key_id
             WHERE bk.sha256 = \(ByteBuffer(bytes: blob.bytes)) LIMIT 1
            """, logger: logger)
        for try await (keyID, holder, serverKeyID, sealed, wrapped) in rows.decode((UUID, String, String, ByteBuffer, ByteBuffer).self) {
            return try keyStore.unwrap(blob: blob, keyID: keyID, holder: holder, serverKeyID: serverKeyID,
                                       sealedHolderKey: sealed, wrapped: wrapped)
        }
        return nil
    }

    /// Runs an append; when a wrap in it named a holder key another process has destroyed
    /// since, forgets the cached holder keys so the writer's retry makes or finds the live one.
    private func forgettingDestroyedKeys<T>(_ group: PreparedGroup, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            if group.appends.contains(where: { !$0.wraps.isEmpty }) { keyStore?.forgetHolderKeys() }
            throw error
        }
    }

    // MARK: Reading

    /// The version of a stream's last event, or nil when the stream has none.
    public func version(of stream: StreamName) async throws -> Int64? {
        let rows = try await client.query(
            "SELECT version FROM eventlog.streams WHERE stream_key = \(stream.key)", logger: logger)
        for try await version in rows.decode(Int64.self) { return version >= 0 ? version : nil }
        return nil
    }

    /// A stream's events from `version` on, in version order.
    public func read(stream: StreamName, from version: Int64 = 0, limit: Int = 1_000) async throws -> [RecordedEvent] {
        try await decode(client.query("""
            SELECT \(unescaped: Self.columns) FROM eventlog.streams s CROSS JOIN LATERAL (
                SELECT * FROM eventlog.events ev WHERE ev.stream_id = s.stream_id AND ev.stream_version >= \(version)
                ORDER BY ev.stream_version LIMIT \(limit)) e
            WHERE s.stream_key = \(stream.key)
            ORDER BY e.stream_version
            """, logger: logger))
    }

    /// Several whole streams in one query, each in version order, by stream key; a stream with
    /// no events is left out. For short streams read together (a batch of queued messages).
    public func read(streams: [StreamName]) async throws -> [String: [RecordedEvent]] {
        guard !streams.isEmpty else { return [:] }
        let keys = streams.map(\.key)
        // Each stream's events through its own index lookup (`OFFSET 0` keeps the planner from
        // flattening the lateral read into a join): with the log's statistics not yet gathered
        // (a young database), a join would otherwise scan every event for a few streams.
        let events = try await decode(client.query("""
            SELECT \(unescaped: Self.columns) FROM eventlog.streams s CROSS JOIN LATERAL (
                SELECT * FROM eventlog.events ev WHERE ev.stream_id = s.stream_id ORDER BY ev.stream_version OFFSET 0) e
            WHERE s.stream_key = ANY(\(keys)) ORDER BY s.stream_key, e.stream_version
            """, logger: logger))
        return Dictionary(grouping: events, by: \.stream)
    }

    /// Events after `cursor` in read order, optionally of one category. Only events of
    /// transactions older than every running one are returned, so an event that commits later
    /// can never land behind a cursor already handed out.
    public func read(after cursor: LogCursor, category: String? = nil, limit: Int = 1_000) async throws -> [RecordedEvent] {
        try await read(after: cursor, category: category, limit: limit, on: nil)
    }

    /// As `read(after:category:limit:)`, inside the caller's transaction on `connection`.
    public func read(after cursor: LogCursor, category: String? = nil, limit: Int = 1_000,
                     on connection: PostgresConnection?) async throws -> [RecordedEvent] {
        try await read(after: cursor, categories: category.map { [$0] } ?? [], limit: limit, on: connection)
    }

    /// Where a projection read stops: nowhere, at a global position, or at a recording time.
    public enum ReadLimit: Sendable {
        case none
        case position(Int64)
        case time(Date)
        /// Up to and including this place in read order.
        case cursor(LogCursor)
    }

    /// Events after `cursor` in read order from any of `categories` (all when empty), for
    /// projections. `fenced` as in `read(after:)`; an unfenced read returns every committed
    /// event, for a caller that holds a lock every writer of those categories takes first.
    public func read(after cursor: LogCursor, categories: [String], until limitPoint: ReadLimit = .none,
                     fenced: Bool = true, limit: Int, on connection: PostgresConnection?) async throws -> [RecordedEvent] {
        var untilPosition: Int64?
        var untilTime: Date?
        var untilCursor: LogCursor?
        switch limitPoint {
        case .none: break
        case .position(let position): untilPosition = position
        case .time(let time): untilTime = time
        case .cursor(let cursor): untilCursor = cursor
        }
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.columns) FROM \(unescaped: Self.eventsInReadOrder)
            WHERE (e.tx_id, e.global_position) > (\(String(cursor.transaction))::xid8, \(cursor.position))
              AND (NOT \(fenced) OR e.tx_id < pg_snapshot_xmin(pg_current_snapshot()))
              AND (cardinality(\(categories)::text[]) = 0 OR s.category = ANY(\(categories)::text[]))
              AND (\(untilPosition)::bigint IS NULL OR e.global_position <= \(untilPosition))
              AND (\(untilTime)::timestamptz IS NULL OR e.recorded_at <= \(untilTime))
              AND (\(untilCursor == nil) OR (e.tx_id, e.global_position)
                   <= (\(String(untilCursor?.transaction ?? 0))::xid8, \(untilCursor?.position ?? 0)))
            ORDER BY e.tx_id, e.global_position LIMIT \(limit)
            """
        if let connection {
            return try await decode(connection.query(query, logger: logger))
        }
        return try await decode(client.query(query, logger: logger))
    }

    /// The position of the newest event, 0 for an empty log.
    public func lastPosition() async throws -> Int64 {
        let rows = try await client.query("SELECT coalesce(max(global_position), 0) FROM eventlog.events", logger: logger)
        for try await position in rows.decode(Int64.self) { return position }
        return 0
    }

    /// Events by global position, for auditors: `from...to`, optionally one stream or category.
    public func read(positions range: ClosedRange<Int64>, stream: StreamName? = nil, category: String? = nil,
                     limit: Int = 1_000) async throws -> [RecordedEvent] {
        try await decode(client.query("""
            SELECT \(unescaped: Self.columns) FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
            WHERE e.global_position BETWEEN \(range.lowerBound) AND \(range.upperBound)
              AND (\(stream?.key)::text IS NULL OR s.stream_key = \(stream?.key))
              AND (\(category)::text IS NULL OR s.category = \(category))
            ORDER BY e.global_position LIMIT \(limit)
            """, logger: logger))
    }

    /// A blob's bytes, or nil when no event has stored it. Throws `BlobTampered` when the
    /// stored bytes do not hash to the blob's address: tampered content never reaches a client.
    public func blob(_ id: BlobID) async throws -> [UInt8]? {
        try await client.withConnection { try await self.blobs([id], on: $0)[id] }
    }

    /// Several blobs in one query on a connection of the store's own; as `blobs(_:on:)`.
    public func blobs(_ ids: [BlobID]) async throws -> [BlobID: [UInt8]] {
        guard !ids.isEmpty else { return [:] }
        return try await client.withConnection { try await self.blobs(ids, on: $0) }
    }

    /// Appends, in one transaction with the body stored from its spool file (see
    /// `storeBlob(_:size:fromFile:on:)`): a large message and the event that refers to it
    /// commit together.
    @discardableResult
    public func append(_ appends: [StreamAppend], storingBlob id: BlobID, size: Int64, fromFile path: String,
                       holders: [BlobHolder] = [.transit]) async throws -> [AppendResult] {
        try await client.transaction(logger: logger) { connection in
            try await storeBlob(id, size: size, fromFile: path, holders: holders, on: connection)
            return try await append(appends, on: connection)
        }
    }

    /// A body row with, when it is sealed, one live wrap of its data key and that wrap's holder
    /// key (any holder's: who may see which message is the projections' business).
    static let storedBlobColumns = """
        b.sha256, b.codec, b.dict_id, b.data, b.chunks, w.key_id, w.holder, w.server_key_id, w.sealed, w.wrapped
        FROM eventlog.blobs b LEFT JOIN LATERAL (
            SELECT k.key_id, k.holder, k.server_key_id, k.sealed, bk.wrapped
              FROM keystore.blob_keys bk JOIN keystore.holder_keys k ON k.key_id = bk.key_id
             WHERE bk.sha256 = b.sha256 AND b.codec >= 256 LIMIT 1) w ON true
        """
    typealias StoredBlobRow = (ByteBuffer, Int16, Int32?, ByteBuffer, Int32, UUID?, String?, String?, ByteBuffer?, ByteBuffer?)

    /// What reading one body needs from its row.
    struct StoredBlob {
        let id: BlobID
        let codec: Int16
        let dictionaryID: Int32?
        let data: ByteBuffer
        let chunks: Int32
        /// The data key of a sealed body; nil for one stored unsealed.
        let dataKey: SymmetricKey?
    }

    /// A body row as read; throws `BlobErased` for a sealed body without a live wrap.
    func storedBlob(_ row: StoredBlobRow) throws -> StoredBlob {
        let (key, codec, dictionaryID, data, chunks, keyID, holder, serverKeyID, sealed, wrapped) = row
        let id = BlobID(digest: Array(buffer: key))
        var dataKey: SymmetricKey?
        if codec & StorageCodec.sealedFlag != 0 {
            guard let keyStore, let keyID, let holder, let serverKeyID, let sealed, let wrapped else {
                throw BlobErased(blob: id)
            }
            dataKey = try keyStore.unwrap(blob: id, keyID: keyID, holder: holder, serverKeyID: serverKeyID,
                                          sealedHolderKey: sealed, wrapped: wrapped)
        }
        return StoredBlob(id: id, codec: codec, dictionaryID: dictionaryID, data: data, chunks: chunks, dataKey: dataKey)
    }

    /// One stored piece (a whole body, or chunk `piece`) opened and decompressed.
    func decodePiece(of id: BlobID, piece: Int32, codec: Int16, dictionaryID: Int32?, data: ByteBuffer,
                     dataKey: SymmetricKey?) async throws -> [UInt8] {
        var bytes = data
        if codec & StorageCodec.sealedFlag != 0 {
            guard let dataKey else { throw BlobErased(blob: id) }
            bytes = try KeyStore.open(data, of: id, piece: piece, using: dataKey)
        }
        return try await self.codec.decode(codec: codec & ~StorageCodec.sealedFlag, dictionaryID: dictionaryID, bytes: bytes,
                                           position: 0, client: client, logger: logger)
    }

    /// Several blobs in one query, on the caller's connection; missing ones are left out. Each
    /// is checked against its SHA-256 before it is returned (`BlobTampered` when it fails;
    /// `BlobErased` for a sealed one no live key opens).
    public func blobs(_ ids: [BlobID], on connection: PostgresConnection) async throws -> [BlobID: [UInt8]] {
        guard !ids.isEmpty else { return [:] }
        let keys = ids.map { ByteBuffer(bytes: $0.bytes) }
        let rows = try await connection.execute(StoredBlobsStatement(keys: keys), logger: logger)
        var result: [BlobID: [UInt8]] = [:]
        var chunked: [StoredBlob] = []
        for try await row in rows {
            let stored = try storedBlob(row)
            if stored.chunks > 0 {
                chunked.append(stored)
                continue
            }
            let bytes = try await decodePiece(of: stored.id, piece: 0, codec: stored.codec, dictionaryID: stored.dictionaryID,
                                              data: stored.data, dataKey: stored.dataKey)
            try checkDigest(stored.id, SHA256.hash(data: bytes))
            result[stored.id] = bytes
        }
        for stored in chunked {
            var bytes: [UInt8] = []
            var hasher = SHA256()
            try await forEachChunk(of: stored, on: connection) { piece in
                hasher.update(data: piece)
                bytes += piece
            }
            try checkDigest(stored.id, hasher.finalize())
            result[stored.id] = bytes
        }
        return result
    }

    /// Calls `body` with a blob's bytes piece by piece, in order (a chunked blob one stored
    /// chunk at a time, never joined), then checks the whole against its SHA-256: a blob that
    /// fails throws `BlobTampered` after its last piece, so a caller streaming it elsewhere
    /// must not complete what it sent until this returns. Returns false when no such blob.
    public func forEachPiece(of id: BlobID, _ body: ([UInt8]) async throws -> Void) async throws -> Bool {
        let key = ByteBuffer(bytes: id.bytes)
        // A blob stored whole is read, and its connection given back, before `body` runs: a
        // caller writing it to a slow peer holds no database connection meanwhile.
        let found = try await client.withConnection { connection -> StoredBlob? in
            var stored: StoredBlob?
            for try await row in try await connection.execute(StoredBlobsStatement(keys: [key]), logger: self.logger) {
                stored = try self.storedBlob(row)
            }
            return stored
        }
        guard let stored = found else { return false }
        var hasher = SHA256()
        if stored.chunks > 0 {
            try await client.withConnection { connection in
                let pieces = try await connection.query("""
                    SELECT seq, codec, dict_id, data FROM eventlog.blob_chunks WHERE sha256 = \(key) ORDER BY seq
                    """, logger: self.logger)
                for try await (seq, codec, dictionaryID, data) in pieces.decode((Int32, Int16, Int32?, ByteBuffer).self) {
                    let piece = try await self.decodePiece(of: id, piece: seq, codec: codec, dictionaryID: dictionaryID,
                                                           data: data, dataKey: stored.dataKey)
                    hasher.update(data: piece)
                    try await body(piece)
                }
            }
        } else {
            let bytes = try await decodePiece(of: id, piece: 0, codec: stored.codec, dictionaryID: stored.dictionaryID,
                                              data: stored.data, dataKey: stored.dataKey)
            hasher.update(data: bytes)
            try await body(bytes)
        }
        try checkDigest(id, hasher.finalize())
        return true
    }

    /// Calls `body` with each stored piece of a chunked blob, in order, opened and decompressed.
    func forEachChunk(of stored: StoredBlob, on connection: PostgresConnection, _ body: ([UInt8]) throws -> Void) async throws {
        let pieces = try await connection.query("""
            SELECT seq, codec, dict_id, data FROM eventlog.blob_chunks WHERE sha256 = \(ByteBuffer(bytes: stored.id.bytes)) ORDER BY seq
            """, logger: logger)
        for try await (seq, codec, dictionaryID, data) in pieces.decode((Int32, Int16, Int32?, ByteBuffer).self) {
            try body(try await decodePiece(of: stored.id, piece: seq, codec: codec, dictionaryID: dictionaryID, data: data,
                                           dataKey: stored.dataKey))
        }
    }

    private func checkDigest(_ id: BlobID, _ digest: SHA256.Digest) throws {
        guard Array(digest) == id.bytes else {
            logger.critical("a stored message body does not match its SHA-256: eventlog.blobs was tampered with",
                            metadata: ["blob": "\(id.hex)"])
            throw BlobTampered(blob: id)
        }
    }

    /// Stores a body read from a file in pieces of `chunkSize` (compressed one at a time, so at
    /// most one piece is in memory), inside the caller's transaction, sealed for `holders` when
    /// bodies are sealed. The file's SHA-256 must be `id`; a body already stored is left as it
    /// is, and gets the holders' wraps.
    public func storeBlob(_ id: BlobID, size: Int64, fromFile path: String, holders: [BlobHolder] = [.transit],
                          chunkSize: Int = 1 << 20, on connection: PostgresConnection) async throws {
        let key = ByteBuffer(bytes: id.bytes)
        let chunks = Int32((size + Int64(chunkSize) - 1) / Int64(chunkSize))
        var dataKey: SymmetricKey?
        if sealsBodies, let keyStore {
            let derived = try keyStore.rememberedKey(of: id) ?? KeyStore.dataKey(ofFile: path)
            keyStore.remember(derived, of: id)
            dataKey = derived
            let wraps = try await self.wraps(of: id, dataKey: derived, for: holders, via: .connection(connection))
            try await connection.query("""
                INSERT INTO keystore.blob_keys (sha256, key_id, wrapped)
                SELECT \(key), * FROM unnest(\(wraps.map(\.keyID))::uuid[], \(wraps.map { ByteBuffer(bytes: $0.wrapped) })::bytea[])
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        let rowCodec = StorageCodec.identity.rawValue | (dataKey == nil ? 0 : StorageCodec.sealedFlag)
        let inserted = try await connection.query("""
            INSERT INTO eventlog.blobs (sha256, size, codec, dict_id, data, chunks)
            VALUES (\(key), \(size), \(rowCodec), NULL, ''::bytea, \(chunks))
            ON CONFLICT (sha256) DO NOTHING RETURNING 1
            """, logger: logger)
        var isNew = false
        for try await _ in inserted.decode(Int.self) { isNew = true }
        guard isNew else { return }
        guard let file = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
        defer { try? file.close() }
        var seq: Int32 = 0
        while let piece = try file.read(upToCount: chunkSize), !piece.isEmpty {
            var encoded = try codec.encodeBlob(Array(piece))
            if let dataKey {
                encoded = EncodedBytes(codec: encoded.codec, dictionaryID: encoded.dictionaryID,
                                       bytes: try KeyStore.seal(encoded.bytes, of: id, piece: seq, using: dataKey), sealed: true)
            }
            try await connection.query("""
                INSERT INTO eventlog.blob_chunks (sha256, seq, codec, dict_id, data)
                VALUES (\(key), \(seq), \(encoded.wireCodec), \(encoded.dictionaryID == 0 ? nil : encoded.dictionaryID), \(encoded.bytes))
                """, logger: logger)
            seq += 1
        }
    }

    /// Events with their stream's key and category, for reads in log order from a cursor. The
    /// stream is looked up per event (`OFFSET 0` keeps the planner from flattening it into a
    /// join): otherwise, for categories with a stream per message or session, it hashes every
    /// such stream for each read, a cost that grows with the log where a follower reading a
    /// few hundred events from near its end should pay for those alone.
    static let eventsInReadOrder = """
        eventlog.events e CROSS JOIN LATERAL (
            SELECT st.stream_key, st.category FROM eventlog.streams st WHERE st.stream_id = e.stream_id OFFSET 0) s
        """

    static let columns = """
        e.global_position, (e.tx_id::text)::bigint, s.stream_key, e.stream_version, e.type, e.type_version,
        e.codec, e.dict_id, e.event_id, e.correlation_id, e.causation_id, e.recorded_at, e.payload
        """

    /// Loads the keys the sealed fields of `events` need, so decoding them opens those fields.
    func loadSealingKeys(of events: [RecordedEvent]) async throws {
        guard keyStore != nil else { return }
        var blobs: [BlobID] = []
        for event in events where event.json.count > 80 { blobs += DataKeys.sealedBlobs(in: event.json) }
        if !blobs.isEmpty { try await loadDataKeys(blobs) }
    }

    private func decode(_ rows: PostgresRowSequence) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        for try await row in rows.decode(
            (Int64, Int64, String, Int64, String, Int16, Int16, Int32?, UUID, UUID?, UUID?, Date, ByteBuffer).self
        ) {
            let (position, transaction, stream, version, type, typeVersion, codec, dictionaryID,
                 eventID, correlationID, causationID, recordedAt, payload) = row
            let json = try await self.codec.decode(codec: codec, dictionaryID: dictionaryID, bytes: payload,
                                                   position: position, client: client, logger: logger)
            events.append(RecordedEvent(
                position: position, transaction: UInt64(bitPattern: transaction), stream: stream,
                streamVersion: version, type: type, typeVersion: typeVersion, eventID: eventID,
                correlationID: correlationID, causationID: causationID, recordedAt: recordedAt, json: json))
        }
        try await loadSealingKeys(of: events)
        return events
    }
}

/// Stored bodies by address with a live wrap of their data key, the read behind every RETR and
/// FETCH of a body: prepared once per connection, not parsed and planned each time.
struct StoredBlobsStatement: PostgresPreparedStatement {
    static let sql = "SELECT \(EventStore.storedBlobColumns) WHERE b.sha256 = ANY($1)"
    typealias Row = EventStore.StoredBlobRow
    let keys: [ByteBuffer]

    func makeBindings() throws -> PostgresBindings { .parameters(keys) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
