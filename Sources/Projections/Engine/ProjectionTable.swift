/// A table a projection writes: its columns, the first `primaryKeyCount` of which are the key.
///
/// Projection tables carry no unique constraint besides the key and no foreign keys: the events
/// already obey those rules, and rows written in one bulk statement may pass through states a
/// constraint would reject.
public struct ProjectionTable: Sendable {
    public enum ColumnType: String, Sendable {
        case bigint, integer, text, boolean, bytea, jsonb, timestamptz
        case double = "double precision"
        case textArray = "text[]"
    }

    public struct Column: Sendable {
        public let name: String
        public let type: ColumnType
        public init(_ name: String, _ type: ColumnType) {
            self.name = name
            self.type = type
        }
    }

    /// A non-unique index: its columns and, for a partial index, the rows it holds (a SQL
    /// condition over the table's columns). Written as a column list when it holds every row.
    public struct Index: Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
        public let columns: [String]
        public let predicate: String?

        public init(_ columns: [String], where predicate: String? = nil) {
            self.columns = columns
            self.predicate = predicate
        }

        public init(arrayLiteral columns: String...) {
            self.init(columns)
        }

        /// As the column list prints, with the condition after it: part of a projection's definition.
        public var description: String {
            "\(columns)" + (predicate.map { " where \($0)" } ?? "")
        }
    }

    public let name: String
    public let columns: [Column]
    public let primaryKeyCount: Int
    /// Non-unique indexes.
    public let indexes: [Index]
    let columnIndex: [String: Int]

    public init(_ name: String, columns: [Column], primaryKey: Int, indexes: [Index] = []) {
        precondition(ProjectionTarget.isIdentifier(name), "bad table name \(name)")
        precondition(primaryKey >= 1 && primaryKey <= columns.count)
        self.name = name
        self.columns = columns
        self.primaryKeyCount = primaryKey
        self.indexes = indexes
        var columnIndex: [String: Int] = [:]
        for (index, column) in columns.enumerated() {
            precondition(ProjectionTarget.isIdentifier(column.name), "bad column name \(column.name)")
            columnIndex[column.name] = index
        }
        self.columnIndex = columnIndex
    }

    var keyColumns: ArraySlice<Column> { columns[..<primaryKeyCount] }

    /// The index of a column; a misspelt name is a programming error.
    func index(of column: String) -> Int {
        guard let index = columnIndex[column] else { preconditionFailure("table \(name) has no column \(column)") }
        return index
    }

    /// The CREATE statements for this table under `qualifiedName`: the table with its key, then
    /// its other indexes unless `withIndexes` is false (a build from the log creates those once
    /// its rows are in, with `indexStatements`).
    func createStatements(qualifiedName: String, indexPrefix: String, withIndexes: Bool = true) -> [String] {
        let columnList = columns.map { "\($0.name) \($0.type.rawValue)" }.joined(separator: ", ")
        let key = keyColumns.map(\.name).joined(separator: ", ")
        let table = "CREATE TABLE \(qualifiedName) (\(columnList), PRIMARY KEY (\(key)))"
        return [table] + (withIndexes ? indexStatements(qualifiedName: qualifiedName, indexPrefix: indexPrefix) : [])
    }

    /// The CREATE statements of the non-unique indexes.
    func indexStatements(qualifiedName: String, indexPrefix: String) -> [String] {
        indexes.enumerated().map { number, index in
            let predicate = index.predicate.map { " WHERE \($0)" } ?? ""
            return "CREATE INDEX \(indexPrefix)\(name)_\(number) ON \(qualifiedName) (\(index.columns.joined(separator: ", ")))"
                + predicate
        }
    }
}
