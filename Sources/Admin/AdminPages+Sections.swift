import EventLog
import Facts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// What each page shows, read from the projections, the live directory and the log.
extension AdminPages {
    /// The status page: totals, charts, connections, jobs and the latest events.
    func status() async throws -> [String: Any] {
        let client = environment.engine.store.client, logger = environment.logger
        var page: [String: Any] = [:]
        let totals = try await client.query("""
            SELECT count(*) FILTER (WHERE NOT m.held), count(*) FILTER (WHERE m.held)
            FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid) WHERE r.finished IS NULL
            """, logger: logger)
        for try await (queued, held) in totals.decode((Int64, Int64).self) {
            page["queued"] = queued
            page["held"] = held
        }
        let snapshot = environment.directory.snapshot
        page["users"] = snapshot.users.count
        page["domains"] = snapshot.domains.count
        let blocks = try await client.query("SELECT count(*) FROM security.blocks WHERE until > now()", logger: logger)
        for try await count in blocks.decode(Int64.self) { page["blocked"] = count }

        // Per hour for the last 24: messages accepted (LogDB) and recipients sent (the queue's
        // attempts), and the queue's size at the end of each hour.
        let hours = try await client.query("""
            WITH hours AS (SELECT generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()),
                                                  interval '1 hour') AS hour)
            SELECT to_char(h.hour AT TIME ZONE 'UTC', 'HH24'),
                   (SELECT count(*) FROM logdb.messages m WHERE m.datetime >= h.hour AND m.datetime < h.hour + interval '1 hour'
                                                          AND m.errorcode = ''),
                   (SELECT count(*) FROM outqueue.outrecipients r WHERE r.status = 'delivered'
                                                                    AND r.finished >= h.hour AND r.finished < h.hour + interval '1 hour'),
                   (SELECT count(*) FROM outqueue.outrecipients r JOIN outqueue.outmessages m USING (msgid)
                    WHERE m.created < h.hour + interval '1 hour' AND (r.finished IS NULL OR r.finished >= h.hour + interval '1 hour'))
            FROM hours h ORDER BY h.hour
            """, logger: logger)
        var traffic: [AdminCharts.Bar] = [], queueSizes: [AdminCharts.Bar] = []
        var acceptedToday: Int64 = 0
        for try await (hour, accepted, delivered, queued) in hours.decode((String, Int64, Int64, Int64).self) {
            traffic.append(.init(label: hour, values: [Double(accepted), Double(delivered)]))
            queueSizes.append(.init(label: hour, values: [Double(queued)]))
            acceptedToday += accepted
        }
        page["accepted"] = acceptedToday
        page["traffic"] = AdminCharts.bars(traffic, series: ["received", "delivered"], title: "Messages per hour (UTC)")
        page["queue_chart"] = AdminCharts.bars(queueSizes, series: ["in the queue"], colours: ["#e08a1e"],
                                               title: "Recipients in the queue at the end of each hour (UTC)")

        var runs: [String: (Date?, String, Date?, Bool)] = [:]
        let connections = try await client.query("""
            SELECT name, laststart, coalesce(lastresult, ''), nextpoll, coalesce(paused, false) FROM outqueue.connections
            """, logger: logger)
        for try await (name, start, result, next, paused) in connections.decode((String, Date?, String, Date?, Bool).self) {
            runs[name.lowercased()] = (start, result, next, paused)
        }
        var rows: [[String: Any]] = []
        for connection in MailConnections(environment.settings.value(SettingKey.connections)).all {
            let (start, result, next, paused) = runs[connection.name.lowercased()] ?? (nil, "", nil, false)
            // VPOP3's colours: red for a failure, orange for a partial success.
            let lower = result.lowercased()
            let colour = lower.contains("fail") || lower.contains("error") ? "bad" : lower.contains("warn") || lower.contains("partial") ? "warn" : "good"
            rows.append(["name": connection.name, "method": connection.method.rawValue, "last_start": start.map(Self.time) ?? "",
                         "last_result": result, "colour": colour, "next_poll": paused ? "paused" : next.map(Self.time) ?? ""])
        }
        page["connections"] = rows
        page["listeners"] = api.liveSessions().listeners.map { listener -> [String: Any] in
            ["name": listener.name, "address": listener.address, "port": listener.port, "sessions": listener.sessions]
        }
        page["jobs"] = environment.jobs.all().prefix(5).map { job -> [String: Any] in
            ["kind": job.kind.rawValue, "projection": job.projection ?? "", "state": job.state.rawValue, "progress": job.progress,
             "result": job.result]
        }
        var events: [[String: Any]] = []
        let latest = try await client.query("""
            SELECT e.global_position, e.recorded_at, s.stream_key, e.type
            FROM eventlog.events e JOIN eventlog.streams s USING (stream_id) ORDER BY e.global_position DESC LIMIT 20
            """, logger: logger)
        for try await (position, recorded, stream, type) in latest.decode((Int64, Date, String, String).self) {
            events.append(["position": position, "recorded": Self.time(recorded), "stream": stream, "type": type])
        }
        page["events"] = events
        return page
    }

    /// The open sessions, with their time active as people read it.
    func sessions() -> [String: Any] {
        let live = api.liveSessions()
        let rows: [[String: Any]] = live.sessions.map { session in
            ["number": session.number, "listener": session.listener, "user": session.user, "client_ip": session.clientIP,
             "started": Self.time(session.started), "active": Self.duration(session.activeSeconds), "tls": session.tls,
             "detail": session.detail, "session_id": session.sessionID]
        }
        let counts = live.listeners.filter { $0.sessions > 0 }.map { "\($0.name) \($0.sessions)" }.joined(separator: ", ")
        return ["rows": rows, "counts": counts]
    }

    /// `3h 04m`, `4m 05s`, `12s`.
    static func duration(_ seconds: Int) -> String {
        let hours = seconds / 3_600, minutes = seconds / 60 % 60, rest = seconds % 60
        if hours > 0 { return "\(hours)h " + String(format: "%02dm", minutes) }
        if minutes > 0 { return "\(minutes)m " + String(format: "%02ds", rest) }
        return "\(rest)s"
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// `GET /feed`: server-sent events, one per event appended to the log from now on (its
    /// position, time, stream and type, never its data). A connection lasts at most a few
    /// minutes, and ends when the server shuts down; the browser reconnects by itself.
    func feed() async throws -> Response {
        let store = environment.engine.store, logger = environment.logger
        let end = try await store.lastPosition()
        let start = end > 0 ? try await store.read(positions: end...end).last?.cursor ?? .start : .start
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            let (lines, output) = AsyncStream.makeStream(of: String.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { output.finish() }
                    try await cancelWhenGracefulShutdown {
                        for try await event in store.subscribe(after: start) {
                            output.yield("{\"position\":\(event.position),\"recorded_at\":\"\(Self.time(event.recordedAt))\","
                                + "\"stream\":\(EventDumpLine.quoted(event.stream)),\"type\":\(EventDumpLine.quoted(event.type))}")
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(300))
                    output.finish()
                }
                for await line in lines {
                    try await writer.write(ByteBuffer(string: "data: \(line)\n\n"))
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// The queue's grid, filtered as the request asks, with one message's attempts.
    func queue(_ request: Request, attemptsOf id: String?) async throws -> [String: Any] {
        var query = Self.query(request)
        query["finished"] = query["finished"] ?? "false"
        query["limit"] = query["limit"] ?? "500"
        guard let listing = AdminAPI.listings["queue"] else { return [:] }
        let (rows, total) = try await rows(listing, query)
        var values: [String: Any] = ["rows": rows, "total": total, "filter": query, "finished": query["finished"] == "true"]
        if let id {
            values["attempts_for"] = id
            values["attempts"] = try await self.rows(AdminAPI.attempts, ["msgid": id]).rows
        }
        return values
    }

    /// Names for the settings' groups, by the first part of their keys.
    static let settingGroups: [(prefix: String, title: String)] = [
        ("server", "Server"), ("smtp", "SMTP (incoming mail)"), ("submission", "Submission"), ("pop3", "POP3"), ("imap", "IMAP"),
        ("outqueue", "Sending: the outgoing queue"), ("senders", "Sending: senders"), ("lan", "LAN forwarding"),
        ("connections", "Connections and schedule"), ("dns", "DNS"), ("dkim", "DKIM signing"), ("dmarc", "DMARC"),
        ("security", "Security and the IPS"), ("ids", "IDS"), ("audit", "Audit and logging"), ("mail", "Mailboxes"),
    ]

    /// The settings grouped as the server's parts are, each with who changed it last and when.
    func settings(_ search: String) async throws -> [String: Any] {
        let settings = try await api.listSettings()
        var changes: [String: (String, Date)] = [:]
        let rows = try await environment.engine.store.client.query("""
            SELECT s.key, s.changed_by, e.recorded_at FROM settings.settings s JOIN eventlog.events e ON e.global_position = s.position
            """, logger: environment.logger)
        for try await (key, actor, time) in rows.decode((String, String, Date).self) { changes[key] = (actor, time) }
        let needle = search.lowercased()
        var groups: [String: [[String: Any]]] = [:]
        for setting in settings where needle.isEmpty || setting.key.lowercased().contains(needle) || setting.summary.lowercased().contains(needle) {
            let prefix = String(setting.key.split(separator: ".").first ?? "")
            var row: [String: Any] = ["key": setting.key, "summary": setting.summary, "value": setting.value, "default": setting.defaultValue,
                                      "is_default": setting.isDefault]
            if let (actor, time) = changes[setting.key] {
                row["changed_by"] = actor
                row["changed_at"] = Self.time(time)
            }
            groups[prefix, default: []].append(row)
        }
        var ordered: [[String: Any]] = []
        for (prefix, title) in Self.settingGroups {
            if let settings = groups.removeValue(forKey: prefix) { ordered.append(["title": title, "settings": settings]) }
        }
        for (prefix, settings) in groups.sorted(by: { $0.key < $1.key }) {
            ordered.append(["title": prefix, "settings": settings])
        }
        return ["groups": ordered, "q": search]
    }

    /// The LogDB tables: one at a time, filtered and paged.
    func logs(_ query: [String: String]) async throws -> [String: Any] {
        let tables = [("sessions", "Sessions"), ("messages", "Messages"), ("recipients", "Recipients")]
        let table = tables.map(\.0).contains(query["table"] ?? "") ? query["table"]! : "sessions"
        guard let listing = AdminAPI.listings["logdb/" + table] else { return [:] }
        var values = try await paged(listing, query, path: "/logs")
        let columns = listing.columns.map { column in String(column.split(separator: " ").last ?? Substring(column)) }
        values["columns"] = columns
        values["rows"] = (values["rows"] as? [[String: Any]] ?? []).map { row in
            ["cells": columns.map { row[$0].map { "\($0)" } ?? "" }]
        }
        values["tables"] = tables.map { ["name": $0.0, "label": $0.1] }
        values["table"] = table
        values["filters"] = listing.filters.map { ["name": $0.parameter, "value": query[$0.parameter] ?? ""] }
        return values
    }

    /// Blocks, IDS events, reputation, the message audit, and a chart of the most blocked.
    func security(_ query: [String: String]) async throws -> [String: Any] {
        let client = environment.engine.store.client, logger = environment.logger
        var values: [String: Any] = [:]
        var blocks: [[String: Any]] = []
        let rows = try await client.query("""
            SELECT address, reason, until FROM security.blocks WHERE until > now() ORDER BY blocked_at DESC LIMIT 500
            """, logger: logger)
        for try await (address, reason, until) in rows.decode((String, String, Date).self) {
            blocks.append(["address": address, "reason": reason, "until": Self.time(until)])
        }
        values["blocks"] = blocks
        var most: [AdminCharts.Bar] = []
        let counts = try await client.query("""
            SELECT ipaddress, count(*) FROM smtpstats.smtpclientblocks GROUP BY ipaddress ORDER BY count(*) DESC, ipaddress LIMIT 10
            """, logger: logger)
        for try await (address, count) in counts.decode((String, Int64).self) { most.append(.init(label: address, values: [Double(count)])) }
        values["blocked_chart"] = most.isEmpty ? "<p>No address has been blocked.</p>"
            : AdminCharts.bars(most, series: ["blocks"], colours: ["#a4161a"], title: "Blocks per address")
        if let ids = AdminAPI.listings["ids"] { values["ids"] = try await self.rows(ids, ["limit": "50"]).rows }
        if let addresses = AdminAPI.listings["reputation/addresses"] {
            values["addresses"] = try await self.rows(addresses, ["limit": "20"]).rows
        }
        if let domains = AdminAPI.listings["reputation/domains"] { values["domains"] = try await self.rows(domains, ["limit": "20"]).rows }
        if let audit = AdminAPI.listings["audit"] {
            var filter = ["limit": "100"]
            if let owner = query["owner"], !owner.isEmpty { filter["owner"] = owner }
            values["audit"] = try await self.rows(audit, filter).rows
        }
        values["owner"] = query["owner"] ?? ""
        return values
    }

    /// The projections with their positions, the jobs, and the log's events with their data.
    func log(_ request: Request, context: AdminRequestContext) async throws -> [String: Any] {
        let query = Self.query(request)
        var values: [String: Any] = [:]
        values["projections"] = try await api.projectionPositions().map { projection -> [String: Any] in
            ["name": projection.name, "mode": projection.mode, "position": projection.position.map(String.init) ?? "not built",
             "behind": projection.behind]
        }
        let (events, _, next) = try await api.readEvents(query)
        values["events"] = events.reversed().map { event -> [String: Any] in
            ["position": event.position, "recorded_at": Self.time(event.recordedAt), "stream": event.stream,
             "version": event.streamVersion, "type": event.type, "data": String(decoding: event.json, as: UTF8.self)]
        }
        if events.count == 50 || query["after"] != nil { values["next"] = next.map(String.init) }
        values["stream"] = query["stream"] ?? ""
        values["category"] = query["category"] ?? ""
        values["after"] = query["after"] ?? ""
        return values
    }
}
