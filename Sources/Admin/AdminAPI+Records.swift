import Foundation
import HTTPTypes
import Hummingbird

/// The API's read-only views of the audit projections and the queue: VPOP3's LogDB tables,
/// the IDS events and blocks, reputation, the message audit and the outgoing queue's grid,
/// each filtered by query parameters and paged.
extension AdminAPI {
    /// A timestamp column as ISO 8601 text in UTC.
    static func iso(_ column: String, as name: String? = nil) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS \(name ?? column.split(separator: ".").last.map(String.init) ?? column)"
    }

    static let listings: [String: AdminListing] = [
        "logdb/sessions": AdminListing(
            table: "logdb.sessions",
            columns: ["sessid", iso("datetime"), "duration", "sesstype", "errorcode", "name", "sessionkey", "service", "ipaddress",
                      "username", "helo", "tls", "messages", "bytes", iso("endtime")],
            filters: [.init(parameter: "ip", column: "ipaddress", match: .equals), .init(parameter: "user", column: "username", match: .contains),
                      .init(parameter: "service", column: "service", match: .equals), .init(parameter: "type", column: "sesstype", match: .equals),
                      .init(parameter: "since", column: "datetime", match: .since), .init(parameter: "until", column: "datetime", match: .before),
                      .init(parameter: "messages", column: "messages", match: .number)],
            order: "datetime DESC, sessid DESC"),
        "logdb/messages": AdminListing(
            table: "logdb.messages",
            columns: ["msgid", "sessid", "subject", "fromaddr", "authsender", "size", iso("datetime"), "spam", "triggeredrule",
                      "errorcode", "processtime", "messagekey", "ipaddress"],
            filters: [.init(parameter: "from", column: "fromaddr", match: .contains), .init(parameter: "subject", column: "subject", match: .contains),
                      .init(parameter: "ip", column: "ipaddress", match: .equals), .init(parameter: "session", column: "sessid", match: .equals),
                      .init(parameter: "since", column: "datetime", match: .since), .init(parameter: "until", column: "datetime", match: .before),
                      .init(parameter: "size", column: "size", match: .number), .init(parameter: "spam", column: "spam", match: .equals)],
            order: "datetime DESC, msgid DESC"),
        "logdb/recipients": AdminListing(
            table: "logdb.recipients",
            columns: ["rcptid", "msgid", "name", "rcpttype", "result", iso("datetime")],
            filters: [.init(parameter: "message", column: "msgid", match: .equals), .init(parameter: "to", column: "name", match: .contains),
                      .init(parameter: "type", column: "rcpttype", match: .equals), .init(parameter: "result", column: "result", match: .contains),
                      .init(parameter: "since", column: "datetime", match: .since), .init(parameter: "until", column: "datetime", match: .before)],
            order: "datetime DESC, rcptid DESC"),
        "ids": AdminListing(
            table: "smtpstats.smtpclientfailures",
            columns: ["id", "ipaddress", iso("datetime"), "errortype", "errortext", "errordetails", "service", "sessid", "score", "ignore"],
            filters: [.init(parameter: "ip", column: "ipaddress", match: .equals), .init(parameter: "type", column: "errortype", match: .number),
                      .init(parameter: "service", column: "service", match: .equals),
                      .init(parameter: "since", column: "datetime", match: .since), .init(parameter: "until", column: "datetime", match: .before)],
            order: "datetime DESC, id DESC"),
        "blocks/history": AdminListing(
            table: "smtpstats.smtpclientblocks",
            columns: ["id", "ipaddress", iso("datetime"), iso("expires"), "reason", "actor", iso("removed"), "removedby"],
            filters: [.init(parameter: "ip", column: "ipaddress", match: .equals),
                      .init(parameter: "since", column: "datetime", match: .since), .init(parameter: "until", column: "datetime", match: .before)],
            order: "datetime DESC, id DESC"),
        "reputation/addresses": AdminListing(
            table: "smtpstats.ipreputation",
            columns: ["ipaddress", "sessions", "messages", "validrcpts", "invalidrcpts", "relaydenied", "authok", "authfailed", "bytes",
                      iso("firstseen"), iso("lastseen")],
            filters: [.init(parameter: "ip", column: "ipaddress", match: .contains)],
            order: "relaydenied + invalidrcpts + authfailed DESC, sessions DESC, ipaddress",
            sortable: ["sessions", "messages", "validrcpts", "invalidrcpts", "relaydenied", "authok", "authfailed", "bytes", "lastseen"]),
        "reputation/domains": AdminListing(
            table: "smtpstats.domainreputation",
            columns: ["domain", "sessions", "messages", "validrcpts", "invalidrcpts", "relaydenied", "bytes", iso("firstseen"), iso("lastseen")],
            filters: [.init(parameter: "domain", column: "domain", match: .contains)],
            order: "relaydenied + invalidrcpts DESC, sessions DESC, domain",
            sortable: ["sessions", "messages", "validrcpts", "invalidrcpts", "relaydenied", "bytes", "lastseen"]),
        "audit": AdminListing(
            table: "msgaudit.msgaudit",
            columns: ["id", iso("datetime"), "component", "owner", "actionuser", "cmd", "ipaddr", "sourcefolder", "targetfolder",
                      "subject", "sender", iso("msgdate"), "uid"],
            filters: [.init(parameter: "owner", column: "owner", match: .equals), .init(parameter: "command", column: "cmd", match: .equals),
                      .init(parameter: "folder", column: "coalesce(sourcefolder, '') || ' ' || coalesce(targetfolder, '')", match: .contains),
                      .init(parameter: "subject", column: "subject", match: .contains),
                      .init(parameter: "since", column: "datetime", match: .since), .init(parameter: "until", column: "datetime", match: .before)],
            order: "datetime DESC, id DESC"),
        // VPOP3's OutQueue grid: State, IP Addr, Auth, Pri, To, From, Subject, Sent, Size.
        "queue": AdminListing(
            table: "outqueue.outmessages m JOIN outqueue.outrecipients r USING (msgid)",
            columns: ["m.msgid", "r.rcptid", "\(queueState) AS state", "coalesce(m.senderip, '') AS ip", "coalesce(m.authsender, '') AS auth",
                      "m.priority", "r.address AS \"to\"", "r.returnpath AS \"from\"", "coalesce(m.subject, '') AS subject",
                      iso("m.created", as: "sent"), "m.size", "r.attempts", "coalesce(r.lastreply, '') AS last_reply",
                      iso("r.nexttry", as: "next_try"), "coalesce(r.remotemta, '') AS remote_mta", "r.queue",
                      "r.finished IS NOT NULL AS finished"],
            filters: [.init(parameter: "state", column: queueState, match: .equals), .init(parameter: "ip", column: "m.senderip", match: .contains),
                      .init(parameter: "auth", column: "m.authsender", match: .contains), .init(parameter: "priority", column: "m.priority", match: .number),
                      .init(parameter: "to", column: "r.address", match: .contains), .init(parameter: "from", column: "r.returnpath", match: .contains),
                      .init(parameter: "subject", column: "m.subject", match: .contains), .init(parameter: "size", column: "m.size", match: .number),
                      .init(parameter: "attempts", column: "r.attempts", match: .number),
                      .init(parameter: "since", column: "m.created", match: .since), .init(parameter: "until", column: "m.created", match: .before),
                      .init(parameter: "finished", column: "(r.finished IS NOT NULL)", match: .equals)],
            order: "finished, priority, sent, msgid, rcptid", maximumLimit: 10_000),
    ]

    /// A recipient's state as the grid shows it: held (while not finished), or its own.
    static let queueState = "CASE WHEN m.held AND r.finished IS NULL THEN 'held' ELSE r.status END"

    func addRecords(to admins: RouterGroup<AdminRequestContext>) {
        for (path, listing) in Self.listings {
            admins.get(RouterPath(path)) { request, _ -> Response in
                try await listing.page(request, client: environment.engine.store.client, logger: environment.logger)
            }
        }
        admins.get("queue/:id/attempts") { request, context -> Response in
            try await Self.attempts.page(request, fixed: ["msgid": try context.parameters.require("id")],
                                         client: environment.engine.store.client, logger: environment.logger)
        }
    }

    /// A queued message's delivery attempts, newest first.
    static let attempts = AdminListing(
        table: "outqueue.sendattempts",
        columns: ["msgid", "attempt", iso("started"), "duration", "route", "domain", "mxhost", "ip", "tls", "result", "recipients"],
        filters: [.init(parameter: "msgid", column: "msgid", match: .equals)],
        order: "attempt DESC")
}
