import Commands
import EventLog
import Facts
import Foundation
import IMAPWire
import Logging
import Projections

/// RFC 5465 NOTIFY: events pushed while the client is between commands (and during IDLE) —
/// the selected mailbox's new messages, expunges and flag changes as they happen, STATUS for
/// other watched mailboxes whose counts change, LIST for mailboxes created, deleted, renamed or
/// (un)subscribed. Changes are found by comparing what the projection holds now with what the
/// session last told the client, so nothing depends on which events woke it.
extension IMAPSession {
    /// What the client asked for and what it was last told.
    struct NotifyWatch {
        var spec: IMAPNotify
        /// Watched mailboxes other than the selected one, keyed by owner and mailbox id.
        var mailboxes: [MailboxKey: WatchedMailbox]
        var subscribed: Set<String>
        /// The log's position when the mailboxes were last compared.
        var generation: UInt64
    }

    struct MailboxKey: Hashable {
        let owner: String
        let id: Int64
    }

    struct WatchedMailbox: Equatable {
        var name: String
        var messages: Int64
        var uidNext: UInt32
        var uidValidity: UInt32
        var highestModSeq: Int64
    }

    func notifyCommand(_ tag: String, _ spec: IMAPNotify?, user: UserRecord) async throws {
        guard let spec else {
            notifyWatch = nil
            tagged(tag, .completed("NOTIFY"))
            return
        }
        let unknown = spec.groups.flatMap(\.events).contains { event in
            switch event {
            case .other, .annotationChange: true
            default: false
            }
        }
        if unknown {
            tagged(tag, "NO [BADEVENT (\(IMAPNotify.supportedEvents.joined(separator: " ")))] Event not supported")
            return
        }
        if let violation = spec.violation {
            tagged(tag, "BAD \(violation)")
            return
        }
        let generation = accounts.store.appendGeneration(for: IMAPAccounts.followed)
        let (mailboxes, subscribed) = try await watchedState(spec, user: user)
        notifyWatch = NotifyWatch(spec: spec, mailboxes: mailboxes, subscribed: subscribed, generation: generation)
        if spec.status {
            for (key, mailbox) in mailboxes.sorted(by: { $0.value.name < $1.value.name }) {
                guard let events = events(for: key, name: mailbox.name, spec: spec, subscribed: subscribed, user: user),
                      events.contains(.messageExpunge) else { continue }
                untagged(statusLine(key, mailbox, flagChanges: events.contains(.flagChange), user: user))
            }
        }
        tagged(tag, .completed("NOTIFY"))
    }

    /// The events the first filter naming this mailbox asks for (RFC 5465 §6); nil when none
    /// does, or when it is the selected mailbox (the SELECTED filters speak for that one).
    func events(for key: MailboxKey, name: String, spec: IMAPNotify, subscribed: Set<String>, user: UserRecord) -> [IMAPNotify.Event]? {
        if let current = selected, current.owner == key.owner, current.mailbox.id == key.id { return nil }
        let visible = visibleName(owner: key.owner, name, user: user)
        let canonical = MailboxNames.canonical(visible)
        for group in spec.groups {
            let matches: Bool
            switch group.filter {
            case .selected, .selectedDelayed: matches = false
            case .inboxes: matches = key.owner == user.id && name == "INBOX"
            case .personal: matches = key.owner == user.id
            case .subscribed: matches = subscribed.contains(canonical)
            case .subtree(let names):
                matches = names.compactMap(storedName).contains { MailboxNames.canonical($0) == canonical || canonical.hasPrefix(MailboxNames.canonical($0) + "/") }
            case .mailboxes(let names):
                matches = names.compactMap(storedName).contains { MailboxNames.canonical($0) == canonical }
            }
            if matches { return group.events.isEmpty ? nil : group.events }
        }
        return nil
    }

    /// The user's own mailboxes, and other users' ones the filters name, as they stand now.
    func watchedState(_ spec: IMAPNotify, user: UserRecord) async throws -> ([MailboxKey: WatchedMailbox], Set<String>) {
        let reader = accounts.mail.reader
        var result: [MailboxKey: WatchedMailbox] = [:]
        for mailbox in try await reader.mailboxes(user.id) where mailbox.selectable {
            result[MailboxKey(owner: user.id, id: mailbox.id)] = WatchedMailbox(mailbox)
        }
        let named = spec.groups.flatMap { group -> [String] in
            switch group.filter {
            case .mailboxes(let names), .subtree(let names): names
            default: []
            }
        }
        for text in named {
            guard let stored = storedName(text), let location = locate(stored, user: user), location.owner != user.id,
                  let mailbox = try await reader.mailbox(location.owner, named: location.name), mailbox.selectable,
                  try await rights(owner: location.owner, mailboxID: mailbox.id, user: user).contains("r") else { continue }
            result[MailboxKey(owner: location.owner, id: mailbox.id)] = WatchedMailbox(mailbox)
        }
        let subscribed = Set(try await reader.subscriptions(user.id).map(MailboxNames.canonical))
        return (result, subscribed)
    }

    func statusLine(_ key: MailboxKey, _ mailbox: WatchedMailbox, flagChanges: Bool, user: UserRecord) -> String {
        let name = String(decoding: wireName(visibleName(owner: key.owner, mailbox.name, user: user)), as: UTF8.self)
        var items = "MESSAGES \(mailbox.messages) UIDNEXT \(mailbox.uidNext) UIDVALIDITY \(mailbox.uidValidity)"
        if flagChanges { items += " HIGHESTMODSEQ \(mailbox.highestModSeq)" }
        return "STATUS \(name) (\(items))"
    }

    /// The log moved: tells the client what changed in what it watches.
    func sendNotifications(user: UserRecord) async {
        guard var watch = notifyWatch else { return }
        watch.generation = accounts.store.appendGeneration(for: IMAPAccounts.followed)
        // The selected mailbox, when a SELECTED filter asks for its events.
        if let group = watch.spec.groups.first(where: { $0.filter.isSelected }), !group.events.isEmpty, let before = selected {
            let known = Set(before.uids)
            await refresh(allowExpunge: group.filter == .selected)
            for case .messageNew(let items) in group.events where !items.isEmpty {
                let new = (selected?.uids ?? []).filter { !known.contains($0) }
                if !new.isEmpty, selected?.mailbox.id == before.mailbox.id {
                    let set = IMAPSequenceSet(ranges: new.map { IMAPSequenceSet.Range(from: .number($0), to: .number($0)) })
                    try? await fetch(set, uid: true, items: items, changedSince: nil, vanished: false, user: user)
                }
            }
        }
        do {
            let (now, subscribed) = try await watchedState(watch.spec, user: user)
            for (key, mailbox) in now.sorted(by: { $0.value.name < $1.value.name }) {
                guard let events = events(for: key, name: mailbox.name, spec: watch.spec, subscribed: subscribed, user: user) else { continue }
                guard let old = watch.mailboxes[key] else {
                    if events.contains(.mailboxName) { untagged(listLine(key, mailbox.name, attributes: "", oldName: nil, user: user)) }
                    continue
                }
                if old.name != mailbox.name, events.contains(.mailboxName) {
                    untagged(listLine(key, mailbox.name, attributes: "", oldName: old.name, user: user))
                }
                let counts = old.messages != mailbox.messages || old.uidNext != mailbox.uidNext || old.uidValidity != mailbox.uidValidity
                let flags = events.contains(.flagChange) && old.highestModSeq != mailbox.highestModSeq
                if events.contains(.messageExpunge) && (counts || flags) {
                    untagged(statusLine(key, mailbox, flagChanges: events.contains(.flagChange), user: user))
                }
            }
            for (key, old) in watch.mailboxes where now[key] == nil {
                guard let events = events(for: key, name: old.name, spec: watch.spec, subscribed: watch.subscribed, user: user),
                      events.contains(.mailboxName) else { continue }
                untagged(listLine(key, old.name, attributes: "\\NonExistent", oldName: nil, user: user))
            }
            if subscribed != watch.subscribed {
                let names = Dictionary(now.map { (MailboxNames.canonical(visibleName(owner: $0.key.owner, $0.value.name, user: user)), $0) },
                                       uniquingKeysWith: { first, _ in first })
                for name in subscribed.symmetricDifference(watch.subscribed).sorted() {
                    guard let (key, mailbox) = names[name],
                          let events = events(for: key, name: mailbox.name, spec: watch.spec, subscribed: subscribed.union(watch.subscribed),
                                              user: user),
                          events.contains(.subscriptionChange) else { continue }
                    untagged(listLine(key, mailbox.name, attributes: subscribed.contains(name) ? "\\Subscribed" : "", oldName: nil, user: user))
                }
            }
            watch.mailboxes = now
            watch.subscribed = subscribed
        } catch {
            logger.warning("NOTIFY could not read the mailboxes", metadata: ["error": "\(error)"])
        }
        notifyWatch = watch
    }

    func listLine(_ key: MailboxKey, _ name: String, attributes: String, oldName: String?, user: UserRecord) -> String {
        let shown = String(decoding: wireName(visibleName(owner: key.owner, name, user: user)), as: UTF8.self)
        var line = "LIST (\(attributes)) \"/\" \(shown)"
        if let oldName {
            let old = String(decoding: wireName(visibleName(owner: key.owner, oldName, user: user)), as: UTF8.self)
            line += " (\"OLDNAME\" (\(old)))"
        }
        return line
    }

    /// Waits for the client's next bytes while a NOTIFY is in force, sending what changes in
    /// the meantime (the same two waiting tasks as IDLE).
    func notifyingRead(user: UserRecord) async -> IMAPStateMachine.Input {
        let store = accounts.store
        if let watch = notifyWatch, store.appendGeneration(for: IMAPAccounts.followed) != watch.generation {
            await sendNotifications(user: user) // changes made while the last command ran
        }
        await flush()
        let transport = self.transport
        return await withTaskGroup(of: NotifyEvent.self) { group in
            group.addTask { .read(await transport.read()) }
            group.addTask { [generation = notifyWatch?.generation ?? 0] in .wake(await Self.nextWake(store, after: generation)) }
            while let event = await group.next() {
                switch event {
                case .wake:
                    await sendNotifications(user: user)
                    await flush()
                    group.addTask { [generation = notifyWatch?.generation ?? 0] in .wake(await Self.nextWake(store, after: generation)) }
                case .read(let result):
                    switch result {
                    case .bytes(let bytes):
                        group.cancelAll()
                        return .received(bytes)
                    case .tlsStarted:
                        group.addTask { .read(await transport.read()) }
                    case .timedOut:
                        group.cancelAll()
                        return .timedOut
                    case .closed:
                        group.cancelAll()
                        return .closed
                    }
                }
            }
            return .closed
        }
    }

    enum NotifyEvent: Sendable {
        case read(ClientInput)
        case wake(IdleEvent)
    }
}

extension IMAPSession.WatchedMailbox {
    init(_ mailbox: MailboxInfo) {
        self.init(name: mailbox.name, messages: mailbox.messages, uidNext: mailbox.uidNext, uidValidity: mailbox.uidValidity,
                  highestModSeq: mailbox.highestModSeq)
    }
}
