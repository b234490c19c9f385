import Facts
import Foundation

extension CollectorRun {
    /// One collection from an IMAP folder: as POP3's (see `CollectorRun`), with a message's
    /// identity `UIDVALIDITY.UID` (RFC 9051 §2.3.1.1: a new UIDVALIDITY means the UIDs were
    /// reassigned, and the folder's messages are new ones to this collector). Messages are read
    /// with `BODY.PEEK`, so nothing is flagged until its record has committed; then each is
    /// flagged `\Seen`, or deleted (`\Deleted`, then `UID EXPUNGE` with UIDPLUS) once its time
    /// on the server is up. Messages already flagged `\Deleted` are passed over.
    func collect(over imap: IMAPExchange, endpoint: MailSender.RelayServer, _ outcome: inout Outcome) async throws {
        try await Self.open(imap, collector: collector, password: password, endpoint: endpoint, trust: policy.trustedCertificates)
        tlsState.version = imap.tls
        let validity = imap.uidValidity ?? 0
        let listed = try await imap.listing()
        let entries = listed.filter { !$0.deleted }.map { Listed(key: $0.uid, uid: "\(validity).\($0.uid)", size: $0.size) }

        var state = try await MailboxState(collector: collector.name, engine: engine)
        let deletedByRule = try await take(entries, from: imap, state: &state, outcome: &outcome)

        // What happens to collected messages, only once their records have committed.
        var deleting: [Listed] = []
        var marking: [Int] = []
        for entry in entries where state.remembered.collected[entry.uid] != nil {
            switch collector.afterDownload {
            case .delete where isDue(entry.uid, state):
                if try await imap.delete(entry.key) { deleting.append(entry) }
            case .seen:
                marking.append(entry.key)
            case .delete:
                break
            }
        }
        if !marking.isEmpty { try await imap.markSeen(marking) }
        let ruleKeys = entries.filter { entry in deletedByRule.contains { $0.uid == entry.uid } }.map(\.key)
        try await imap.expunge(deleting.map(\.key) + ruleKeys)
        _ = try? await imap.command("LOGOUT")
        try await recordDeletions(deleting.map(\.uid), byRule: deletedByRule, state: &state, outcome: &outcome)
        try await forgetObsolete(present: Set(listed.map { "\(validity).\($0.uid)" }), state: &state)
    }

    /// From the greeting to the folder selected: TLS as the collector asks (no password sent
    /// without it when it is required), logged in.
    static func open(_ imap: IMAPExchange, collector: MailCollector, password: String, endpoint: MailSender.RelayServer,
                     trust: String?) async throws {
        let verification: RemoteConnection.Verification = collector.verifyCertificate
            ? .full(extraTrust: collector.trustedCertificates ?? trust) : .none
        if collector.encryption == .ssl { try await imap.startTLS(serverName: endpoint.host, verification: verification) }
        try await imap.greeting()
        if collector.encryption == .stls || collector.encryption == .stlsIfAvailable {
            try await imap.ensureCapabilities()
            if imap.capabilities.contains("STARTTLS") {
                try await imap.expectOK("STARTTLS")
                try await imap.startTLS(serverName: endpoint.host, verification: verification)
            } else if collector.encryption == .stls {
                _ = try? await imap.command("LOGOUT")
                throw CollectionFailure("the server does not offer STARTTLS; the password was not sent")
            }
        }
        try await imap.logIn(user: collector.user, password: password, method: collector.authentication)
        try await imap.select(collector.folder)
    }
}
