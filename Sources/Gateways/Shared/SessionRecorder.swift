import EventLog
import Facts
import Foundation
import Logging
import Projections

/// Writes a POP3 or IMAP session's `session_ended` event when it closes. The session's
/// client has gone by then, so nothing waits for the append; a failure is logged.
public struct SessionRecorder: Sendable {
    let store: EventStore
    let logger: Logger

    public init(store: EventStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func ended(_ summary: SessionEnded) async {
        do {
            let stream = try StreamName(category: SessionEnded.category, id: summary.sessionID)
            try await store.append([StreamAppend(stream: stream, expectedVersion: .noStream, events: [try EventData(summary)])])
        } catch {
            logger.error("recording the session's end failed", metadata: ["session": "\(summary.sessionID)", "error": "\(error)"])
        }
    }
}

/// What a POP3 or IMAP session counts for its `session_ended` event.
struct SessionTally {
    let startedAt: Date
    var user: String?
    var authSuccesses = 0
    var authFailures = 0
    var messages = 0
    var bytes: Int64 = 0
    /// The last error the server gave, for a session the server closed.
    var lastError: String?
    var endedNormally = false

    init(startedAt: Date) {
        self.startedAt = startedAt
    }

    func summary(id: String, kind: SessionEnded.Kind, service: String, clientIP: String, tls: String?, closedByServer: Bool,
                 endedAt: Date) -> SessionEnded {
        let errorCode = endedNormally ? "" : closedByServer ? (lastError ?? "closed") : "disconnected"
        return SessionEnded(sessionID: id, kind: kind, service: service, clientIP: clientIP, startedAt: startedAt,
                            duration: max(0, endedAt.timeIntervalSince(startedAt)), user: user, tls: tls, errorCode: errorCode,
                            messages: messages, bytes: bytes, authSuccesses: authSuccesses, authFailures: authFailures)
    }
}
