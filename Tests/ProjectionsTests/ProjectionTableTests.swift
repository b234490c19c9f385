@testable import Projections
import Testing

/// How a projection table's indexes are created and how they enter the projection's definition.
@Suite("Projection tables, without a database")
struct ProjectionTableTests {
    static let table = ProjectionTable("queue", columns: [
        .init("id", .text), .init("created", .timestamptz), .init("finished", .timestamptz),
    ], primaryKey: 1, indexes: [["created"], .init(["created", "id"], where: "finished IS NULL")])

    @Test("a partial index is created with its condition, a plain one without")
    func createStatements() {
        let statements = Self.table.createStatements(qualifiedName: "s.queue", indexPrefix: "")
        #expect(statements == [
            "CREATE TABLE s.queue (id text, created timestamptz, finished timestamptz, PRIMARY KEY (id))",
            "CREATE INDEX queue_0 ON s.queue (created)",
            "CREATE INDEX queue_1 ON s.queue (created, id) WHERE finished IS NULL",
        ])
    }

    @Test("a plain index reads in the definition as the column list always did, so tables without a partial index are not rebuilt")
    func definitionText() {
        #expect(ProjectionTable.Index(["finishedtime", "priority", "created"]).description == #"["finishedtime", "priority", "created"]"#)
        #expect("\(["finishedtime", "priority", "created"])" == #"["finishedtime", "priority", "created"]"#)
        #expect(ProjectionTable.Index(["a"], where: "b IS NULL").description == #"["a"] where b IS NULL"#)
    }
}
