import Commands
import EventLog
import Facts
import Foundation
import Logging
import Projections
import ServiceLifecycle

/// Applies `mail.retention` in `serve`: at start, each day at `mail.retention_hour` (UTC), and
/// whenever the rules change. Messages longer in their folder than their rule allows are
/// erased (`MailStore.eraseMessages`: expunged with origin `retention`, their owners' keys to
/// the bodies destroyed), and so are the server's copies of sent mail (`TransitRelease`, under
/// the rule for the folder `Outqueue`); then `afterErasure` rebuilds what keeps sealed fields. One process at
/// a time applies the rules (a PostgreSQL advisory lock); the others pass.
public struct RetentionService: Service {
    let engine: ProjectionEngine
    let settings: LiveSettings
    let afterErasure: @Sendable () async -> Void
    let logger: Logger

    public init(engine: ProjectionEngine, settings: LiveSettings, logger: Logger, afterErasure: @escaping @Sendable () async -> Void) {
        self.engine = engine
        self.settings = settings
        self.afterErasure = afterErasure
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // A change of the rules applies them at once.
                group.addTask {
                    for await change in settings.changes() where change.key == SettingKey<[String]>.mailRetention.name {
                        await apply(now: Date())
                    }
                }
                group.addTask {
                    await apply(now: Date())
                    while !Task.isCancelled {
                        let next = ReportService.next(hour: settings.value(SettingKey<Int>.mailRetentionHour), after: Date())
                        do { try await Task.sleep(for: .seconds(max(1, next.timeIntervalSinceNow))) } catch { return }
                        await apply(now: Date())
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Applies the rules as they stand, counting days back from `now`; nil when there are none
    /// or another process is applying them.
    @discardableResult
    public func apply(now: Date) async -> MailStore.MessageErasure? {
        let rules = SettingKey<[String]>.retentionRules(settings.value(SettingKey<[String]>.mailRetention))
        guard !rules.isEmpty else { return nil }
        do {
            return try await engine.store.client.withConnection { lock -> MailStore.MessageErasure? in
                var held = false
                for try await value in try await lock.query("SELECT pg_try_advisory_lock(hashtextextended('pillarbox-retention', 0))",
                                                            logger: logger).decode(Bool.self) { held = value }
                guard held else { return nil }
                let result: Result<(MailStore.MessageErasure, TransitRelease.Outcome), any Error>
                do {
                    // When a folder's rule starts: mail that came in (or finished) before it goes.
                    @Sendable func cutoff(user: String, folder: String) -> Date? {
                        RetentionRule.days(user: user, folder: folder, rules: rules).map { now.addingTimeInterval(-Double($0) * 86_400) }
                    }
                    result = .success(try await ChangeOrigin.$current.withValue(ChangeOrigin(component: "retention")) {
                        let erasure = try await MailStore(engine: engine).eraseMessages(users: nil, dryRun: false, cutoff: cutoff)
                        // The server's copies of mail sent out: the rule for the sender's
                        // `Outqueue` (or every folder), by when the last recipient finished.
                        let sent = try await TransitRelease(engine: engine).release(dryRun: false) { message in
                            guard let finished = message.finished,
                                  let start = cutoff(user: message.sender ?? "", folder: TransitRelease.folderName) else { return false }
                            return finished < start
                        }
                        return (erasure, sent)
                    })
                } catch {
                    result = .failure(error)
                }
                if case .success(let (erasure, sent)) = result, erasure.messages > 0 || sent.bodies > 0 {
                    logger.notice("retention erased mail", metadata: [
                        "messages": "\(erasure.messages)", "bytes": "\(erasure.bytes)", "users": "\(erasure.users)",
                        "bodies": "\(erasure.bodies)", "sent_messages": "\(sent.messages)", "sent_bodies": "\(sent.bodies)"])
                    await afterErasure()
                }
                _ = try await lock.query("SELECT pg_advisory_unlock(hashtextextended('pillarbox-retention', 0))", logger: logger)
                return try result.get().0
            }
        } catch {
            logger.error("applying mail.retention failed", metadata: ["error": "\(String(reflecting: error))"])
            return nil
        }
    }
}
