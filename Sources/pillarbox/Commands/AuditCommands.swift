import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import MailCore
import PostgresNIO
import Projections

/// Filters shared by the LogDB and IDS listings.
struct AuditFilter: ParsableArguments {
    @Option(help: "Only rows from this time on: an ISO 8601 time (2026-11-22T08:00:00Z), a date, or an age such as 30m, 12h, 7d.")
    var since: String?
    @Option(help: "Only rows for this client address.") var ip: String?
    @Option(help: "Only rows naming this mail address (sender or recipient).") var address: String?
    @Option(help: "At most this many rows, newest first.") var limit = 100

    func sinceDate(now: Date = Date()) throws -> Date? {
        guard let since, !since.isEmpty else { return nil }
        if let unit = since.last, "smhd".contains(unit), let amount = Double(since.dropLast()) {
            let seconds: Double = ["s": 1, "m": 60, "h": 3_600, "d": 86_400][String(unit)]!
            return now.addingTimeInterval(-amount * seconds)
        }
        if let time = try? Date(since, strategy: .iso8601) { return time }
        if let day = try? Date(since + "T00:00:00Z", strategy: .iso8601) { return day }
        throw CommandFailure("--since: \(since) is neither a time, a date nor an age (30m, 12h, 7d)")
    }
}

/// Runs `sql` (with `$1` since, `$2` ip, `$3` address, `$4` limit) and prints its text columns.
private func printRows(_ options: DirectoryOptions, _ filter: AuditFilter, columns: [String], sql: String) async throws {
    let (configuration, logger) = try options.global.load()
    let since = try filter.sinceDate()
    let rows = try await withEventStore(configuration, logger: logger) { store in
        var query = PostgresQuery(unsafeSQL: sql)
        query.binds.append(since)
        query.binds.append(filter.ip)
        query.binds.append(filter.address?.lowercased())
        query.binds.append(filter.limit)
        return try await textRows(store.client.query(query, logger: logger))
    }
    options.output.print(columns: columns, rows: rows)
}

/// Every cell as text, null as an empty string (queries here cast what they select to text).
private func textRows(_ result: PostgresRowSequence) async throws -> [[String]] {
    var rows: [[String]] = []
    for try await row in result {
        var cells: [String] = []
        for cell in row { cells.append((try? cell.decode(String?.self)).flatMap { $0 } ?? "") }
        rows.append(cells)
    }
    return rows
}

struct LogDBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logdb", abstract: "The historical logging tables: sessions, messages and their recipients.",
        subcommands: [Sessions.self, Messages.self, Recipients.self, Audit.self])

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Message store operations, newest first (msgaudit.msgaudit); --address names the mailbox owner.")
        @OptionGroup var options: DirectoryOptions
        @OptionGroup var filter: AuditFilter

        func run() async throws {
            try await printRows(options, filter, columns: ["id", "datetime", "component", "owner", "actionuser", "cmd", "ipaddr",
                                                           "sourcefolder", "targetfolder", "subject", "sender"], sql: """
                SELECT id::text, datetime::text, component, owner, actionuser, cmd, ipaddr, sourcefolder, targetfolder, subject, sender
                FROM msgaudit.msgaudit
                WHERE ($1::timestamptz IS NULL OR datetime >= $1) AND ($2::text IS NULL OR ipaddr = $2)
                  AND ($3::text IS NULL OR owner = $3 OR lower(actionuser) = $3)
                ORDER BY id DESC LIMIT $4
                """)
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sessions, newest first (logdb.sessions).")
        @OptionGroup var options: DirectoryOptions
        @OptionGroup var filter: AuditFilter

        func run() async throws {
            try await printRows(options, filter, columns: ["sessid", "datetime", "duration", "sesstype", "errorcode", "name", "service", "ipaddress"],
                                sql: """
                SELECT sessid::text, datetime::text, round(duration::numeric, 3)::text, sesstype, errorcode, name, service, ipaddress
                FROM logdb.sessions s
                WHERE ($1::timestamptz IS NULL OR datetime >= $1) AND ($2::text IS NULL OR ipaddress = $2)
                  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM logdb.messages m LEFT JOIN logdb.recipients r USING (msgid)
                       WHERE m.sessid = s.sessid AND (lower(m.fromaddr) = $3 OR lower(r.name) = $3)))
                ORDER BY datetime DESC, sessid DESC LIMIT $4
                """)
        }
    }

    struct Messages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Messages, accepted and refused, newest first (logdb.messages).")
        @OptionGroup var options: DirectoryOptions
        @OptionGroup var filter: AuditFilter

        func run() async throws {
            try await printRows(options, filter,
                                columns: ["msgid", "sessid", "datetime", "fromaddr", "authsender", "size", "errorcode", "subject", "ipaddress"],
                                sql: """
                SELECT msgid::text, sessid::text, datetime::text, fromaddr, authsender, size::text, errorcode, subject, ipaddress
                FROM logdb.messages m
                WHERE ($1::timestamptz IS NULL OR datetime >= $1) AND ($2::text IS NULL OR ipaddress = $2)
                  AND ($3::text IS NULL OR lower(fromaddr) = $3
                       OR EXISTS (SELECT 1 FROM logdb.recipients r WHERE r.msgid = m.msgid AND lower(r.name) = $3))
                ORDER BY msgid DESC LIMIT $4
                """)
        }
    }

    struct Recipients: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recipients of messages, newest first (logdb.recipients).")
        @OptionGroup var options: DirectoryOptions
        @OptionGroup var filter: AuditFilter

        func run() async throws {
            try await printRows(options, filter, columns: ["rcptid", "msgid", "name", "rcpttype", "result", "datetime"], sql: """
                SELECT r.rcptid::text, r.msgid::text, r.name, r.rcpttype, r.result, r.datetime::text
                FROM logdb.recipients r LEFT JOIN logdb.messages m USING (msgid)
                WHERE ($1::timestamptz IS NULL OR r.datetime >= $1) AND ($2::text IS NULL OR m.ipaddress = $2)
                  AND ($3::text IS NULL OR lower(r.name) = $3 OR lower(m.fromaddr) = $3)
                ORDER BY r.rcptid DESC LIMIT $4
                """)
        }
    }
}

struct IDSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ids", abstract: "Intrusion detection events: the IDS log and smtpstats.smtpclientfailures.",
        subcommands: [List.self, Tail.self, Rebuild.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "IDS events, newest first (smtpstats.smtpclientfailures).")
        @OptionGroup var options: DirectoryOptions
        @OptionGroup var filter: AuditFilter

        func run() async throws {
            try await printRows(options, filter,
                                columns: ["id", "datetime", "ipaddress", "errortype", "errortext", "errordetails", "ignore"],
                                sql: """
                SELECT id::text, datetime::text, ipaddress, errortype::text, errortext, errordetails, ignore::text
                FROM smtpstats.smtpclientfailures
                WHERE ($1::timestamptz IS NULL OR datetime >= $1) AND ($2::text IS NULL OR ipaddress = $2)
                  AND ($3::text IS NULL OR lower(errordetails) LIKE '%' || $3 || '%')
                ORDER BY id DESC LIMIT $4
                """)
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The last lines of the IDS log file.")
        @OptionGroup var global: GlobalOptions
        @Option(name: [.customShort("n"), .long], help: "How many lines.") var lines = 20

        func run() async throws {
            let (configuration, logger) = try global.load()
            let path = try await withProjectionEngine(configuration, logger: logger) { engine in
                IDSLogWriter.path(setting: try await Settings(engine: engine).value(SettingKey<String>.idsLogFile),
                                  dataDirectory: configuration.dataDirectory)
            }
            guard let file = FileHandle(forReadingAtPath: path) else { throw CommandFailure("no IDS log at \(path) yet") }
            defer { try? file.close() }
            // The file is never trimmed: read back from its end only as far as the lines asked for.
            let size = try file.seekToEnd()
            var start = size
            var tail = Data()
            while start > 0 && tail.reduce(0, { $0 + ($1 == 0x0A ? 1 : 0) }) <= lines {
                let step = min(start, 64 * 1024)
                start -= step
                try file.seek(toOffset: start)
                tail = (try file.read(upToCount: Int(step)) ?? Data()) + tail
            }
            let all = String(decoding: tail, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            for line in all.suffix(max(0, lines)) { print(line) }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the IDS log file again from the log, in the current format.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (configuration, logger) = try global.load()
            let (path, count) = try await withProjectionEngine(configuration, logger: logger) { engine in
                let settings = Settings(engine: engine)
                let path = IDSLogWriter.path(setting: try await settings.value(SettingKey<String>.idsLogFile),
                                             dataDirectory: configuration.dataDirectory)
                let format = IDSLogFormat(try await settings.value(SettingKey<String>.idsLogFormat))
                return (path, try await IDSLogWriter.rebuild(store: engine.store, path: path, format: format, logger: logger))
            }
            print("\(path): \(count) lines")
        }
    }
}

struct BlocksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocks", abstract: "The block list shared by the SMTP IPS and the login IPS.",
        subcommands: [List.self, Add.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Blocks in force (with --all, every block in smtpstats.smtpclientblocks).")
        @OptionGroup var options: DirectoryOptions
        @Flag(help: "Every block kept, expired and lifted ones included.") var all = false

        func run() async throws {
            let (configuration, logger) = try options.global.load()
            let rows = try await withProjectionEngine(configuration, logger: logger) { engine in
                let sql = all ? """
                    SELECT ipaddress, datetime::text, expires::text, coalesce(removed::text, ''), reason, actor
                    FROM smtpstats.smtpclientblocks ORDER BY id DESC
                    """ : """
                    SELECT address, blocked_at::text, until::text, '', reason, actor
                    FROM security.blocks WHERE until > now() ORDER BY blocked_at DESC
                    """
                let result = try await engine.store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                var rows: [[String]] = []
                for try await (address, at, until, removed, reason, actor) in result.decode((String, String, String, String, String, String).self) {
                    rows.append(all ? [address, at, until, removed, reason, actor] : [address, at, until, reason, actor])
                }
                return rows
            }
            options.output.print(columns: all ? ["address", "blocked", "expires", "removed", "reason", "actor"]
                                              : ["address", "blocked", "expires", "reason", "actor"], rows: rows)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block an address or network (IPv4 or IPv6, CIDR allowed).")
        @OptionGroup var global: GlobalOptions
        @Argument var address: String
        @Option(help: "For how long, 1 to 999999999 minutes.") var minutes = 30
        @Option(help: "Why, for the block list.") var reason = "blocked by an administrator"

        func run() async throws {
            let (configuration, logger) = try global.load()
            let (address, minutes, reason) = (self.address, self.minutes, self.reason)
            let until = try await withProjectionEngine(configuration, logger: logger) { engine in
                do {
                    return try await BlockList(engine: engine).block(address, minutes: minutes, reason: reason, actor: commandLineActor)
                } catch let problem as BlockList.Problem {
                    throw CommandFailure(problem.description)
                }
            }
            print("\(address) blocked until \(until.formatted(.iso8601))")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a block; the address's IDS events are marked ignored.")
        @OptionGroup var global: GlobalOptions
        @Argument var address: String

        func run() async throws {
            let (configuration, logger) = try global.load()
            let address = self.address
            try await withProjectionEngine(configuration, logger: logger) { engine in
                do {
                    try await BlockList(engine: engine).unblock(address, actor: commandLineActor)
                } catch let problem as BlockList.Problem {
                    throw CommandFailure(problem.description)
                }
            }
            print("\(address) unblocked")
        }
    }
}

struct ReputationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reputation", abstract: "What client addresses and sender domains have done.",
        subcommands: [Top.self])

    struct Top: AsyncParsableCommand {
        enum Subject: String, ExpressibleByArgument, CaseIterable { case ip, domain }
        enum Order: String, ExpressibleByArgument, CaseIterable {
            case messages, sessions, invalid, relay, authfailed, bytes
            var column: String {
                switch self {
                case .messages: "messages"
                case .sessions: "sessions"
                case .invalid: "invalidrcpts"
                case .relay: "relaydenied"
                case .authfailed: "authfailed"
                case .bytes: "bytes"
                }
            }
        }
        static let configuration = CommandConfiguration(abstract: "The busiest or worst client addresses or sender domains.")
        @OptionGroup var options: DirectoryOptions
        @Option(help: "ip or domain.") var by: Subject = .ip
        @Option(help: "messages, sessions, invalid, relay, authfailed or bytes.") var order: Order = .messages
        @Option(help: "How many rows.") var limit = 20

        func run() async throws {
            guard by == .ip || order != .authfailed else { throw CommandFailure("authentication counts are kept per address only") }
            let (configuration, logger) = try options.global.load()
            let table = by == .ip ? "smtpstats.ipreputation" : "smtpstats.domainreputation"
            let key = by == .ip ? "ipaddress" : "domain"
            let auth = by == .ip ? "authok::text, authfailed::text" : "'', ''"
            let rows = try await withEventStore(configuration, logger: logger) { store in
                try await textRows(store.client.query(PostgresQuery(unsafeSQL: """
                    SELECT \(key), sessions::text, messages::text, validrcpts::text, invalidrcpts::text, relaydenied::text, \(auth),
                           bytes::text, firstseen::text, lastseen::text
                    FROM \(table) ORDER BY \(order.column) DESC, \(key) LIMIT \(max(1, limit))
                    """), logger: logger))
            }
            var columns = [key, "sessions", "messages", "valid", "invalid", "relaydenied", "authok", "authfailed", "bytes", "firstseen", "lastseen"]
            var shown = rows
            if by == .domain {
                columns.removeSubrange(6...7)
                shown = rows.map { row in var row = row; row.removeSubrange(6...7); return row }
            }
            options.output.print(columns: columns, rows: shown)
        }
    }
}
