import Commands
import EventLog
import Facts
import Foundation
import MailCore
import Projections

/// The ListServer: commands by mail, answered by mail (never to a bounce or automatic mail).
extension ListContext {
    static let help = """
        Commands, in the subject or one per line in the body (the body is read only when the
        subject is no command; reading stops at "end" or a signature):

          subscribe <list> [address]        join a list (also: sub)
          unsubscribe <list>|* [address]    leave a list, or every list (also: uns)
          users <list>                      the members, when the list allows it
          lists                             the lists that take mail from anyone
          confirm <token>                   confirm a request this server sent you
          approve <token>                   send a held post on (moderators)
          reject <token> [reason]           reject a held post (moderators)
          help                              this text
        """

    func commands(_ stored: [UInt8], accepted: MessageAccepted) async throws {
        let message = ListPost.withoutReturnPath(stored)
        let header = MessageHeader.parse(message)
        let sender = accepted.reversePath
        let subject = MIMEParser.summarise(Array(message.prefix(header.size))).subjectText ?? ""
        // The commands as written: a MIME message's first plain-text part, decoded.
        let reading = ListServerCommand.read(subject: subject, body: MessageText.plain(message, limit: 64 * 1024))
        var results: [ListServerAnswered.Command] = []
        var appends: [PendingAppend] = []
        if let refusal = Self.automatic(header, sender: sender) {
            // Never answered; not carried out either (a bounce or an autoresponder's reply
            // quoting our commands must not act).
            results.append(.init(command: "(none carried out)", result: "not answered: \(refusal)"))
            return try await record(accepted, sender: sender, results: results, replyID: nil, appends: [])
        }
        let speaking = Self.senders(accepted, header: header)
        for command in reading.commands {
            let (result, more) = try await run(command, sender: sender, speaking: speaking)
            results.append(.init(command: command.text, result: result))
            appends += more
        }
        var replyID: String?
        if reading.commands.isEmpty {
            results.append(.init(command: "(no command)", result: ignoreWithoutCommands ? "not answered" : "answered with help"))
            if reportBad {
                let report = try mail(to: [mainAdministrator], from: "", subject: "ListServer message without a command",
                                      text: "A message to \(listServer) from \(sender) held no command; it is attached.",
                                      attaching: message)
                appends += report.appends
            }
            if !ignoreWithoutCommands {
                let reply = try mail(to: [sender], from: "", subject: "Re: \(subject)",
                                     text: "No command was found in your message.\n\n\(Self.help)")
                replyID = reply.id
                appends += reply.appends
            }
        } else {
            var text = ""
            for result in results { text += "> \(result.command)\n\(result.result)\n\n" }
            if !reading.unknown.isEmpty {
                text += "Not understood (\(reading.unknown.count) line\(reading.unknown.count == 1 ? "" : "s")):\n"
                for line in reading.unknown.prefix(10) { text += "> \(line)\n" }
                text += "\n"
            }
            if reading.truncated { text += "Only the first \(ListServerCommand.lineLimit) lines were read.\n\n" }
            text += "Send \"help\" to \(listServer) for the commands."
            let reply = try mail(to: [sender], from: "", subject: "Re: \(subject)", text: text)
            replyID = reply.id
            appends += reply.appends
        }
        try await record(accepted, sender: sender, results: results, replyID: replyID, appends: appends)
    }

    /// Why a message to the ListServer is neither carried out nor answered: a bounce or
    /// automatic mail (RFC 3834). Unlike an autoresponder, the ListServer does take commands
    /// from a postmaster's or a list owner's address.
    static func automatic(_ header: MessageHeader, sender: String) -> String? {
        if let automatic = Answering.automatic(header, sender: sender) { return automatic }
        return header.first("List-Id") != nil ? "list mail (List-Id)" : nil
    }

    func record(_ accepted: MessageAccepted, sender: String, results: [ListServerAnswered.Command], replyID: String?,
                appends: [PendingAppend]) async throws {
        try await transaction.append(appends + [PendingAppend(stream: ListServerAnswered.stream, expectedVersion: .any, events: [
            PendingEvent(ListServerAnswered(messageID: accepted.messageID, sender: sender, commands: results, replyID: replyID)),
        ])])
        logger.info("ListServer answered", metadata: ["message": "\(accepted.messageID)", "commands": "\(results.count)"])
    }

    func directory(for sender: String) -> Directory {
        Directory(engine: engine, actor: "listserver:\(sender.isEmpty ? "<>" : sender)")
    }

    func storedMember(_ address: String, of list: String) -> String? {
        ListMembership.storedMember(address, of: list, router: router)
    }

    /// One command, carried out: the answer's line and what it sends.
    func run(_ command: ListServerCommand, sender: String, speaking: [String]) async throws -> (String, [PendingAppend]) {
        switch command.verb {
        case .help:
            return (Self.help, [])
        case .lists:
            let lists = snapshot.lists.values.filter { $0.kind == .mailing && $0.isPublic }.sorted { $0.name < $1.name }
            guard !lists.isEmpty else { return ("No list takes mail from anyone here.", []) }
            return (lists.map { "\($0.name)\($0.description.isEmpty ? "" : ": \($0.description)")" }.joined(separator: "\n"), [])
        case .users:
            guard let list = mailingList(command.arguments[0]) else { return ("There is no mailing list \(command.arguments[0]).", []) }
            guard list.mailingOptions.membersMayList, isMember(speaking, of: list.name.lowercased()) || isModerator(speaking, of: list) else {
                return ("The members of \(list.name) are not given out.", [])
            }
            let members = (snapshot.listMembers[list.name.lowercased()] ?? []).map { $0.contains("@") ? $0 : "\($0)@\(domain)" }
            return (members.isEmpty ? "\(list.name) has no members." : members.joined(separator: "\n"), [])
        case .subscribe:
            let result = try await subscribe(command, sender: sender)
            try await reload()
            return result
        case .unsubscribe:
            let result = try await unsubscribe(command, sender: sender)
            try await reload()
            return result
        case .confirm:
            let result = try await confirm(command.arguments[0], sender: sender)
            try await reload()
            return result
        case .approve, .reject:
            let token = command.arguments[0]
            guard let pending = try await ListsProjection.pending(token: token, on: connection, logger: logger), pending.kind == "post" else {
                return ("No post waits on \(token) (it may have been decided already).", [])
            }
            guard let list = snapshot.lists[pending.list], isModerator(speaking, of: list) else {
                return ("Only a moderator of \(pending.list) may decide on its posts.", [])
            }
            let approved = command.verb == .approve
            let decision = ListPostModerated(list: pending.list, token: token, approved: approved, actor: "mail:\(sender)",
                                             reason: command.arguments.count > 1 ? command.arguments[1] : nil)
            return (approved ? "The post \"\(pending.subject ?? "")\" goes to \(list.name)." : "The post \"\(pending.subject ?? "")\" is rejected.",
                    [PendingAppend(stream: try ListPostDistributed.stream(list: pending.list), expectedVersion: .any,
                                   events: [PendingEvent(decision)])])
        }
    }

    func mailingList(_ name: String) -> ListRecord? {
        guard let list = snapshot.lists[name.lowercased()], list.kind == .mailing else { return nil }
        return list
    }

    /// A plain address someone may join with (no inline LAN target, no bare name).
    static func joinable(_ address: String) -> Bool {
        !InlineSMTPTarget.isInline(address) && DirectoryRules.isAliasAddress(address.lowercased()) && address.contains("@")
    }

    func subscribe(_ command: ListServerCommand, sender: String) async throws -> (String, [PendingAppend]) {
        guard let list = mailingList(command.arguments[0]) else { return ("There is no mailing list \(command.arguments[0]).", []) }
        let address = (command.arguments.count > 1 ? command.arguments[1] : sender).lowercased()
        guard Self.joinable(address) else { return ("\(address) is not an address that can join a list.", []) }
        let options = list.mailingOptions
        if options.isBanned(address) { return ("\(address) may not join \(list.name).", []) }
        if storedMember(address, of: list.name.lowercased()) != nil { return ("\(address) is already a member of \(list.name).", []) }
        switch options.subscription {
        case .closed:
            return ("\(list.name) takes members only from its administrator.", [])
        case .open where identity(address) == identity(sender):
            try await directory(for: sender).addListMember(list.name, address: address, in: transaction)
            return ("\(address) is now a member of \(list.name).", [])
        case .open, .confirm:
            return try request(list, address: address, subscribe: true, sender: sender)
        }
    }

    func unsubscribe(_ command: ListServerCommand, sender: String) async throws -> (String, [PendingAppend]) {
        let address = (command.arguments.count > 1 ? command.arguments[1] : sender).lowercased()
        guard address.contains("@") else { return ("\(address) is not an address.", []) }
        let lists: [ListRecord]
        if command.arguments[0] == "*" {
            lists = snapshot.lists.values.filter { $0.kind == .mailing && storedMember(address, of: $0.name.lowercased()) != nil }
                .sorted { $0.name < $1.name }
            guard !lists.isEmpty else { return ("\(address) is a member of no mailing list.", []) }
        } else {
            guard let list = mailingList(command.arguments[0]) else { return ("There is no mailing list \(command.arguments[0]).", []) }
            lists = [list]
        }
        var lines: [String] = []
        var appends: [PendingAppend] = []
        for list in lists {
            guard let member = storedMember(address, of: list.name.lowercased()) else {
                lines.append("\(address) is not a member of \(list.name).")
                continue
            }
            if list.mailingOptions.subscription != .confirm, identity(address) == identity(sender) {
                try await directory(for: sender).removeListMember(list.name, address: member, in: transaction)
                lines.append("\(address) has left \(list.name).")
            } else {
                let (line, more) = try request(list, address: address, subscribe: false, sender: sender)
                lines.append(line)
                appends += more
            }
        }
        return (lines.joined(separator: "\n"), appends)
    }

    /// Asks `address` to confirm joining or leaving, with a token that expires.
    func request(_ list: ListRecord, address: String, subscribe: Bool, sender: String) throws -> (String, [PendingAppend]) {
        let token = Self.token()
        let hours = list.mailingOptions.confirmHours
        let what = subscribe ? "join the list \(list.name)" : "leave the list \(list.name)"
        let text = """
            \(sender.isEmpty ? "Someone" : sender) asked for \(address) to \(what) at \(domain).

            To confirm, reply to this message (or send "confirm \(token)" to \(listServer)) within \(hours) hours.
            If you did not ask for this, do nothing: nothing changes.
            """
        let notice = try mail(to: [address], from: "", subject: "confirm \(token)", text: text, replyTo: listServer)
        let requested = ListSubscriptionRequested(list: list.name.lowercased(), address: address, subscribe: subscribe, token: token,
                                                  expiresAt: now.addingTimeInterval(Double(hours) * 3_600), requestedBy: sender,
                                                  noticeID: notice.id)
        return ("A request to confirm was sent to \(address).",
                notice.appends + [PendingAppend(stream: try ListPostDistributed.stream(list: list.name), expectedVersion: .any,
                                                events: [PendingEvent(requested)])])
    }

    func confirm(_ token: String, sender: String) async throws -> (String, [PendingAppend]) {
        guard let pending = try await ListsProjection.pending(token: token, on: connection, logger: logger),
              pending.kind == "subscribe" || pending.kind == "unsubscribe" else {
            return ("Nothing waits on \(token) (it may have been confirmed already).", [])
        }
        guard pending.expiresAt > now else { return ("The request \(token) has expired; ask again.", []) }
        guard let list = mailingList(pending.list) else { return ("The list \(pending.list) no longer exists.", []) }
        let subscribe = pending.kind == "subscribe"
        let confirmed = PendingAppend(stream: try ListPostDistributed.stream(list: list.name), expectedVersion: .any, events: [
            PendingEvent(ListSubscriptionConfirmed(list: list.name.lowercased(), address: pending.address, subscribe: subscribe, token: token)),
        ])
        let directory = directory(for: sender)
        if subscribe {
            if list.mailingOptions.isBanned(pending.address) { return ("\(pending.address) may not join \(list.name).", []) }
            if storedMember(pending.address, of: list.name.lowercased()) == nil {
                try await directory.addListMember(list.name, address: pending.address, in: transaction)
            }
            return ("\(pending.address) is now a member of \(list.name).", [confirmed])
        }
        if let member = storedMember(pending.address, of: list.name.lowercased()) {
            try await directory.removeListMember(list.name, address: member, in: transaction)
        }
        return ("\(pending.address) has left \(list.name).", [confirmed])
    }
}
