import EventLog
import Facts
import Foundation
import IMAPWire
import Logging
import MailQuery
import Projections
import WireCore

/// Runs an `IMAPStateMachine` over a connection, and is the mailbox backend it calls: the
/// machine owns the protocol (commands and literals, login, STARTTLS, IDLE's framing, LOGOUT);
/// the session performs its actions and runs the commands on mailboxes and messages, keeping the
/// selected mailbox's state. Commands run one at a time in the order received; replies to
/// pipelined commands are written together before the session waits for input. Untagged updates
/// (EXISTS, EXPUNGE, FETCH FLAGS) are sent when RFC 9051 §7 allows: never an EXPUNGE during
/// FETCH, STORE or SEARCH. Its state is touched by its own task only (IDLE's waits run in child
/// tasks that hand what they found back).
public final class IMAPSession {
    struct Selected {
        var mailbox: MailboxInfo
        /// Whose folder it is: the user's own, or one shared with them (RFC 4314).
        var owner: String
        /// What the user may do in it (`MailboxRights.owner` in their own).
        var rights: String
        /// In another user's folder: the UIDs this user has seen (their own \Seen); nil in
        /// their own folders, where \Seen is the message's flag.
        var seenByMe: Set<UInt32>?
        var readOnly: Bool
        /// UIDs in message-number order.
        var uids: [UInt32]
        var flags: [UInt32: [String]]
        var modSeqs: [UInt32: Int64]
        /// The highest MODSEQ this session has seen.
        var known: Int64
        /// Expunged by others, not yet reported (no EXPUNGE allowed at the time).
        var pendingExpunges: Set<UInt32> = []
        /// Keywords announced in the last FLAGS response.
        var keywords: Set<String> = []
        /// Messages that are \Recent in this session (RFC 3501 §2.3.2).
        var recent: Set<UInt32> = []

        func sequenceNumber(of uid: UInt32) -> Int? {
            var low = 0, high = uids.count - 1
            while low <= high {
                let middle = (low + high) / 2
                if uids[middle] == uid { return middle + 1 }
                if uids[middle] < uid { low = middle + 1 } else { high = middle - 1 }
            }
            return nil
        }
    }

    enum State {
        case notAuthenticated
        case authenticated(UserRecord)
        case selected(UserRecord, Selected)
    }

    let transport: ClientTransport
    let accounts: IMAPAccounts
    let id: String
    let service: ServiceKind
    let clientIP: String
    var logger: Logger
    var machine: IMAPStateMachine
    var output: [UInt8] = []
    var state = State.notAuthenticated
    var enabled: Set<String> = []
    /// Searches kept up to date (RFC 5267 RETURN (UPDATE)) in the selected mailbox.
    var searchContexts: [SearchContext] = []
    /// RFC 5182: the UIDs the last SEARCH RETURN (SAVE) kept, for `$`; empty on a new mailbox.
    var savedResult: Set<UInt32> = []
    /// Where the log's wake-ups and this process's changes stood when the selected mailbox was
    /// last read: while both stand still, nothing can have changed and `refresh` skips the query.
    var refreshedAt: ChangeMark?
    /// The connection's place in the IMAP session limits.
    var ticket: SessionLimits.Ticket?
    /// The message literals of the APPEND being read that are large enough to spool, in order.
    var appendSpools: [IMAPAppendSpool] = []
    /// RFC 5465: what NOTIFY SET asked for; nil without one (or after NOTIFY NONE).
    var notifyWatch: NotifyWatch?
    /// Where the log stood when IDLE last looked.
    var idleGeneration: UInt64 = 0
    /// The connection's entry on the admin's Sessions page.
    var live = LiveSession()
    /// The listener's command and reply counters.
    var metrics: ProtocolMetrics?

    init(transport: ClientTransport, accounts: IMAPAccounts, id: String, service: ServiceKind, clientIP: String, tls: String?,
         logger: Logger) {
        self.transport = transport
        self.accounts = accounts
        self.id = id
        self.service = service
        self.clientIP = clientIP
        self.logger = logger
        let environment = IMAPStateMachine.Environment(authWithoutTLS: { accounts.authWithoutTLS }, cramMD5: { accounts.cramMD5 },
                                                       makeNonce: { accounts.makeNonce() }, urlauth: accounts.urlauthKey != nil)
        machine = IMAPStateMachine(limits: accounts.limits(), hostname: accounts.hostname, tls: tls,
                                   tlsAvailable: transport.tlsAvailable, startedAt: accounts.clock(), environment: environment)
        self.logger[metadataKey: "session"] = "\(id)"
        self.logger[metadataKey: "client"] = "\(clientIP)"
    }

    var limits: IMAPLimits { machine.limits }

    func run() async {
        var next: IMAPStateMachine.Input? = .connected
        while let input = next {
            await MachineDriver.feed(input, receive: { machine.receive($0) }, perform: { await perform($0) })
            switch machine.wait {
            case .input: next = await read()
            case .idle: next = await idleWait()
            case .action: next = .closed // waiting for an answer no action asked for: end the session
            case .closed: next = nil
            }
        }
    }

    /// Performs one action; returns the answer to feed back, if the action asked a question.
    func perform(_ action: IMAPStateMachine.Action) async -> IMAPStateMachine.Input? {
        switch action {
        case .send(let bytes):
            metrics?.imapReply(bytes)
            output += bytes
        case .startTLS(let reply):
            await flush()
            do { try await transport.startTLS(reply: reply) } catch { return .tlsFailed }
            switch await transport.read() {
            case .tlsStarted(let version):
                live.secured(version ?? "TLS")
                return .tlsStarted(version: version)
            default: return .tlsFailed
            }
        case .checkPassword(let user, let password):
            return .loginChecked(await accounts.authenticator.checkPassword(user: user, password: password))
        case .lookUpUser(let name):
            return .loginChecked(accounts.authenticator.user(named: name))
        case .recordLoginFailure(let user, let reason):
            return .loginFailureRecorded(blocked: await accounts.logins.failed(user: user, reason: reason, service: service.rawValue,
                                                                               sessionID: id, clientIP: clientIP))
        case .admit(let user):
            return .userAdmitted(ticket?.logIn(user: user.id, bound: accounts.sessionBounds.perUserAndAddress) ?? true)
        case .saslCheckPassword(let user, let password):
            return .saslPasswordChecked(await accounts.authenticator.checkPassword(user: user, password: password) != nil)
        case .saslLookUpCredentials(let user, let mechanism):
            return .saslCredentials(await accounts.authenticator.credentials(user: user, mechanism: mechanism))
        case .loggedIn(let user):
            state = .authenticated(user)
            live.loggedIn(user.name)
            logger.info("logged in", metadata: ["user": "\(user.name)"])
        case .loggedOut:
            logger.info("logged out, the connection kept")
            state = .notAuthenticated
            enabled = []
            searchContexts = []
            savedResult = []
            refreshedAt = nil
            notifyWatch = nil
            ticket?.logOut()
            live.loggedOut()
        case .beginSpool(let size, let binary):
            appendSpools.append(IMAPAppendSpool(directory: accounts.spoolDirectory, name: "append-\(id)-\(accounts.makeNonce())",
                                                binary: binary))
            logger.debug("spooling an APPEND literal", metadata: ["octets": "\(size)"])
        case .spool(let bytes):
            appendSpools.last?.append(bytes)
        case .dropSpool:
            discardAppendSpool()
        case .execute(let command, let user):
            metrics?.command(command.kind.name)
            live.doing(command.kind.name)
            await ChangeOrigin.$current.withValue(ChangeOrigin(component: "I", actor: user.name, clientIP: clientIP)) {
                await execute(command, user: user)
            }
            discardAppendSpool() // what the command did not take (it failed before reading them)
            // Said again once done: with the mailbox it left selected (an IDLE says so while it waits).
            if let current = selected { live.doing("\(command.kind.name) in \(current.mailbox.name)") }
            return .executed
        case .refresh:
            // Read before the refresh: a wake-up that comes during it must still count.
            idleGeneration = accounts.store.appendGeneration(for: IMAPAccounts.followed)
            await refresh(allowExpunge: true)
        case .close(let tally, let closedByServer, let tls):
            discardAppendSpool()
            ticket?.release()
            await flush()
            await transport.close()
            await accounts.recorder.ended(tally.summary(id: id, kind: .imap, service: service.rawValue, clientIP: clientIP, tls: tls,
                                                        closedByServer: closedByServer, endedAt: accounts.clock()))
        }
        return nil
    }

    /// A command for the mailbox backend. NOOP and CHECK only bring the client up to date.
    func execute(_ command: IMAPCommand, user: UserRecord) async {
        switch command.kind {
        case .noop, .check:
            await refresh(allowExpunge: true)
            tagged(command.tag, .completed("NOOP"))
        default:
            await authenticatedCommand(command, user: user)
        }
    }

    // MARK: Input and output

    func untagged(_ text: String) { output += Array("* \(text)\r\n".utf8) }
    func tagged(_ tag: String, _ text: String) {
        let line = Array("\(tag) \(text)\r\n".utf8)
        metrics?.imapReply(line)
        output += line
    }
    func untagged(_ status: IMAPStatus) { untagged(status.description) }
    func tagged(_ tag: String, _ status: IMAPStatus) { tagged(tag, status.description) }

    func flush() async {
        guard !output.isEmpty else { return }
        let bytes = output
        output = []
        try? await transport.write(bytes)
    }

    /// The client's next bytes, or how the input ended.
    func read() async -> IMAPStateMachine.Input {
        if notifyWatch != nil, machine.betweenCommands, let user = authenticatedUser { return await notifyingRead(user: user) }
        await flush()
        while true {
            switch await transport.read() {
            case .bytes(let bytes): return .received(bytes)
            case .tlsStarted: continue
            case .timedOut: return .timedOut
            case .closed: return .closed
            }
        }
    }

    /// Drops the spooled APPEND literals their command did not take.
    func discardAppendSpool() {
        for spool in appendSpools { spool.discard() }
        appendSpools = []
    }

    /// RFC 7162 §3.1: a CONDSTORE-enabling command switches CONDSTORE on; with a mailbox
    /// selected, the client learns its HIGHESTMODSEQ at once.
    func enableCondStore() {
        guard enabled.insert("CONDSTORE").inserted, let current = selected else { return }
        untagged("OK [HIGHESTMODSEQ \(max(current.known, current.modSeqs.values.max() ?? 0))] CONDSTORE enabled")
    }

    /// IMAP4rev2 has no \Recent flag and no RECENT response.
    var showsRecent: Bool { !enabled.contains("IMAP4REV2") }

    /// A message's flags as this session shows them, with \Recent where it applies; `current`
    /// when the selected state is being built and not yet stored.
    func shownFlags(_ uid: UInt32, _ flags: [String], in current: Selected? = nil) -> String {
        guard showsRecent, (current ?? selected)?.recent.contains(uid) == true else { return flags.joined(separator: " ") }
        return (flags + ["\\Recent"]).joined(separator: " ")
    }

    var utf8Names: Bool { enabled.contains("UTF8=ACCEPT") || enabled.contains("IMAP4REV2") }

    /// A mailbox name as the client sent it → the stored name; nil for a name that is not
    /// canonical modified UTF-7 (RFC 3501 §5.1.3: printable ASCII is never encoded, `&` is `&-`),
    /// so one mailbox has one name.
    func storedName(_ name: String) -> String? {
        let decoded = utf8Names ? name : ModifiedUTF7.decode(name)
        guard var decoded, utf8Names || ModifiedUTF7.encode(decoded) == name else { return nil }
        while decoded.hasSuffix("/") && decoded.count > 1 { decoded.removeLast() }
        return decoded.lowercased() == "inbox" ? "INBOX" : decoded
    }

    /// A stored name → as the client reads it.
    func wireName(_ name: String) -> [UInt8] {
        IMAPText.mailbox(utf8Names ? name : ModifiedUTF7.encode(name))
    }

    // MARK: Dispatch

    var authenticatedUser: UserRecord? {
        switch state {
        case .notAuthenticated: nil
        case .authenticated(let user), .selected(let user, _): user
        }
    }

    var selected: Selected? {
        if case .selected(_, let selected) = state { return selected }
        return nil
    }

    func setSelected(_ update: (inout Selected) -> Void) {
        guard case .selected(let user, var current) = state else { return }
        update(&current)
        state = .selected(user, current)
    }

    func authenticatedCommand(_ command: IMAPCommand, user: UserRecord) async {
        let tag = command.tag
        if uidOnly && Self.usesMessageNumbers(command.kind) {
            tagged(tag, "BAD [UIDREQUIRED] Message numbers are not in use (UIDONLY)")
            return
        }
        do {
            switch command.kind {
            case .enable(let capabilities):
                var newly: [String] = []
                for capability in capabilities where ["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2", "UIDONLY"].contains(capability) {
                    if enabled.insert(capability).inserted { newly.append(capability) }
                    if capability == "QRESYNC" { enabled.insert("CONDSTORE") }
                }
                untagged("ENABLED" + newly.map { " " + $0 }.joined())
                tagged(tag, .completed("ENABLE"))
            case .namespace:
                // RFC 2342: the user's own folders; other users' shared ones (RFC 4314).
                untagged("NAMESPACE ((\"\" \"/\")) ((\"\(Self.otherUsers)/\" \"/\")) ((\"\(Self.publicNamespace)/\" \"/\"))")
                tagged(tag, .completed("NAMESPACE"))
            case .select(let name, let condStore, let qresync):
                try await select(tag, name, readOnly: false, condStore: condStore, qresync: qresync, user: user)
            case .examine(let name, let condStore, let qresync):
                try await select(tag, name, readOnly: true, condStore: condStore, qresync: qresync, user: user)
            case .create, .delete, .rename, .subscribe, .unsubscribe, .list, .lsub, .status, .append:
                defer { if command.kind.changesMessages { accounts.noteChange() } }
                if command.kind.enablesCondStore { enableCondStore() }
                try await mailboxCommand(command, user: user)
                await refresh(allowExpunge: true)
            case .getQuota(let root):
                try await quota(tag: tag, root: root, mailbox: nil, user: user)
            case .getQuotaRoot(let mailbox):
                try await quota(tag: tag, root: nil, mailbox: mailbox, user: user)
            case .sort(let uid, let returns, let criteria, let key):
                guard selected != nil else { tagged(tag, .selectFirst); return }
                guard try await rightsStillHold(tag, user: user) else { return }
                try await sort(tag: tag, uid: uid, returns: returns, criteria: criteria, key: key, user: user)
            case .setACL, .deleteACL, .getACL, .listRights, .myRights:
                try await aclCommand(command, user: user)
            case .getMetadata, .setMetadata:
                try await metadataCommand(command, user: user)
            case .notify(let spec):
                try await notifyCommand(tag, spec, user: user)
            case .genURLAuth, .resetKey, .urlFetch:
                try await urlauthCommand(command, user: user)
            case .cancelUpdate(let tags):
                searchContexts.removeAll { tags.contains($0.tag) }
                tagged(tag, .completed("CANCELUPDATE"))
            case .thread(let uid, let algorithm, let key):
                guard selected != nil else { tagged(tag, .selectFirst); return }
                try await thread(tag: tag, uid: uid, algorithm: algorithm, key: key, user: user)
            case .close, .unselect, .expunge, .uidExpunge, .search, .fetch, .store, .copy, .move:
                guard selected != nil else {
                    tagged(tag, .selectFirst)
                    return
                }
                guard try await rightsStillHold(tag, user: user) else { return }
                defer { if command.kind.changesMessages { accounts.noteChange() } }
                if command.kind.enablesCondStore { enableCondStore() }
                try await messageCommand(command, user: user)
            case .capability, .noop, .check, .logout, .id, .startTLS, .login, .authenticate, .idle, .unauthenticate:
                break // the state machine's (NOOP and CHECK: `execute`)
            }
        } catch let error as MailStoreError {
            tagged(tag, "NO \(Self.responseCode(error))\(error.description)")
        } catch {
            logger.error("command failed", metadata: ["error": "\(String(reflecting: error))"])
            tagged(tag, .temporaryFailure(session: id))
        }
    }

    static func responseCode(_ error: MailStoreError) -> String {
        switch error {
        case .noSuchMailbox: "[NONEXISTENT] "
        case .mailboxExists: "[ALREADYEXISTS] "
        case .cannotDeleteInbox, .hasChildren, .notSelectable, .invalidName: "[CANNOT] "
        default: ""
        }
    }

    // MARK: IDLE

    /// What ends a wait during IDLE.
    enum IdleEvent: Sendable {
        /// A whole line arrived (DONE or not), with the input left after it.
        case line(done: Bool, rest: LineBuffer)
        /// The connection ended, timed out or broke a line rule.
        case ended
        /// The log may have grown.
        case wake(UInt64)
    }

    /// RFC 2177: waits for the client's next line, sending untagged updates whenever the log
    /// wakes the session meanwhile (the machine says what a wake-up does). The session's own task
    /// does all the work; two child tasks only wait, one for the line (owning the input buffer
    /// meanwhile) and one for the wake-ups, and hand what they found back to it.
    func idleWait() async -> IMAPStateMachine.Input {
        await flush()
        let store = accounts.store
        let transport = self.transport
        let limit = limits.lineLength
        let buffered = machine.takeInput()
        return await withTaskGroup(of: IdleEvent.self) { group in
            group.addTask { await Self.nextIdleLine(transport, buffered, limit: limit) }
            group.addTask { [idleGeneration] in await Self.nextWake(store, after: idleGeneration) }
            while let event = await group.next() {
                switch event {
                case .wake:
                    await MachineDriver.feed(.woken, receive: { machine.receive($0) }, perform: { await perform($0) })
                    if notifyWatch != nil, let user = authenticatedUser { await sendNotifications(user: user) }
                    await flush()
                    group.addTask { [idleGeneration] in await Self.nextWake(store, after: idleGeneration) }
                case .line(let done, let rest):
                    group.cancelAll()
                    return .idleLine(done: done, rest: rest)
                case .ended:
                    group.cancelAll()
                    return .idleEnded
                }
            }
            return .idleEnded
        }
    }

    /// Reads until `input` holds a whole line.
    static func nextIdleLine(_ transport: ClientTransport, _ input: LineBuffer, limit: Int) async -> IdleEvent {
        var input = input
        while true {
            do {
                if let line = try input.nextLine(limit: limit) {
                    return .line(done: String(decoding: line, as: UTF8.self).uppercased() == "DONE", rest: input)
                }
            } catch {
                return .ended
            }
            switch await transport.read() {
            case .bytes(let bytes): input.append(bytes)
            case .tlsStarted: continue
            case .timedOut, .closed: return .ended
            }
        }
    }

    /// Waits for the log to move past `generation` (or a minute), then says where it is now.
    static func nextWake(_ store: EventStore, after generation: UInt64) async -> IdleEvent {
        await store.waitForAppend(after: generation, categories: IMAPAccounts.followed, timeout: .seconds(60))
        return .wake(store.appendGeneration(for: IMAPAccounts.followed))
    }
}

extension IMAPCommandKind {
    /// Whether the command may change messages another session has selected.
    var changesMessages: Bool {
        switch self {
        case .store, .expunge, .uidExpunge, .copy, .move, .close, .append, .delete, .rename: true
        default: false
        }
    }

    /// RFC 7162 §3.1: the commands whose use turns CONDSTORE on.
    var enablesCondStore: Bool {
        switch self {
        case .fetch(_, _, let items, let changedSince, _): changedSince != nil || items.contains(.modSeq)
        case .store(_, _, _, _, _, let unchangedSince): unchangedSince != nil
        case .search(_, _, let key): MessageSearch.usesModSeq(key)
        case .status(_, let items): items.contains("HIGHESTMODSEQ")
        default: false
        }
    }
}
