import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import UnixSignals

/// VPOP3's IDS log line: `%T` the event's time (UTC, ISO 8601), `%I` the client address,
/// `%e` the event number, `%E` its text, `%D` the details, `%%` a percent sign; anything else
/// is copied. Control characters in the values become spaces, so one event is one line.
public struct IDSLogFormat: Sendable, Equatable {
    public let format: String

    public init(_ format: String) {
        self.format = format
    }

    public func line(_ event: IntrusionEventRecorded, at time: Date) -> String {
        var line = ""
        var escaped = false
        for character in format {
            guard escaped else {
                if character == "%" { escaped = true } else { line.append(character) }
                continue
            }
            escaped = false
            switch character {
            case "T": line += Self.timestamp(time)
            case "I": line += Self.clean(event.clientIP)
            case "e": line += String(event.kind.rawValue)
            case "E": line += event.kind.text
            case "D": line += Self.clean(event.details)
            case "%": line += "%"
            default: line += "%" + String(character)
            }
        }
        if escaped { line += "%" }
        return line
    }

    /// `2026-11-22T10:04:05Z`.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    static func clean(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? " " : Character($0) })
    }
}

/// The IDS log file, kept as a projection of the log: a line per `ids_event`, appended in log
/// order by a consumer whose checkpoint commits after the lines are on disk (a crash between
/// the two can repeat the last batch's lines, never lose one). SIGHUP, or the file being
/// renamed away, makes it reopen the path, so external rotation works; `rebuild` writes the
/// whole file again from the log.
public struct IDSLogWriter: Service {
    public static let consumerName = "ids-log"

    let store: EventStore
    let settings: LiveSettings
    let dataDirectory: String
    let logger: Logger
    let file = IDSLogFile()

    public init(store: EventStore, settings: LiveSettings, dataDirectory: String, logger: Logger) {
        self.store = store
        self.settings = settings
        self.dataDirectory = dataDirectory
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        self.logger = logger
    }

    /// The configured path: `ids.log_file`, or `ids.log` in the data directory.
    public static func path(setting: String, dataDirectory: String) -> String {
        setting.isEmpty ? dataDirectory + "/ids.log" : setting
    }

    var path: String { Self.path(setting: settings.value(SettingKey<String>.idsLogFile), dataDirectory: dataDirectory) }

    public func run() async throws {
        let consumer = makeConsumer()
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in hangups {
                    logger.info("SIGHUP: reopening the IDS log")
                    file.reopenNext()
                }
            }
            try? await consumer.run()
            group.cancelAll()
        }
        file.close()
    }

    func makeConsumer() -> LogConsumer {
        LogConsumer(name: Self.consumerName, category: IntrusionEventRecorded.category, store: store,
                    registry: EventTypeRegistry([IntrusionEventRecorded.self], passingOver: EventCatalogue.all), logger: logger) { batch, _ in
            let format = IDSLogFormat(settings.value(SettingKey<String>.idsLogFormat))
            var text = ""
            for item in batch.items {
                guard let event = item.event as? IntrusionEventRecorded else { continue }
                text += format.line(event, at: item.recorded.recordedAt) + "\n"
            }
            guard !text.isEmpty else { return }
            try file.append(Array(text.utf8), path: path)
        }
    }

    /// Writes the whole file again from the log, with the current format, and moves the
    /// checkpoint to the end of what it wrote; a running writer carries on after it.
    public static func rebuild(store: EventStore, path: String, format: IDSLogFormat, logger: Logger) async throws -> Int {
        try await store.client.transaction(logger: logger) { connection in
            // Waits for a running writer's batch, and keeps the next one out until this commits.
            _ = try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended('pillarbox consumer ' || \(consumerName), 0))", logger: logger)
            let temporary = path + ".rebuild"
            let handle = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard handle >= 0 else { throw IDSLogError.cannotOpen(temporary, errno) }
            defer { Glibc.close(handle) }
            var cursor = LogCursor.start
            var lines = 0
            let registry = EventTypeRegistry([IntrusionEventRecorded.self], passingOver: EventCatalogue.all)
            while true {
                let events = try await store.read(after: cursor, category: IntrusionEventRecorded.category, limit: 1_000,
                                                  on: connection)
                guard let last = events.last else { break }
                var text = ""
                for recorded in events {
                    guard let event = try? registry.decode(recorded, logger: logger) as? IntrusionEventRecorded else { continue }
                    text += format.line(event, at: recorded.recordedAt) + "\n"
                    lines += 1
                }
                try IDSLogFile.write(Array(text.utf8), to: handle, path: temporary)
                cursor = last.cursor
            }
            guard fsync(handle) == 0 else { throw IDSLogError.cannotWrite(temporary, errno) }
            guard rename(temporary, path) == 0 else { throw IDSLogError.cannotWrite(path, errno) }
            try await ConsumerCheckpoints.save(consumerName, cursor: cursor, on: connection, logger: logger)
            return lines
        }
    }
}

public enum IDSLogError: Error, CustomStringConvertible {
    case cannotOpen(String, Int32)
    case cannotWrite(String, Int32)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): "cannot open \(path): \(String(cString: strerror(code)))"
        case .cannotWrite(let path, let code): "cannot write \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// The open IDS log: reopened when asked (SIGHUP), when the path changes, or when the file at
/// the path is no longer the one open (renamed by rotation, replaced by a rebuild).
final class IDSLogFile: Sendable {
    private struct State {
        var handle: Int32 = -1
        var path = ""
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var reopen = false
    }
    private let state = Mutex(State())

    func reopenNext() {
        state.withLock { $0.reopen = true }
    }

    func append(_ bytes: [UInt8], path: String) throws {
        try state.withLock { state in
            var current = stat()
            let stale = state.handle < 0 || state.reopen || state.path != path || stat(path, &current) != 0
                || UInt64(current.st_ino) != state.inode || UInt64(current.st_dev) != state.device
            if stale {
                if state.handle >= 0 { Glibc.close(state.handle) }
                state.handle = -1
                let handle = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
                guard handle >= 0 else { throw IDSLogError.cannotOpen(path, errno) }
                var opened = stat()
                fstat(handle, &opened)
                state = State(handle: handle, path: path, device: UInt64(opened.st_dev), inode: UInt64(opened.st_ino))
            }
            try Self.write(bytes, to: state.handle, path: path)
            guard fsync(state.handle) == 0 else { throw IDSLogError.cannotWrite(path, errno) }
        }
    }

    func close() {
        state.withLock { state in
            if state.handle >= 0 { Glibc.close(state.handle) }
            state.handle = -1
        }
    }

    static func write(_ bytes: [UInt8], to handle: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(handle, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw IDSLogError.cannotWrite(path, errno)
            }
            offset += written
        }
    }
}
