import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections
import Routing

/// VPOP3's daily usage summary (`Daily usage Summary for <date>`): one UTC day's sessions,
/// messages and recipients from the LogDB tables, per user logins, mail sent and mail received,
/// and optionally the idle accounts, mailed to the main administrator as text or HTML.
public struct DailySummary: Sendable {
    public struct Options: Sendable {
        public var to: String
        public var idleAccounts: Bool
        public var html: Bool

        public init(to: String, idleAccounts: Bool, html: Bool) {
            self.to = to
            self.idleAccounts = idleAccounts
            self.html = html
        }
    }

    /// One user's day.
    public struct UserDay: Sendable, Equatable {
        public var logins: [String: Int] = [:]
        public var sent = 0
        public var sentBytes: Int64 = 0
        public var received = 0
    }

    public struct Figures: Sendable {
        public var day: String
        public var sessions: [String: Int] = [:]
        public var messages = 0
        public var bytes: Int64 = 0
        public var refusedMessages = 0
        public var recipients: [String: Int] = [:]
        public var users: [String: UserDay] = [:]
        public var idle: [String] = []
    }

    let engine: ProjectionEngine
    let logger: Logger

    public init(engine: ProjectionEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    var store: EventStore { engine.store }

    public func figures(day: String, snapshot: DirectorySnapshot) async throws -> Figures {
        let begin = DMARCReporter.start(of: day)
        let end = begin.addingTimeInterval(86_400)
        var figures = Figures(day: day)
        let client = store.client
        for try await (service, count) in try await client.query("""
            SELECT coalesce(service, sesstype, ''), count(*) FROM logdb.sessions WHERE datetime >= \(begin) AND datetime < \(end) GROUP BY 1
            """, logger: logger).decode((String, Int).self) {
            figures.sessions[service.isEmpty ? "other" : service] = count
        }
        for try await (user, service, count) in try await client.query("""
            SELECT lower(username), coalesce(service, sesstype, ''), count(*) FROM logdb.sessions
            WHERE datetime >= \(begin) AND datetime < \(end) AND coalesce(username, '') <> '' GROUP BY 1, 2
            """, logger: logger).decode((String, String, Int).self) where snapshot.users[user] != nil {
            figures.users[user, default: UserDay()].logins[service, default: 0] += count
        }
        for try await (messages, bytes, refused) in try await client.query("""
            SELECT count(*), coalesce(sum(size), 0)::bigint, count(*) FILTER (WHERE coalesce(errorcode, '') <> '')
            FROM logdb.messages WHERE datetime >= \(begin) AND datetime < \(end)
            """, logger: logger).decode((Int, Int64, Int).self) {
            (figures.messages, figures.bytes, figures.refusedMessages) = (messages, bytes, refused)
        }
        for try await (user, count, bytes) in try await client.query("""
            SELECT lower(authsender), count(*), coalesce(sum(size), 0)::bigint FROM logdb.messages
            WHERE datetime >= \(begin) AND datetime < \(end) AND coalesce(authsender, '') <> '' AND coalesce(errorcode, '') = ''
            GROUP BY 1
            """, logger: logger).decode((String, Int, Int64).self) where snapshot.users[user] != nil {
            figures.users[user, default: UserDay()].sent += count
            figures.users[user, default: UserDay()].sentBytes += bytes
        }
        for try await (type, count) in try await client.query("""
            SELECT rcpttype, count(*) FROM logdb.recipients WHERE datetime >= \(begin) AND datetime < \(end) GROUP BY 1
            """, logger: logger).decode((String, Int).self) {
            figures.recipients[type] = count
        }
        for try await (user, count) in try await client.query("""
            SELECT lower(substring(result from 14)), count(*) FROM logdb.recipients
            WHERE datetime >= \(begin) AND datetime < \(end) AND result LIKE 'accepted for %' GROUP BY 1
            """, logger: logger).decode((String, Int).self) where snapshot.users[user] != nil {
            figures.users[user, default: UserDay()].received += count
        }
        figures.idle = snapshot.users.keys.filter { figures.users[$0] == nil }.sorted()
        return figures
    }

    /// The summary as text.
    public static func text(_ figures: Figures, idleAccounts: Bool) -> String {
        var text = "Daily usage summary for \(figures.day) (UTC)\n\n"
        text += "Messages accepted: \(figures.messages) (\(figures.bytes) bytes), refused: \(figures.refusedMessages)\n"
        text += "Recipients: " + (figures.recipients.isEmpty ? "none" : figures.recipients.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "\n"
        text += "Sessions: " + (figures.sessions.isEmpty ? "none" : figures.sessions.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "\n\n"
        text += "User                 Received  Sent  Sent bytes  Logins\n"
        for (user, day) in figures.users.sorted(by: { $0.key < $1.key }) {
            let logins = day.logins.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            text += user.padding(toLength: max(20, user.count), withPad: " ", startingAt: 0)
                + " " + "\(day.received)".leftPadded(8) + " " + "\(day.sent)".leftPadded(5) + " " + "\(day.sentBytes)".leftPadded(11)
                + "  " + (logins.isEmpty ? "-" : logins) + "\n"
        }
        if figures.users.isEmpty { text += "(no user activity)\n" }
        if idleAccounts {
            text += "\nIdle accounts (no logins, no mail): " + (figures.idle.isEmpty ? "none" : figures.idle.joined(separator: ", ")) + "\n"
        }
        return text
    }

    /// The summary as an HTML document.
    public static func html(_ figures: Figures, idleAccounts: Bool) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Daily usage summary for \(escape(figures.day))</title></head><body>\n"
        html += "<h1>Daily usage summary for \(escape(figures.day)) (UTC)</h1>\n<ul>\n"
        html += "<li>Messages accepted: \(figures.messages) (\(figures.bytes) bytes), refused: \(figures.refusedMessages)</li>\n"
        html += "<li>Recipients: " + escape(figures.recipients.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "</li>\n"
        html += "<li>Sessions: " + escape(figures.sessions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "</li>\n"
        html += "</ul>\n<table border=\"1\">\n<tr><th>User</th><th>Received</th><th>Sent</th><th>Sent bytes</th><th>Logins</th></tr>\n"
        for (user, day) in figures.users.sorted(by: { $0.key < $1.key }) {
            let logins = day.logins.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            html += "<tr><td>\(escape(user))</td><td>\(day.received)</td><td>\(day.sent)</td><td>\(day.sentBytes)</td><td>\(escape(logins))</td></tr>\n"
        }
        html += "</table>\n"
        if idleAccounts {
            html += "<p>Idle accounts (no logins, no mail): " + escape(figures.idle.isEmpty ? "none" : figures.idle.joined(separator: ", ")) + "</p>\n"
        }
        return html + "</body></html>\n"
    }

    /// Sends the summary of `day` unless it was sent already; its fact, or nil.
    public func send(day: String, options: Options, snapshot: DirectorySnapshot, now: Date = Date()) async throws -> DailySummarySent? {
        let stream = try DailySummarySent.stream(day: day)
        guard try await store.read(stream: stream, limit: 1).isEmpty else { return nil }
        let figures = try await figures(day: day, snapshot: snapshot)
        let domain = snapshot.mailDomain ?? "localhost"
        let to = options.to.contains("@") ? options.to : "\(options.to)@\(domain)"
        let subject = "Pillarbox Daily usage Summary for \(day)"
        let id = ReportMail.randomID()
        let text = Self.text(figures, idleAccounts: options.idleAccounts)
        var bytes: [UInt8]
        if options.html {
            let boundary = "=_summary_\(id)"
            var head = "From: <postmaster@\(domain)>\r\nTo: <\(to)>\r\nSubject: \(subject)\r\nDate: \(CollectorRun.date(now))\r\n"
            head += "Message-ID: <\(id)@\(domain)>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
            head += "Content-Type: multipart/alternative; boundary=\"\(boundary)\"\r\n\r\n"
            func part(_ type: String, _ body: String) -> String {
                "--\(boundary)\r\nContent-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                    + body.replacingOccurrences(of: "\n", with: "\r\n")
            }
            bytes = Array((head + part("text/plain", text) + part("text/html", Self.html(figures, idleAccounts: options.idleAccounts))
                           + "--\(boundary)--\r\n").utf8)
        } else {
            bytes = NoticeMail(from: "<postmaster@\(domain)>", to: [to], subject: subject, date: now, messageID: "\(id)@\(domain)",
                               autoSubmitted: "auto-generated", text: text).bytes()
        }
        var router = Router(snapshot: snapshot)
        router.defaultMappings = true
        guard let recipient = Answering.recipient(to, router: router) else {
            logger.warning("the daily summary's recipient goes nowhere", metadata: ["to": "\(to)"])
            return nil
        }
        let fact = DailySummarySent(day: day, to: to, messageID: id)
        let appends = [
            try Answering.accepted(bytes, id: id, from: "", to: [recipient], helo: domain, subject: subject, service: "daily-summary"),
            PendingAppend(stream: stream, expectedVersion: .noStream, events: [PendingEvent(fact)]),
        ]
        _ = try await engine.transaction { try await $0.append(appends) }
        logger.info("daily summary sent", metadata: ["day": "\(day)", "to": "\(to)"])
        return fact
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
