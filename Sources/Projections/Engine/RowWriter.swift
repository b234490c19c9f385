import Foundation
import Logging
import PostgresNIO

/// A change to one column of an existing row.
public enum ColumnChange: Sendable {
    case set(ProjectionValue)
    /// Adds to a `bigint` column.
    case add(Int64)
    /// Raises a `bigint` column to at least this value.
    case atLeast(Int64)
}

/// A change to a row that is created when missing: counters and first/last-seen times.
public enum Tally: Sendable {
    /// Adds to a `bigint` column (a missing row starts from zero).
    case add(Int64)
    /// Keeps the smaller of the stored and the given value.
    case earliest(ProjectionValue)
    /// Keeps the larger of the stored and the given value.
    case latest(ProjectionValue)
    case set(ProjectionValue)
}

/// What `apply` writes: inserts (replacing any row with the same key), changes to columns of
/// rows by key, deletes by key, and deletes by key prefix. `apply` never reads a row back —
/// whatever it needs is in the event — so writes are buffered, merged per key and sent as a
/// few bulk statements per table: the same code serves one inline event and a rebuild of
/// millions.
public final class RowWriter {
    enum Pending: Sendable {
        case insert([ProjectionValue])
        case update([Int: ColumnChange])
        case tally([Int: Tally])
        case delete
    }

    /// Rows of `table` whose key starts with one of `prefixes` (all of one length).
    struct PrefixDeletes: Sendable {
        let table: ProjectionTable
        var prefixes: [[ProjectionValue]]
    }

    /// Every row of `table`: ends the step before it.
    struct Barrier: Sendable {
        let table: ProjectionTable
    }

    /// Rows whose `column` is older than `day` less the window in days that the projection's
    /// own `windowTable` holds (its `days` column; `defaultDays` when it has no row).
    struct Retention: Sendable {
        let table: ProjectionTable
        let column: String
        let day: ProjectionValue
        let windowTable: ProjectionTable
        let defaultDays: Int
    }

    /// Sets `changes` on every row whose `column` equals `value`.
    struct BulkUpdate: Sendable {
        let table: ProjectionTable
        let column: String
        let value: ProjectionValue
        /// Only rows where this column is null.
        let onlyWhereNull: String?
        let changes: [(column: String, value: ProjectionValue)]
    }

    enum Step: Sendable {
        /// `deletes` run first, then `rows`.
        case writes(tables: [String: ProjectionTable], rows: [String: [[ProjectionValue]: Pending]], deletes: [PrefixDeletes])
        case deleteAll(Barrier)
        case retain(Retention)
        case updateWhere(BulkUpdate)
    }

    private var steps: [Step] = []
    private var currentTables: [String: ProjectionTable] = [:]
    /// Pending changes by table name, then key; mutated in place, never copied.
    private var currentRows: [String: [[ProjectionValue]: Pending]] = [:]
    /// Deletions by key prefix that run before the current step's rows, by table and prefix length.
    private var currentDeletes: [String: PrefixDeletes] = [:]
    public private(set) var pendingCount = 0

    public init() {}

    /// Inserts a row (all columns, in table order), replacing any row with the same key.
    public func insert(into table: ProjectionTable, _ row: [ProjectionValue]) {
        precondition(row.count == table.columns.count, "\(table.name): \(row.count) values for \(table.columns.count) columns")
        let key = Array(row[..<table.primaryKeyCount])
        record(table, key: key, .insert(row))
    }

    /// Inserts a row given by column name; columns not named are null.
    public func insert(into table: ProjectionTable, _ values: KeyValuePairs<String, ProjectionValue>) {
        var row = [ProjectionValue](repeating: .null, count: table.columns.count)
        for (column, value) in values { row[table.index(of: column)] = value }
        insert(into: table, row)
    }

    /// Changes columns of the row with `key`; nothing happens when there is no such row.
    public func update(_ table: ProjectionTable, key: [ProjectionValue], _ changes: KeyValuePairs<String, ColumnChange>) {
        precondition(key.count == table.primaryKeyCount)
        var indexed: [Int: ColumnChange] = [:]
        for (column, change) in changes {
            let index = table.index(of: column)
            precondition(index >= table.primaryKeyCount, "\(table.name): key column \(column) cannot change")
            indexed[index] = change
        }
        record(table, key: key, .update(indexed))
    }

    public func delete(from table: ProjectionTable, key: [ProjectionValue]) {
        precondition(key.count == table.primaryKeyCount)
        record(table, key: key, .delete)
    }

    /// Deletes every row whose key starts with `prefix`. With a prefix, it joins the current
    /// step instead of ending it (an expunge per message would otherwise cut a rebuild into
    /// thousands of statements): the step's pending changes to those rows are dropped, since the
    /// deletion would undo them, and the deletion runs before the step's rows, so the changes
    /// made after it still land.
    public func deleteAll(from table: ProjectionTable, where prefix: [ProjectionValue]) {
        precondition(prefix.count <= table.primaryKeyCount)
        pendingCount += 1
        guard !prefix.isEmpty else {
            closeCurrent()
            steps.append(.deleteAll(Barrier(table: table)))
            return
        }
        if let pending = currentRows[table.name] {
            for key in pending.keys where key.starts(with: prefix) { currentRows[table.name]?.removeValue(forKey: key) }
        }
        currentTables[table.name] = table
        currentDeletes["\(table.name)/\(prefix.count)", default: PrefixDeletes(table: table, prefixes: [])].prefixes.append(prefix)
    }

    /// Creates the row with `key` when missing, then applies `changes` to it.
    public func tally(_ table: ProjectionTable, key: [ProjectionValue], _ changes: KeyValuePairs<String, Tally>) {
        precondition(key.count == table.primaryKeyCount)
        var indexed: [Int: Tally] = [:]
        for (column, change) in changes {
            let index = table.index(of: column)
            precondition(index >= table.primaryKeyCount, "\(table.name): key column \(column) cannot change")
            indexed[index] = change
        }
        record(table, key: key, .tally(indexed))
    }

    /// Sets columns on every row whose `column` equals `value`, after the writes before it.
    public func updateAll(_ table: ProjectionTable, where column: String, equals value: ProjectionValue,
                          onlyWhereNull: String? = nil, set changes: [(column: String, value: ProjectionValue)]) {
        _ = table.index(of: column)
        if let onlyWhereNull { _ = table.index(of: onlyWhereNull) }
        for change in changes { _ = table.index(of: change.column) }
        closeCurrent()
        steps.append(.updateWhere(BulkUpdate(table: table, column: column, value: value, onlyWhereNull: onlyWhereNull, changes: changes)))
        pendingCount += 1
    }

    /// The day each table's retention was last asked for.
    private var retainedDays: [String: ProjectionValue] = [:]

    /// Deletes the rows of `table` whose `column` lies more than the window before `day` (the
    /// start of the UTC day of the event being applied; the window in days is in
    /// `windowTable`, written by the same projection). Every row a projection writes must carry
    /// the time of the event writing it in `column`: then a second request for the same day,
    /// with the same window, can delete nothing and is dropped.
    public func retain(_ table: ProjectionTable, column: String, day: Date, windowTable: ProjectionTable, defaultDays: Int) {
        _ = table.index(of: column)
        let dayValue = ProjectionValue.timestamp(day)
        guard retainedDays[table.name] != dayValue else { return }
        retainedDays[table.name] = dayValue
        closeCurrent()
        steps.append(.retain(Retention(table: table, column: column, day: dayValue, windowTable: windowTable,
                                       defaultDays: defaultDays)))
        pendingCount += 1
    }

    /// The window changed: the next `retain` for each table runs again.
    public func windowChanged() {
        retainedDays = [:]
    }

    private func closeCurrent() {
        if !currentRows.isEmpty || !currentDeletes.isEmpty {
            steps.append(.writes(tables: currentTables, rows: currentRows,
                                 deletes: currentDeletes.keys.sorted().map { currentDeletes[$0]! }))
            currentRows = [:]
            currentDeletes = [:]
        }
    }

    private func record(_ table: ProjectionTable, key: [ProjectionValue], _ change: Pending) {
        let merged: Pending?
        if let existing = currentRows[table.name]?[key] {
            merged = Self.merge(existing, change)
        } else {
            merged = change
            pendingCount += 1
        }
        guard let merged else {
            // Two changes to one column that do not combine: keep them in order.
            closeCurrent()
            record(table, key: key, change)
            return
        }
        currentTables[table.name] = table
        currentRows[table.name, default: [:]][key] = merged
    }

    static func merge(_ first: Pending, _ second: Pending) -> Pending? {
        switch (first, second) {
        case (_, .insert), (_, .delete):
            return second
        case (.delete, .update):
            return .delete
        case (.delete, .tally):
            // The delete must reach the table first: the tally then starts a new row.
            return nil
        case (.insert(var row), .tally(let changes)):
            for (index, change) in changes {
                guard let value = tallied(row[index], change) else { return nil }
                row[index] = value
            }
            return .insert(row)
        case (.tally(var existing), .tally(let changes)):
            for (index, change) in changes {
                guard let earlier = existing[index] else {
                    existing[index] = change
                    continue
                }
                switch (earlier, change) {
                case (.add(let a), .add(let b)): existing[index] = .add(a + b)
                case (.earliest(let a), .earliest(let b)): existing[index] = .earliest(ordered(a, b) ? a : b)
                case (.latest(let a), .latest(let b)): existing[index] = .latest(ordered(a, b) ? b : a)
                case (_, .set): existing[index] = change
                default: return nil
                }
            }
            return .tally(existing)
        case (.tally, .update), (.update, .tally):
            return nil
        case (.insert(var row), .update(let changes)):
            for (index, change) in changes {
                switch (change, row[index]) {
                case (.set(let value), _): row[index] = value
                case (.add(let delta), .int(let value)): row[index] = .int(value + delta)
                case (.atLeast(let floor), .int(let value)): row[index] = .int(max(value, floor))
                case (.add, _), (.atLeast, _): return nil
                }
            }
            return .insert(row)
        case (.update(var existing), .update(let changes)):
            for (index, change) in changes {
                guard let earlier = existing[index] else {
                    existing[index] = change
                    continue
                }
                switch (earlier, change) {
                case (_, .set): existing[index] = change
                case (.add(let a), .add(let b)): existing[index] = .add(a + b)
                case (.atLeast(let a), .atLeast(let b)): existing[index] = .atLeast(max(a, b))
                case (.set(.int(let value)), .add(let b)): existing[index] = .set(.int(value + b))
                case (.set(.int(let value)), .atLeast(let b)): existing[index] = .set(.int(max(value, b)))
                default: return nil
                }
            }
            return .update(existing)
        }
    }

    /// `value` after `change`; nil when they do not combine.
    static func tallied(_ value: ProjectionValue, _ change: Tally) -> ProjectionValue? {
        switch (change, value) {
        case (.add(let delta), .int(let current)): return .int(current + delta)
        case (.add(let delta), .null): return .int(delta)
        case (.add, _): return nil
        case (.earliest(let given), _): return value == .null || ordered(given, value) ? given : value
        case (.latest(let given), _): return value == .null || ordered(value, given) ? given : value
        case (.set(let given), _): return given
        }
    }

    /// Whether `a` sorts before `b` or equals it, as PostgreSQL compares the column types used.
    static func ordered(_ a: ProjectionValue, _ b: ProjectionValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): x <= y
        case (.timestamp(let x), .timestamp(let y)): x <= y
        case (.double(let x), .double(let y)): x <= y
        case (.null, _): false
        default: true
        }
    }

    /// Sends every buffered write to `target` on `connection`, in order, and empties the buffer.
    /// `guardPlanner` is for tables that may be growing faster than their statistics (a
    /// rebuild, an async projection catching up); an inline write to live tables skips it.
    public func flush(to target: ProjectionTarget, on connection: PostgresConnection, logger: Logger,
                      guardPlanner: Bool = true) async throws {
        try await Self.write(takeWrites(), to: target, on: connection, logger: logger, guardPlanner: guardPlanner)
    }

    /// Every write buffered so far, in order, taken out of the writer: a rebuild goes on
    /// applying events into the emptied writer while these are written.
    public struct Writes: Sendable {
        fileprivate let steps: [Step]
        public var isEmpty: Bool { steps.isEmpty }
    }

    public func takeWrites() -> Writes {
        closeCurrent()
        let steps = self.steps
        self.steps = []
        pendingCount = 0
        return Writes(steps: steps)
    }

    /// Sends `writes` to `target` on `connection`, in order; `guardPlanner` as for `flush`.
    public static func write(_ writes: Writes, to target: ProjectionTarget, on connection: PostgresConnection,
                             logger: Logger, guardPlanner: Bool = true) async throws {
        let steps = writes.steps
        guard !steps.isEmpty else { return }
        guard guardPlanner else {
            try await write(steps, to: target, on: connection, logger: logger)
            return
        }
        // Keyed writes are index lookups per row. Tables being rebuilt grow from empty faster
        // than their statistics follow, and a planner that believes them tiny joins the batch
        // by scanning the whole table: rule that out for the length of the flush.
        let settings = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'),
                   set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)
            """), logger: logger)
        var previous = ("on", "on")
        for try await (hash, merge, _, _) in settings.decode((String, String, String, String).self) { previous = (hash, merge) }
        try await write(steps, to: target, on: connection, logger: logger)
        _ = try await connection.query("""
            SELECT set_config('enable_hashjoin', \(previous.0), true), set_config('enable_mergejoin', \(previous.1), true)
            """, logger: logger)
    }

    private static func write(_ steps: [Step], to target: ProjectionTarget, on connection: PostgresConnection,
                       logger: Logger) async throws {
        for step in steps {
            switch step {
            case .deleteAll(let barrier):
                try await Self.deleteAll(barrier, target: target, on: connection, logger: logger)
            case .retain(let retention):
                try await Self.retain(retention, target: target, on: connection, logger: logger)
            case .updateWhere(let update):
                try await Self.updateWhere(update, target: target, on: connection, logger: logger)
            case .writes(let tables, let rows, let deletes):
                for group in deletes {
                    try await Self.delete(group, target: target, on: connection, logger: logger)
                }
                var statements: [Statement] = []
                for name in rows.keys.sorted() {
                    statements += Self.statements(tables[name]!, rows: rows[name]!, target: target)
                }
                try await Self.run(statements, on: connection, logger: logger)
            }
        }
    }

    private static func delete(_ group: PrefixDeletes, target: ProjectionTarget, on connection: PostgresConnection,
                               logger: Logger) async throws {
        var json: [UInt8] = []
        JSONRows.write(group.prefixes, to: &json)
        let columns = Array(group.table.columns[..<group.prefixes[0].count])
        let condition = columns.map { "t.\($0.name) = v.\($0.name)" }.joined(separator: " AND ")
        let sql = """
            DELETE FROM \(target.qualified(group.table.name)) t USING \(JSONRows.source(columns)) \
            WHERE \(condition)
            """
        try await run(sql, json: json, on: connection, logger: logger)
    }

    /// Empties a table (a prefix delete joins its step instead: `delete(_:target:on:logger:)`).
    private static func deleteAll(_ barrier: Barrier, target: ProjectionTarget, on connection: PostgresConnection,
                                  logger: Logger) async throws {
        _ = try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(target.qualified(barrier.table.name))"),
                                       logger: logger)
    }

    private static func retain(_ retention: Retention, target: ProjectionTarget, on connection: PostgresConnection,
                               logger: Logger) async throws {
        var json: [UInt8] = []
        JSONRows.write([[retention.day]], to: &json)
        let sql = """
            DELETE FROM \(target.qualified(retention.table.name)) t \
            USING \(JSONRows.source([ProjectionTable.Column("day", .timestamptz)])) \
            WHERE t.\(retention.column) < v.day - make_interval(days => \
            coalesce((SELECT days FROM \(target.qualified(retention.windowTable.name)) LIMIT 1), \(retention.defaultDays))::int)
            """
        try await run(sql, json: json, on: connection, logger: logger)
    }

    private static func updateWhere(_ update: BulkUpdate, target: ProjectionTarget, on connection: PostgresConnection,
                                    logger: Logger) async throws {
        let table = update.table
        let columns = [table.columns[table.index(of: update.column)]] + update.changes.map { table.columns[table.index(of: $0.column)] }
        var json: [UInt8] = []
        JSONRows.write([[update.value] + update.changes.map(\.value)], to: &json)
        let typed = columns.enumerated().map { "c\($0.offset) \($0.element.type.rawValue)" }.joined(separator: ", ")
        let assignments = update.changes.enumerated().map { "\($0.element.column) = v.c\($0.offset + 1)" }.joined(separator: ", ")
        let sql = """
            UPDATE \(target.qualified(table.name)) t SET \(assignments) \
            FROM jsonb_to_recordset($1::jsonb) AS v(\(typed)) WHERE t.\(update.column) = v.c0\
            \(update.onlyWhereNull.map { " AND t.\($0) IS NULL" } ?? "")
            """
        try await run(sql, json: json, on: connection, logger: logger)
    }

    /// One write: its SQL, given the number of the parameter its rows come in, and the rows as JSON.
    struct Statement {
        let sql: (_ parameter: Int) -> String
        let json: [UInt8]
    }

    /// The statements that write `rows` to `table`: at most one per table and kind of change,
    /// each touching rows no other touches.
    private static func statements(_ table: ProjectionTable, rows: [[ProjectionValue]: Pending],
                                   target: ProjectionTarget) -> [Statement] {
        var statements: [Statement] = []
        var deletes: [[ProjectionValue]] = []
        var inserts: [[ProjectionValue]] = []
        var updates: [[Int]: [[ProjectionValue]]] = [:]
        var kinds: [[Int]: [Int: ColumnChange]] = [:]
        var tallies: [[Int]: [[ProjectionValue]]] = [:]
        var tallyKinds: [[Int]: [Int: Tally]] = [:]
        for (key, pending) in rows {
            switch pending {
            case .delete: deletes.append(key)
            case .insert(let row): inserts.append(row)
            case .tally(let changes):
                let signature = changes.keys.sorted().flatMap { index -> [Int] in
                    switch changes[index]! {
                    case .add: [index, 0]
                    case .earliest: [index, 1]
                    case .latest: [index, 2]
                    case .set: [index, 3]
                    }
                }
                var values = key
                for index in changes.keys.sorted() {
                    switch changes[index]! {
                    case .add(let delta): values.append(.int(delta))
                    case .earliest(let value), .latest(let value), .set(let value): values.append(value)
                    }
                }
                tallies[signature, default: []].append(values)
                tallyKinds[signature] = changes
            case .update(let changes):
                // Group updates by which columns change and how, so each group is one statement.
                let signature = changes.keys.sorted().flatMap { index -> [Int] in
                    switch changes[index]! {
                    case .set: [index, 0]
                    case .add: [index, 1]
                    case .atLeast: [index, 2]
                    }
                }
                var values = key
                for index in changes.keys.sorted() {
                    switch changes[index]! {
                    case .set(let value): values.append(value)
                    case .add(let delta): values.append(.int(delta))
                    case .atLeast(let floor): values.append(.int(floor))
                    }
                }
                updates[signature, default: []].append(values)
                kinds[signature] = changes
            }
        }
        let name = target.qualified(table.name)
        let keyColumns = Array(table.keyColumns)
        let keyMatch = keyColumns.map { "t.\($0.name) = v.\($0.name)" }.joined(separator: " AND ")
        if !deletes.isEmpty {
            var json: [UInt8] = []
            JSONRows.write(deletes, to: &json)
            statements.append(Statement(sql: { "DELETE FROM \(name) t USING \(JSONRows.source(keyColumns, parameter: $0)) WHERE \(keyMatch)" },
                                        json: json))
        }
        if !inserts.isEmpty {
            var json: [UInt8] = []
            JSONRows.write(inserts, to: &json)
            let names = table.columns.map(\.name).joined(separator: ", ")
            let others = table.columns[table.primaryKeyCount...]
            let conflict = others.isEmpty ? "DO NOTHING"
                : "DO UPDATE SET " + others.map { "\($0.name) = EXCLUDED.\($0.name)" }.joined(separator: ", ")
            let conflictColumns = keyColumns.map(\.name).joined(separator: ", ")
            statements.append(Statement(sql: { """
                INSERT INTO \(name) (\(names)) SELECT \(names) FROM \(JSONRows.source(table.columns, parameter: $0)) \
                ON CONFLICT (\(conflictColumns)) \(conflict)
                """ }, json: json))
        }
        for signature in updates.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let changes = kinds[signature]!
            let changed = changes.keys.sorted()
            let columns = keyColumns + changed.map { table.columns[$0] }
            let assignments = changed.map { index -> String in
                let column = table.columns[index].name
                switch changes[index]! {
                case .set: return "\(column) = v.\(column)"
                case .add: return "\(column) = t.\(column) + v.\(column)"
                case .atLeast: return "\(column) = greatest(t.\(column), v.\(column))"
                }
            }.joined(separator: ", ")
            var json: [UInt8] = []
            JSONRows.write(updates[signature]!, to: &json)
            statements.append(Statement(sql: { "UPDATE \(name) t SET \(assignments) FROM \(JSONRows.source(columns, parameter: $0)) WHERE \(keyMatch)" },
                                        json: json))
        }
        for signature in tallies.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let changes = tallyKinds[signature]!
            let changed = changes.keys.sorted()
            let columns = keyColumns + changed.map { table.columns[$0] }
            let names = columns.map(\.name).joined(separator: ", ")
            let assignments = changed.map { index -> String in
                let column = table.columns[index].name
                switch changes[index]! {
                case .add: return "\(column) = coalesce(t.\(column), 0) + EXCLUDED.\(column)"
                case .earliest: return "\(column) = least(t.\(column), EXCLUDED.\(column))"
                case .latest: return "\(column) = greatest(t.\(column), EXCLUDED.\(column))"
                case .set: return "\(column) = EXCLUDED.\(column)"
                }
            }.joined(separator: ", ")
            let conflictColumns = keyColumns.map(\.name).joined(separator: ", ")
            var json: [UInt8] = []
            JSONRows.write(tallies[signature]!, to: &json)
            statements.append(Statement(sql: { """
                INSERT INTO \(name) AS t (\(names)) SELECT \(names) FROM \(JSONRows.source(columns, parameter: $0)) \
                ON CONFLICT (\(conflictColumns)) DO UPDATE SET \(assignments)
                """ }, json: json))
        }
        return statements
    }

    /// Runs `statements` as one: data-modifying WITH clauses in a single round trip. They touch
    /// disjoint rows, so seeing one snapshot together changes nothing; constraints are still
    /// checked, at the end of the statement.
    private static func run(_ statements: [Statement], on connection: PostgresConnection, logger: Logger) async throws {
        guard statements.count > 1 else {
            if let statement = statements.first { try await run(statement.sql(1), json: statement.json, on: connection, logger: logger) }
            return
        }
        let clauses = statements.enumerated().map { index, statement in "w\(index) AS (\(statement.sql(index + 1)))" }
        var query = PostgresQuery(unsafeSQL: "WITH " + clauses.joined(separator: ", ") + " SELECT 1")
        for statement in statements { query.binds.append(String(decoding: statement.json, as: UTF8.self), context: .default) }
        _ = try await connection.query(query, logger: logger)
    }

    private static func run(_ sql: String, json: [UInt8], on connection: PostgresConnection, logger: Logger) async throws {
        var query = PostgresQuery(unsafeSQL: sql)
        query.binds.append(String(decoding: json, as: UTF8.self), context: .default)
        _ = try await connection.query(query, logger: logger)
    }
}

/// Rows sent as one JSON array of arrays and unpacked by PostgreSQL.
enum JSONRows {
    static func write(_ rows: [[ProjectionValue]], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (rowIndex, row) in rows.enumerated() {
            if rowIndex > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            for (index, value) in row.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: "\"c\(index)\":".utf8)
                value.writeJSON(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    /// `(SELECT … FROM jsonb_to_recordset($1)) AS v(columns)`, naming the columns back.
    static func source(_ columns: [ProjectionTable.Column], parameter: Int = 1) -> String {
        let typed = columns.enumerated().map { "c\($0.offset) \($0.element.type.rawValue)" }.joined(separator: ", ")
        let renamed = columns.enumerated().map { "c\($0.offset) AS \($0.element.name)" }.joined(separator: ", ")
        return "(SELECT \(renamed) FROM jsonb_to_recordset($\(parameter)::jsonb) AS r(\(typed))) AS v"
    }
}
