import EventLog
import Facts
import Foundation
import IMAPWire
import Logging
import MailQuery
import Projections
import WireCore

/// One IMAP connection (RFC 9051, RFC 3501 for IMAP4rev1 clients), from greeting to LOGOUT.
/// Commands run one at a time in the order received; replies to pipelined commands are written
/// together before the session waits for input. Untagged updates (EXISTS, EXPUNGE, FETCH FLAGS)
/// are sent when RFC 9051 §7 allows: never an EXPUNGE during FETCH, STORE or SEARCH.
///
/// The session's state is touched by its own task only (IDLE's waits run in child tasks that
/// hand what they found back to it).
public final class IMAPSession {
    struct Selected {
        var mailbox: MailboxInfo
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
    var tls: String?
    var logger: Logger
    var limits: IMAPLimits
    var input = LineBuffer()
    var output: [UInt8] = []
    var reader: IMAPCommandReader
    var state = State.notAuthenticated
    var enabled: Set<String> = []
    var failedLogins = 0
    var errors = 0
    var closing = false
    var tally: SessionTally
    var closedByServer = false
    /// Where the log's wake-ups and this process's changes stood when the selected mailbox was
    /// last read: while both stand still, nothing can have changed and `refresh` skips the query.
    var refreshedAt: ChangeMark?
    /// The connection's place in the IMAP session limits.
    var ticket: SessionLimits.Ticket?
    /// The message literal of the APPEND being read, when it is large enough to spool.
    var appendSpool: IMAPAppendSpool?

    init(transport: ClientTransport, accounts: IMAPAccounts, id: String, service: ServiceKind, clientIP: String, tls: String?,
         logger: Logger) {
        self.transport = transport
        self.accounts = accounts
        self.tally = SessionTally(startedAt: accounts.clock())
        self.id = id
        self.service = service
        self.clientIP = clientIP
        self.tls = tls
        self.logger = logger
        self.limits = accounts.limits()
        self.reader = IMAPCommandReader(lineLimit: limits.lineLength, literalLimit: limits.literalSizeBeforeLogin,
                                        commandLimit: limits.literalSizeBeforeLogin + 4 * limits.lineLength)
        self.logger[metadataKey: "session"] = "\(id)"
        self.logger[metadataKey: "client"] = "\(clientIP)"
    }

    func run() async {
        untagged("OK [CAPABILITY \(capabilities)] Pillarbox IMAP ready")
        while !closing {
            guard let bytes = await nextCommand() else { break }
            switch IMAPParser.parse(bytes, maxDepth: limits.depth, maxRanges: limits.ranges) {
            case .success(let command):
                await ChangeOrigin.$current.withValue(origin) { await handle(command) }
                discardAppendSpool()
            case .failure(.noTag):
                discardAppendSpool()
                untagged(.untaggedCommand)
                countError()
            case .failure(.bad(let tag, let text)):
                discardAppendSpool()
                tagged(tag, "BAD \(text)")
                countError()
            }
        }
        discardAppendSpool()
        ticket?.release()
        await flush()
        await transport.close()
        tally.authFailures = failedLogins
        await accounts.recorder.ended(tally.summary(id: id, kind: .imap, service: service.rawValue, clientIP: clientIP, tls: tls,
                                                    closedByServer: closedByServer, endedAt: accounts.clock()))
    }

    /// Who the mailbox changes of the next command come from, for the message audit.
    var origin: ChangeOrigin? {
        switch state {
        case .notAuthenticated: nil
        case .authenticated(let user), .selected(let user, _): ChangeOrigin(component: "I", actor: user.name, clientIP: clientIP)
        }
    }

    // MARK: Input and output

    func untagged(_ text: String) { output += Array("* \(text)\r\n".utf8) }
    func tagged(_ tag: String, _ text: String) { output += Array("\(tag) \(text)\r\n".utf8) }
    func untagged(_ status: IMAPStatus) { untagged(status.description) }
    func tagged(_ tag: String, _ status: IMAPStatus) { tagged(tag, status.description) }

    func countError() {
        errors += 1
        if errors >= limits.maxErrors {
            untagged(.tooManyErrors)
            tally.lastError = "BYE Too many errors"
            closedByServer = true
            closing = true
        }
    }

    func flush() async {
        guard !output.isEmpty else { return }
        let bytes = output
        output = []
        try? await transport.write(bytes)
    }

    /// The next whole command (literals included); nil when the connection ends.
    func nextCommand() async -> [UInt8]? {
        while true {
            switch reader.next(from: &input) {
            case .command(let bytes):
                return bytes
            case .continuation:
                output += Array("+ Ready for literal data\r\n".utf8)
                await flush()
            case .literalStarts(let size, let binary, let synchronizing):
                discardAppendSpool()
                appendSpool = IMAPAppendSpool(directory: accounts.spoolDirectory, name: "append-\(id)-\(accounts.makeNonce())",
                                              binary: binary)
                logger.debug("spooling an APPEND literal", metadata: ["octets": "\(size)"])
                if synchronizing {
                    output += Array("+ Ready for literal data\r\n".utf8)
                    await flush()
                }
            case .literalData(let bytes):
                appendSpool?.append(bytes)
            case .refusedLiteral(let tag, let size):
                tagged(tag, .literalTooBig(size, limit: size > reader.largestLiteral ? reader.largestLiteral : reader.literalLimit))
            case .fatal(let text):
                untagged("BYE \(text)")
                tally.lastError = "BYE \(text)"
                closedByServer = true
                return nil
            case .needInput:
                await flush()
                switch await transport.read() {
                case .bytes(let bytes): input.append(bytes)
                case .tlsStarted: continue
                case .timedOut:
                    untagged(.autologout)
                    tally.lastError = "timeout"
                    closedByServer = true
                    return nil
                case .closed:
                    return nil
                }
            }
        }
    }

    /// Drops a spooled APPEND literal its command did not take.
    func discardAppendSpool() {
        appendSpool?.discard()
        appendSpool = nil
    }

    var capabilities: String {
        var words = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ENABLE", "IDLE", "NAMESPACE", "ID", "UIDPLUS", "MOVE",
                     "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CONDSTORE", "QRESYNC", "ESEARCH",
                     "BINARY", "UTF8=ACCEPT", "STATUS=SIZE", "SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "QUOTA",
                     "QUOTA=RES-STORAGE"]
        if case .notAuthenticated = state {
            if tls == nil && transport.tlsAvailable { words.append("STARTTLS") }
            if !plainTextAllowed { words.append("LOGINDISABLED") }
            words += mechanisms.map { "AUTH=\($0.rawValue)" }
        }
        return words.joined(separator: " ")
    }

    var plainTextAllowed: Bool { tls != nil || accounts.authWithoutTLS }

    var mechanisms: [SASLMechanism] {
        SASLMechanism.allCases.filter { ($0 != .cramMD5 || accounts.cramMD5) && (!$0.sendsPassword || plainTextAllowed) }
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

    func handle(_ command: IMAPCommand) async {
        let tag = command.tag
        switch command.kind {
        case .capability:
            untagged("CAPABILITY \(capabilities)")
            tagged(tag, .completed("CAPABILITY"))
        case .noop, .check:
            await refresh(allowExpunge: true)
            tagged(tag, .completed("NOOP"))
        case .logout:
            untagged(.loggingOut)
            tagged(tag, .completed("LOGOUT"))
            tally.endedNormally = true
            closing = true
        case .id:
            untagged("ID (\"name\" \"Pillarbox\" \"vendor\" \"Pillarbox\")")
            tagged(tag, .completed("ID"))
        case .startTLS:
            await startTLS(tag)
        case .login(let user, let password):
            await login(tag, user: user, password: password)
        case .authenticate(let mechanism, let initial):
            await authenticate(tag, mechanism: mechanism, initial: initial)
        default:
            guard let user = authenticatedUser else {
                tagged(tag, .logInFirst)
                countError()
                return
            }
            await authenticatedCommand(command, user: user)
        }
    }

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
        do {
            switch command.kind {
            case .enable(let capabilities):
                var newly: [String] = []
                for capability in capabilities where ["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"].contains(capability) {
                    if enabled.insert(capability).inserted { newly.append(capability) }
                    if capability == "QRESYNC" { enabled.insert("CONDSTORE") }
                }
                untagged("ENABLED" + newly.map { " " + $0 }.joined())
                tagged(tag, .completed("ENABLE"))
            case .namespace:
                untagged("NAMESPACE ((\"\" \"/\")) NIL NIL")
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
            case .idle:
                await idle(tag, user: user)
            case .getQuota(let root):
                try await quota(tag: tag, root: root, mailbox: nil, user: user)
            case .getQuotaRoot(let mailbox):
                try await quota(tag: tag, root: nil, mailbox: mailbox, user: user)
            case .sort(let uid, let criteria, let key):
                guard selected != nil else { tagged(tag, .selectFirst); return }
                try await sort(tag: tag, uid: uid, criteria: criteria, key: key, user: user)
            case .thread(let uid, let algorithm, let key):
                guard selected != nil else { tagged(tag, .selectFirst); return }
                try await thread(tag: tag, uid: uid, algorithm: algorithm, key: key, user: user)
            case .close, .unselect, .expunge, .uidExpunge, .search, .fetch, .store, .copy, .move:
                guard selected != nil else {
                    tagged(tag, .selectFirst)
                    return
                }
                defer { if command.kind.changesMessages { accounts.noteChange() } }
                if command.kind.enablesCondStore { enableCondStore() }
                try await messageCommand(command, user: user)
            case .capability, .noop, .check, .logout, .id, .startTLS, .login, .authenticate:
                break
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

    // MARK: Authentication

    func startTLS(_ tag: String) async {
        guard case .notAuthenticated = state, tls == nil, transport.tlsAvailable else {
            tagged(tag, .startTLSUnavailable)
            return
        }
        // RFC 9051 §6.2.1 and CVE-2011-0411: nothing pipelined after STARTTLS may run inside TLS.
        guard input.isEmpty, reader.isIdle else {
            input.discardAll()
            untagged(.pipelinedAfterSTARTTLS)
            closing = true
            return
        }
        await flush()
        do { try await transport.startTLS(reply: Array("\(tag) OK Begin TLS negotiation now\r\n".utf8)) } catch {
            closing = true
            return
        }
        switch await transport.read() {
        case .tlsStarted(let version): tls = version ?? "TLS"
        default: closing = true
        }
    }

    func login(_ tag: String, user name: String, password: String) async {
        guard case .notAuthenticated = state else {
            tagged(tag, .alreadyLoggedIn)
            return
        }
        guard plainTextAllowed else {
            tagged(tag, .loginNeedsTLS)
            return
        }
        guard let user = await accounts.authenticator.checkPassword(user: name, password: password) else {
            await loginFailed(tag, user: name, reason: "bad password (LOGIN)")
            return
        }
        await loggedIn(tag, user)
    }

    func loginFailed(_ tag: String, user: String, reason: String) async {
        failedLogins += 1
        let blocked = await accounts.logins.failed(user: user, reason: reason, service: service.rawValue, sessionID: id, clientIP: clientIP)
        // The BYE, when there is one, comes before the tagged reply so that a client waiting for
        // that reply reads it before the connection closes.
        if blocked {
            // The login IPS blocked this address with that failure: no more guesses here.
            untagged(.blocked)
            tally.lastError = "BYE blocked"
            closedByServer = true
            closing = true
        } else if failedLogins >= limits.maxFailedLogins {
            untagged(.tooManyFailedLogins)
            tally.lastError = "BYE Too many failed logins"
            closedByServer = true
            closing = true
        }
        tagged(tag, .authenticationFailed)
    }

    func loggedIn(_ tag: String, _ user: UserRecord) async {
        guard !user.lockedOut, user.protocols.contains(.imap) else {
            await loginFailed(tag, user: user.name, reason: "not allowed to use IMAP")
            return
        }
        if let ticket, !ticket.logIn(user: user.id, bound: accounts.sessionBounds.perUserAndAddress) {
            untagged("BYE [UNAVAILABLE] Too many sessions for \(user.name) from your address")
            tagged(tag, .tooManyUserSessions)
            tally.lastError = "BYE too many sessions"
            closedByServer = true
            closing = true
            return
        }
        state = .authenticated(user)
        reader.literalLimit = min(limits.literalSize, limits.literalSizeInMemory)
        reader.streamedLiteralLimit = limits.literalSize
        reader.commandLimit = reader.literalLimit + 4 * limits.lineLength
        tally.user = user.name
        tally.authSuccesses += 1
        logger.info("logged in", metadata: ["user": "\(user.name)"])
        tagged(tag, "OK [CAPABILITY \(capabilities)] Logged in")
    }

    func authenticate(_ tag: String, mechanism name: String, initial: [UInt8]?) async {
        guard case .notAuthenticated = state else {
            tagged(tag, .alreadyLoggedIn)
            return
        }
        guard let mechanism = SASLMechanism(rawValue: name), mechanisms.contains(mechanism) else {
            tagged(tag, SASLMechanism(rawValue: name) != nil ? "NO [PRIVACYREQUIRED] Use STARTTLS first" : "NO Unsupported mechanism")
            return
        }
        let authenticator = accounts.authenticator
        let channel = SASLDriver.Channel(
            challenge: { bytes in
                self.output += Array("+ \(Base64.encode(bytes))\r\n".utf8)
                await self.flush()
                return await self.nextSASLLine()
            },
            checkPassword: { await authenticator.checkPassword(user: $0, password: $1) != nil },
            credentials: { await authenticator.credentials(user: $0, mechanism: $1) })
        switch await SASLDriver.run(mechanism, hostname: accounts.hostname, nonce: accounts.makeNonce(), initial: initial,
                                    over: channel) {
        case .succeeded(let name):
            guard let user = authenticator.user(named: name) else {
                await loginFailed(tag, user: name, reason: "no such user")
                return
            }
            await loggedIn(tag, user)
        case .failed(.cancelled):
            tagged(tag, .authenticationCancelled)
        case .failed, .malformedLine:
            await loginFailed(tag, user: "", reason: "\(mechanism.rawValue) exchange failed")
        case .connectionEnded:
            closing = true
        }
    }

    func nextSASLLine() async -> ArraySlice<UInt8>? {
        while true {
            do {
                if let line = try input.nextLine(limit: limits.lineLength) { return line }
            } catch {
                return nil
            }
            switch await transport.read() {
            case .bytes(let bytes): input.append(bytes)
            case .tlsStarted: continue
            case .timedOut, .closed: return nil
            }
        }
    }

    // MARK: IDLE

    /// RFC 2177: untagged updates as they happen until the client sends DONE. The log's
    /// notifications wake the session; there is no polling loop.
    /// What ends a wait during IDLE.
    enum IdleEvent: Sendable {
        /// A whole line arrived (DONE or not), with the input left after it.
        case line(done: Bool, rest: LineBuffer)
        /// The connection ended, timed out or broke a line rule.
        case ended
        /// The log may have grown.
        case wake(UInt64)
    }

    /// RFC 2177. The session's own task does everything; two child tasks only wait, one for the
    /// client's next line (owning the input buffer meanwhile) and one for the log's wake-ups,
    /// and hand what they found back to it.
    func idle(_ tag: String, user: UserRecord) async {
        output += Array("+ idling\r\n".utf8)
        let store = accounts.store
        // Read before the first refresh: a wake-up that comes during it must still count.
        let initialGeneration = store.appendGeneration
        await refresh(allowExpunge: true)
        await flush()
        let transport = self.transport
        let limit = limits.lineLength
        let buffered = input
        input = LineBuffer()
        let done: Bool = await withTaskGroup(of: IdleEvent.self) { group in
            group.addTask { await Self.nextIdleLine(transport, buffered, limit: limit) }
            group.addTask { await Self.nextWake(store, after: initialGeneration) }
            while let event = await group.next() {
                switch event {
                case .wake(let generation):
                    await refresh(allowExpunge: true)
                    await flush()
                    group.addTask { await Self.nextWake(store, after: generation) }
                case .line(let done, let rest):
                    input = rest
                    group.cancelAll()
                    return done
                case .ended:
                    group.cancelAll()
                    return false
                }
            }
            return false
        }
        if done {
            tagged(tag, "OK IDLE terminated")
        } else {
            // RFC 2177: only DONE ends IDLE; anything else ends the session.
            untagged(.idleNotDone)
            tagged(tag, .expectedDone)
            tally.lastError = "BYE Expected DONE to end IDLE"
            closedByServer = true
            closing = true
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
        await store.waitForAppend(after: generation, timeout: .seconds(60))
        return .wake(store.appendGeneration)
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
