import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresNIO
import Projections

/// The API's view of the log itself: its streams, its events with their data, each
/// projection's position and digest, and the jobs that verify the log or verify and rebuild
/// a projection.
extension AdminAPI {
    struct ProjectionInfo: Encodable, Sendable {
        let name: String
        let mode: String
        let schema: String
        let position: Int64?
        /// Events of its categories after its position (counted up to 100 000).
        let behind: Int64
        /// When the oldest of those was recorded.
        var waitingSince: Date?
        /// How long ago that was, by the database's clock.
        var waitingSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case name, mode, schema, position, behind, waitingSince = "waiting_since", waitingSeconds = "waiting_seconds"
        }
    }

    struct NewJob: Decodable {
        let kind: String
        let projection: String?
    }

    static let streams = AdminListing(
        table: "eventlog.streams",
        columns: ["stream_key AS stream", "category", "version", iso("created_at", as: "created")],
        filters: [.init(parameter: "category", column: "category", match: .equals), .init(parameter: "q", column: "stream_key", match: .contains)],
        order: "created DESC, stream")

    func addLog(to admins: RouterGroup<AdminRequestContext>) {
        admins.get("log/streams") { request, _ -> Response in
            try await Self.streams.page(request, client: environment.engine.store.client, logger: environment.logger)
        }
        admins.get("log/events", use: events)
        admins.get("projections") { _, _ -> Response in
            try Self.json(try await projectionPositions())
        }
        admins.get("projections/:name/digest") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let projection = try? environment.engine.projection(named: name) else {
                throw Problem(.notFound, "no projection named \(name)", field: "name")
            }
            let digests = try await environment.engine.digests(projection)
            return try Self.json(digests.map { ["table": $0.table, "rows": String($0.rows), "hash": $0.hash] })
        }
        admins.get("jobs") { _, _ -> Response in try Self.json(environment.jobs.all()) }
        admins.get("jobs/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let number = Int(id), let job = environment.jobs.job(number) else { throw Problem(.notFound, "no job \(id)", field: "id") }
            return try Self.json(job)
        }
        admins.post("jobs") { request, context -> Response in
            let new = try await Self.body(NewJob.self, request, context, field: "kind")
            guard let kind = AdminJobs.Kind(rawValue: new.kind) else {
                throw Problem(.unprocessableContent, "kind is one of " + AdminJobs.Kind.allCases.map(\.rawValue).joined(separator: ", "),
                              field: "kind")
            }
            if kind != .logVerify {
                guard let name = new.projection, (try? environment.engine.projection(named: name)) != nil else {
                    throw Problem(.unprocessableContent, "projection is one of "
                                  + environment.engine.projections.map(\.name).joined(separator: ", "), field: "projection")
                }
            }
            let job = environment.jobs.start(kind, projection: kind == .logVerify ? nil : new.projection, actor: context.actor)
            var response = try Self.json(job, status: .accepted)
            response.headers[.location] = "/api/v1/jobs/\(job.id)"
            return response
        }
    }

    /// GET /api/v1/log/events?after=&limit=&stream=&category=: events in log order after a
    /// position (by default the newest `limit` of the whole log), each as `log dump` prints it.
    @Sendable func events(_ request: Request, context: AdminRequestContext) async throws -> Response {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        let (events, after, next) = try await readEvents(query)
        let items = events.map { EventDumpLine($0).text }.joined(separator: ",")
        let body = "{\"items\":[\(items)],\"after\":\(after),\"next\":\(next.map(String.init) ?? "null")}"
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The events `query` asks for (`after`, `limit`, `stream`, `category`), where the read
    /// began, and the position to read after for more.
    func readEvents(_ query: [String: String]) async throws -> (events: [RecordedEvent], after: Int64, next: Int64?) {
        guard let limit = Int(query["limit"] ?? "50"), (1...1_000).contains(limit) else {
            throw Problem(.badRequest, "limit must be 1 to 1000", field: "limit")
        }
        var stream: StreamName?
        if let key = query["stream"], !key.isEmpty {
            guard !AdminListing.hasControlCharacters(key) else { throw Problem(.badRequest, "\(key) is not a stream name", field: "stream") }
            do { stream = try StreamName(key: key) } catch { throw Problem(.badRequest, "\(key) is not a stream name", field: "stream") }
        }
        let category = query["category"].flatMap { $0.isEmpty ? nil : $0 }
        if let category, category.utf8.count > 100 || AdminListing.hasControlCharacters(category) {
            throw Problem(.badRequest, "category is a stream category's name", field: "category")
        }
        let store = environment.engine.store
        var after: Int64
        if let text = query["after"], !text.isEmpty {
            guard let value = Int64(text), value >= 0 else { throw Problem(.badRequest, "after is a position from 0", field: "after") }
            after = value
        } else if stream == nil && category == nil {
            after = max(0, try await store.lastPosition() - Int64(limit))
        } else {
            after = 0
        }
        let events = try await store.read(positions: (after + 1)...Int64.max, stream: stream, category: category, limit: limit)
        return (events, after, events.last?.position)
    }

    /// Where each projection's live tables stand, and how many events of its categories wait.
    func projectionPositions() async throws -> [ProjectionInfo] {
        let engine = environment.engine
        var answer: [ProjectionInfo] = []
        for projection in engine.projections {
            // An inline projection is written in the transaction of each append it follows: it
            // stands at the last of its events, and nothing waits for it.
            guard projection.mode == .async else {
                let rows = try await engine.store.client.query("""
                    SELECT max(e.global_position) FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                    WHERE s.category = ANY(\(projection.categories))
                    """, logger: environment.logger)
                var last: Int64?
                for try await position in rows.decode(Int64?.self) { last = position }
                answer.append(ProjectionInfo(name: projection.name, mode: projection.mode.rawValue, schema: projection.schema,
                                             position: last ?? 0, behind: 0))
                continue
            }
            let position = try await engine.position(of: projection)
            var behind: Int64 = 0
            var since: Date?
            var seconds: Double?
            let rows = try await engine.store.client.query("""
                SELECT count(*), min(recorded_at), extract(epoch FROM now() - min(recorded_at))::float8 FROM (
                    SELECT e.recorded_at FROM eventlog.events e JOIN eventlog.streams s USING (stream_id)
                    WHERE e.global_position > \(position?.position ?? 0) AND s.category = ANY(\(projection.categories))
                    ORDER BY e.global_position LIMIT 100000) waiting
                """, logger: environment.logger)
            for try await (count, oldest, age) in rows.decode((Int64, Date?, Double?).self) {
                behind = count
                since = oldest
                seconds = age.map { max(0, $0) }
            }
            answer.append(ProjectionInfo(name: projection.name, mode: projection.mode.rawValue, schema: projection.schema,
                                         position: position?.position, behind: behind, waitingSince: since,
                                         waitingSeconds: seconds))
        }
        return answer
    }
}
