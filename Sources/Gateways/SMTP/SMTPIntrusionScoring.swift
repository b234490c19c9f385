import EventLog
import Facts
import Foundation
import Logging
import Projections

/// SMTP's intrusion detection and prevention: each IDS event's score from the `ips.*`
/// settings, the event itself on the client's `ids` stream, and a `ClientBlocked` fact when the
/// client's score within the period passes the threshold (VPOP3's IDS events and IPS).
final class SMTPIntrusionScoring: Sendable {
    let engine: ProjectionEngine
    let settings: LiveSettings
    let prevention: IntrusionPrevention
    let logins: LoginProtection?
    let logger: Logger
    let clock: @Sendable () -> Date

    init(engine: ProjectionEngine, settings: LiveSettings, prevention: IntrusionPrevention, logins: LoginProtection?,
         logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.engine = engine
        self.settings = settings
        self.prevention = prevention
        self.logins = logins
        self.logger = logger
        self.clock = clock
    }

    var ipsConfiguration: IntrusionPrevention.Configuration {
        var configuration = IntrusionPrevention.Configuration()
        configuration.threshold = settings.value(SettingKey<Int>.ipsThreshold)
        configuration.period = TimeInterval(settings.value(SettingKey<Int>.ipsPeriodMinutes) * 60)
        configuration.blockTime = TimeInterval(settings.value(SettingKey<Int>.ipsBlockMinutes) * 60)
        configuration.neverBlock = IPAccessListValue(lines: settings.value(SettingKey<[String]>.ipsNeverBlock)).list
        return configuration
    }

    /// The session's collected IDS events (folded) as one append, to go with the message or
    /// the session's end.
    func append(_ notes: [SMTPIDSNote], session: SMTPSessionContext) throws -> StreamAppend {
        let events = try SMTPIDSNote.folded(notes).map { note in
            try EventData(IntrusionEventRecorded(kind: note.kind, clientIP: session.clientIP, service: session.service.rawValue,
                                                 sessionID: session.id, details: note.storedDetails, score: note.score, count: note.count))
        }
        return StreamAppend(stream: try StreamName(category: IntrusionEventRecorded.category, id: session.clientIP),
                            expectedVersion: .any, events: events)
    }

    /// Records an IDS event (with `append`, at once; otherwise it only adds to the client's
    /// score), counts a failed AUTH for the login IPS, and blocks the client when its score
    /// passes the threshold. Returns the score it added.
    @discardableResult
    func record(_ kind: IntrusionEventRecorded.Kind, details: String, session: SMTPSessionContext, append: Bool) async -> Int {
        if kind == .authenticationFailure, let logins {
            // Failed SMTP AUTH also counts for the login IPS, shared by every service.
            await logins.failed(user: "", reason: details, service: session.service.rawValue, sessionID: session.id,
                                clientIP: session.clientIP)
        }
        let score: Int
        switch kind {
        case .authenticationFailure: score = settings.value(SettingKey<Int>.ipsBadAuthScore)
        case .badLocalRecipient: score = settings.value(SettingKey<Int>.ipsBadRecipientScore)
        case .relayDenied: score = settings.value(SettingKey<Int>.ipsRelayDeniedScore)
        case .syntaxError: score = settings.value(SettingKey<Int>.ipsSyntaxErrorScore)
        default: score = 0
        }
        if append {
            let event = IntrusionEventRecorded(kind: kind, clientIP: session.clientIP, service: session.service.rawValue,
                                               sessionID: session.id, details: details, score: score)
            do {
                let stream = try StreamName(category: IntrusionEventRecorded.category, id: session.clientIP)
                try await engine.store.append([EventData(event)], to: stream)
            } catch {
                logger.error("recording an IDS event failed", metadata: ["session": "\(session.id)", "error": "\(error)"])
            }
        }
        let now = clock()
        let configuration = ipsConfiguration
        if let total = await prevention.add(score, for: session.clientIP, kind: "ids", at: now, configuration: configuration,
                                           sharedThrough: engine.store, logger: logger) {
            let until = now.addingTimeInterval(configuration.blockTime)
            let blocked = ClientBlocked(address: session.clientIP, until: until,
                                        reason: "IPS score \(total) within \(Int(configuration.period / 60)) minutes", actor: "ips")
            logger.notice("client blocked", metadata: ["client": "\(session.clientIP)", "until": "\(until)", "score": "\(total)"])
            do {
                _ = try await engine.transaction { transaction in
                    try await transaction.append([PendingEvent(blocked)], to: try StreamName(category: ClientBlocked.category, id: "main"),
                                                 expectedVersion: .any)
                }
            } catch {
                logger.error("recording a block failed", metadata: ["client": "\(session.clientIP)", "error": "\(error)"])
            }
        }
        return score
    }
}
