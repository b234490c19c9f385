import Foundation
import Logging
import NIOCore
import PostgresNIO

/// `eventlog.append_batch` as a prepared statement: a whole batch of appends in one round trip.
struct AppendBatchStatement: PostgresPreparedStatement {
    static let sql = """
        WITH wraps AS (\(wrapInsert(from: 20)))
        SELECT outcome, current_version, positions FROM eventlog.append_batch(
            $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
        """

    /// The statement's data keys go in with it, in its transaction (parameters `first`…`first + 2`).
    /// A wrap for a body the append then refuses is harmless: it opens nothing that is stored.
    static func wrapInsert(from first: Int) -> String {
        """
        INSERT INTO keystore.blob_keys (sha256, key_id, wrapped)
        SELECT * FROM unnest($\(first)::bytea[], $\(first + 1)::uuid[], $\(first + 2)::bytea[]) ON CONFLICT DO NOTHING
        """
    }
    typealias Row = (Int16, Int64, [Int64])

    /// Outcome codes documented on the SQL function.
    enum Outcome: Int16 {
        case appended = 0
        case wrongExpectedVersion = 1
        case alreadyAppended = 2
        case eventIDConflict = 3
        case abortedWithGroup = 4
    }

    private static let nilUUID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    var streamKeys: [String] = []
    var categories: [String] = []
    var expected: [Int64] = []
    var eventCounts: [Int32] = []
    var blobCounts: [Int32] = []
    var groups: [Int32] = []
    var eventIDs: [UUID] = []
    var types: [String] = []
    var typeVersions: [Int16] = []
    var codecs: [Int16] = []
    var dictionaryIDs: [Int32] = []
    var correlationIDs: [UUID] = []
    var causationIDs: [UUID] = []
    var payloads: [ByteBuffer] = []
    var blobHashes: [ByteBuffer] = []
    var blobSizes: [Int64] = []
    var blobCodecs: [Int16] = []
    var blobDictionaryIDs: [Int32] = []
    var blobData: [ByteBuffer] = []
    var wrapBlobs: [ByteBuffer] = []
    var wrapKeyIDs: [UUID] = []
    var wrapData: [ByteBuffer] = []

    init(groups: [PreparedGroup]) {
        for (groupIndex, group) in groups.enumerated() {
            for append in group.appends {
                streamKeys.append(append.stream.key)
                categories.append(append.stream.category)
                expected.append(append.expected.wireValue)
                eventCounts.append(Int32(append.events.count))
                blobCounts.append(Int32(append.blobs.count))
                self.groups.append(Int32(groupIndex + 1))
                for event in append.events {
                    eventIDs.append(event.eventID)
                    types.append(event.type)
                    typeVersions.append(event.typeVersion)
                    codecs.append(event.payload.codec.rawValue)
                    dictionaryIDs.append(event.payload.dictionaryID)
                    correlationIDs.append(event.correlationID ?? Self.nilUUID)
                    causationIDs.append(event.causationID ?? Self.nilUUID)
                    payloads.append(event.payload.bytes)
                }
                for blob in append.blobs {
                    blobHashes.append(ByteBuffer(bytes: blob.id.bytes))
                    blobSizes.append(blob.size)
                    blobCodecs.append(blob.contents.wireCodec)
                    blobDictionaryIDs.append(blob.contents.dictionaryID)
                    blobData.append(blob.contents.bytes)
                }
                for wrap in append.wraps {
                    wrapBlobs.append(ByteBuffer(bytes: wrap.blob.bytes))
                    wrapKeyIDs.append(wrap.keyID)
                    wrapData.append(ByteBuffer(bytes: wrap.wrapped))
                }
            }
        }
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 22)
        bindings.append(streamKeys)
        bindings.append(categories)
        bindings.append(expected)
        bindings.append(eventCounts)
        bindings.append(blobCounts)
        bindings.append(groups)
        bindings.append(eventIDs)
        bindings.append(types)
        bindings.append(typeVersions)
        bindings.append(codecs)
        bindings.append(dictionaryIDs)
        bindings.append(correlationIDs)
        bindings.append(causationIDs)
        bindings.append(payloads)
        bindings.append(blobHashes)
        bindings.append(blobSizes)
        bindings.append(blobCodecs)
        bindings.append(blobDictionaryIDs)
        bindings.append(blobData)
        bindings.append(wrapBlobs)
        bindings.append(wrapKeyIDs)
        bindings.append(wrapData)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

extension AppendBatchStatement {
    /// Runs a batch on `connection`; returns, per group, its results or the error its appends met.
    static func run(_ groups: [PreparedGroup], on connection: PostgresConnection,
                    logger: Logger) async throws -> [Result<[AppendResult], any Error>] {
        let statement = AppendBatchStatement(groups: groups)
        if groups.count == 1, groups[0].appends.count == 1 {
            for try await (version, positions) in try await connection.execute(AppendOneStatement(batch: statement), logger: logger) {
                if positions.count == groups[0].appends[0].events.count {
                    return [.success([AppendResult(stream: groups[0].appends[0].stream.key, positions: positions,
                                                   streamVersion: version, wasAlreadyAppended: false)])]
                }
            }
        }
        var rows: [Row] = []
        for try await row in try await connection.execute(statement, logger: logger) {
            rows.append(row)
        }
        let appendCount = groups.reduce(0) { $0 + $1.appends.count }
        guard rows.count == appendCount else {
            throw EventLogError.unexpectedReply("append_batch returned \(rows.count) rows for \(appendCount) appends")
        }
        var results: [Result<[AppendResult], any Error>] = []
        var index = 0
        for group in groups {
            var appended: [AppendResult] = []
            var failure: (any Error)?
            for append in group.appends {
                let (code, currentVersion, positions) = rows[index]
                index += 1
                switch Outcome(rawValue: code) {
                case .appended, .alreadyAppended:
                    appended.append(AppendResult(
                        stream: append.stream.key, positions: positions, streamVersion: currentVersion,
                        wasAlreadyAppended: code == Outcome.alreadyAppended.rawValue))
                case .wrongExpectedVersion:
                    failure = WrongExpectedVersion(stream: append.stream.key, expected: append.expected, actual: currentVersion)
                case .eventIDConflict:
                    if failure == nil { failure = EventLogError.eventIDConflict(stream: append.stream.key) }
                case .abortedWithGroup:
                    break
                case nil:
                    throw EventLogError.unexpectedReply("append_batch outcome \(code)")
                }
            }
            results.append(failure.map { .failure($0) } ?? .success(appended))
        }
        return results
    }
}
