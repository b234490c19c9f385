import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// A read-only, paged listing of one table, filtered by query parameters: what the API serves
/// for the audit tables (LogDB, IDS, reputation, message audit). PostgreSQL renders the rows
/// as JSON objects with the table's own column names; every value from the request is a bind
/// parameter, and only the names declared here become SQL.
struct AdminListing: Sendable {
    /// How a query parameter narrows the rows.
    enum Match: Sendable {
        /// The column equals the value.
        case equals
        /// The column contains the value, in any case.
        case contains
        /// The column is at or after the time given.
        case since
        /// The column is before the time given.
        case before
        /// A number or range of numbers (`NumericFilter`).
        case number
    }

    struct Filter: Sendable {
        let parameter: String
        let column: String
        let match: Match
    }

    /// `schema.table`.
    let table: String
    /// The columns answered, in order (an expression may be given as `expression AS name`).
    let columns: [String]
    let filters: [Filter]
    /// `ORDER BY` of the listing, newest first as a rule.
    let order: String
    /// Columns the request may sort by instead (`sort=`, largest first).
    var sortable: [String] = []
    var maximumLimit = 1_000

    /// The page the request asks for: `{"items": [...], "total": N, "offset": N, "limit": N}`.
    /// `fixed` gives filters' values from elsewhere than the query (the request's path).
    func page(_ request: Request, fixed: [String: String] = [:], client: PostgresClient, logger: Logger) async throws -> Response {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        for (name, value) in fixed { query[name] = value }
        let result = try await fetch(query, client: client, logger: logger)
        let body = "{\"items\":\(result.items),\"total\":\(result.total),\"offset\":\(result.offset),\"limit\":\(result.limit)}"
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The rows `query` asks for as a JSON array, with the number of rows matching in all.
    func fetch(_ query: [String: String], client: PostgresClient,
               logger: Logger) async throws -> (items: String, total: Int64, offset: Int, limit: Int) {
        guard let offset = Int(query["offset"] ?? "0"), offset >= 0 else {
            throw Problem(.badRequest, "offset must be a whole number from 0", field: "offset")
        }
        guard let limit = Int(query["limit"] ?? "100"), (1...maximumLimit).contains(limit) else {
            throw Problem(.badRequest, "limit must be 1 to \(maximumLimit)", field: "limit")
        }
        var conditions: [String] = []
        var bindings = PostgresBindings()
        for filter in filters {
            guard let text = query[filter.parameter], !text.isEmpty else { continue }
            guard text.utf8.count <= 512 else { throw Problem(.badRequest, "\(filter.parameter) is too long", field: filter.parameter) }
            guard !Self.hasControlCharacters(text) else {
                throw Problem(.badRequest, "\(filter.parameter) holds control characters", field: filter.parameter)
            }
            switch filter.match {
            case .equals:
                bindings.append(text)
                conditions.append("\(filter.column)::text = $\(bindings.count)")
            case .contains:
                bindings.append(text)
                conditions.append("strpos(lower(\(filter.column)::text), lower($\(bindings.count))) > 0")
            case .since, .before:
                guard let time = Self.time(text) else {
                    throw Problem(.badRequest, "\(filter.parameter) is a time such as 2026-12-01T08:00:00Z or a date", field: filter.parameter)
                }
                bindings.append(time)
                conditions.append("\(filter.column) \(filter.match == .since ? ">=" : "<") $\(bindings.count)")
            case .number:
                guard let range = NumericFilter(text) else {
                    throw Problem(.badRequest, "\(filter.parameter) is a number, >N, <N or N..M", field: filter.parameter)
                }
                let (sql, values) = range.condition(column: filter.column, firstBinding: bindings.count + 1)
                for value in values { bindings.append(value) }
                conditions.append(sql)
            }
        }
        var order = self.order
        if let sort = query["sort"], !sort.isEmpty {
            guard sortable.contains(sort) else {
                throw Problem(.badRequest, "sort is one of " + sortable.joined(separator: ", "), field: "sort")
            }
            order = "\(sort) DESC, " + order
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        bindings.append(Int64(limit))
        bindings.append(Int64(offset))
        let sql = """
            WITH matching AS (SELECT \(columns.joined(separator: ", ")) FROM \(table) \(whereClause))
            SELECT coalesce((SELECT json_agg(p)::text FROM (SELECT * FROM matching ORDER BY \(order)
                                                           LIMIT $\(bindings.count - 1) OFFSET $\(bindings.count)) p), '[]'),
                   (SELECT count(*) FROM matching)
            """
        var items = "[]", total: Int64 = 0
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await (json, count) in rows.decode((String, Int64).self) {
            items = json
            total = count
        }
        return (items, total, offset, limit)
    }

    /// Whether `text` holds a character below U+0020 or DEL (PostgreSQL text cannot hold NUL,
    /// and no column searched here holds the others).
    static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }

    /// An ISO 8601 time, or a date (its start, UTC).
    static func time(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().year().month().day().parse(text)
    }
}

/// VPOP3's numeric column filters: `N`, `>N`, `<N`, `>=N`, `<=N`, or `N..M` (both ends included).
struct NumericFilter: Equatable, Sendable {
    var lower: Double?
    var upper: Double?
    var lowerIncluded = true
    var upperIncluded = true

    init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        func number(_ part: Substring) -> Double? {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.count <= 20, let value = Double(trimmed), value.isFinite else { return nil }
            return value
        }
        if let range = text.range(of: "..") {
            guard let low = number(text[..<range.lowerBound]), let high = number(text[range.upperBound...]), low <= high else { return nil }
            lower = low
            upper = high
        } else if text.hasPrefix(">=") || text.hasPrefix("<=") {
            guard let value = number(text.dropFirst(2)) else { return nil }
            if text.hasPrefix(">") { lower = value } else { upper = value }
        } else if text.hasPrefix(">") || text.hasPrefix("<") {
            guard let value = number(text.dropFirst()) else { return nil }
            if text.hasPrefix(">") {
                lower = value
                lowerIncluded = false
            } else {
                upper = value
                upperIncluded = false
            }
        } else {
            guard let value = number(Substring(text)) else { return nil }
            lower = value
            upper = value
        }
    }

    /// Whether `value` is in the filter's range.
    func contains(_ value: Double) -> Bool {
        if let lower, lowerIncluded ? value < lower : value <= lower { return false }
        if let upper, upperIncluded ? value > upper : value >= upper { return false }
        return true
    }

    /// The SQL condition on `column`, with its values bound from `$firstBinding` on.
    func condition(column: String, firstBinding: Int) -> (String, [Double]) {
        var parts: [String] = [], values: [Double] = []
        if let lower {
            values.append(lower)
            parts.append("\(column) \(lowerIncluded ? ">=" : ">") $\(firstBinding + values.count - 1)")
        }
        if let upper {
            values.append(upper)
            parts.append("\(column) \(upperIncluded ? "<=" : "<") $\(firstBinding + values.count - 1)")
        }
        return ("(" + parts.joined(separator: " AND ") + ")", values)
    }
}
