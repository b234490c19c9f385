import Foundation
import Logging
import NIOCore
import PostgresNIO

/// `eventlog.append_one`: the short path for a lone append to an existing stream. No row back
/// means it did not apply and wrote nothing; the caller then goes through `append_batch`.
struct AppendOneStatement: PostgresPreparedStatement {
    static let sql = """
        WITH wraps AS (\(AppendBatchStatement.wrapInsert(from: 16)))
        SELECT current_version, positions FROM eventlog.append_one($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        """
    typealias Row = (Int64, [Int64])

    let batch: AppendBatchStatement

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 18)
        bindings.append(batch.streamKeys[0])
        bindings.append(batch.expected[0])
        bindings.append(batch.eventIDs)
        bindings.append(batch.types)
        bindings.append(batch.typeVersions)
        bindings.append(batch.codecs)
        bindings.append(batch.dictionaryIDs)
        bindings.append(batch.correlationIDs)
        bindings.append(batch.causationIDs)
        bindings.append(batch.payloads)
        bindings.append(batch.blobHashes)
        bindings.append(batch.blobSizes)
        bindings.append(batch.blobCodecs)
        bindings.append(batch.blobDictionaryIDs)
        bindings.append(batch.blobData)
        bindings.append(batch.wrapBlobs)
        bindings.append(batch.wrapKeyIDs)
        bindings.append(batch.wrapData)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
