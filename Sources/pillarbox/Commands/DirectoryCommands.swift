import ArgumentParser
import Commands
import Delivery
import EventLog
import Facts
import Foundation
import Projections

/// Options of every directory command: the usual ones plus `--json`.
struct DirectoryOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    var output: Output { Output(json: json) }

    func withDirectory<T: Sendable>(_ body: @Sendable (Directory) async throws -> T) async throws -> T {
        let (configuration, logger) = try global.load()
        return try await withProjectionEngine(configuration, logger: logger) { engine in
            let cost = try await Settings(engine: engine).value(SettingKey.scryptCost)
            let vault = SecretVault(keys: configuration.keys, logger: logger)
            return try await body(Directory(engine: engine, passwordCost: .init(scryptLogN: cost), vault: vault, actor: commandLineActor))
        }
    }
}

struct DomainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "domain", abstract: "Local domains and the default domain.",
        subcommands: [Add.self, List.self, Remove.self, Default.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a local domain (wildcards * and ? allowed).")
        @OptionGroup var options: DirectoryOptions
        @Argument var pattern: String
        func run() async throws {
            try await options.withDirectory { try await $0.addDomain(pattern) }
            options.output.done("added domain \(pattern)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List local domains.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let snapshot = try await options.withDirectory { try await $0.snapshot() }
            options.output.print(columns: ["domain", "default"], rows: snapshot.domains.map {
                [$0, $0 == snapshot.defaultDomain ? "yes" : ""]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a local domain.")
        @OptionGroup var options: DirectoryOptions
        @Argument var pattern: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeDomain(pattern) }
            options.output.done("removed domain \(pattern)")
        }
    }

    struct Default: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the default domain, or set it.")
        @OptionGroup var options: DirectoryOptions
        @Argument var domain: String?
        func run() async throws {
            let current = try await options.withDirectory { directory -> String? in
                if let domain { try await directory.setDefaultDomain(domain) }
                return try await directory.snapshot().defaultDomain
            }
            print(current ?? "(none)")
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Users: accounts, passwords and their settings.",
        subcommands: [Add.self, List.self, Show.self, Passwd.self, Forward.self, Assistant.self, Message.self, Remove.self, Export.self,
                      Import.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user and their mailbox.",
            discussion: "Names are 1–32 characters of A–Z a–z 0–9 . _ -, compared without case. Without "
                + "--password-stdin the user has no password and cannot log in until one is set.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
        @Flag(help: "Make the user an administrator.") var admin = false
        @Option(help: "Comments.") var comments = ""
        @Flag(help: "Keep a CRAM-MD5 secret for this user (needs auth.cram_md5_allowed).") var cramMd5 = false
        @Flag(help: "Allow POP3 APOP for this user (keeps the password, sealed with the key directory's key).") var apop = false
        @Flag(help: "The user may send only to local recipients (VPOP3's \"may send internet mail\" off).") var localOnly = false
        @Option(help: "Largest message the user may send, in bytes; 0 for no limit.") var maxOutgoingSize: Int64 = 0
        @Option(help: "The user's outgoing mail's place in the queue, -1000 to 1000 (smaller goes first; others are 0).")
        var sendPriority = 0

        func run() async throws {
            let password = passwordStdin ? try readPasswordFromStandardInput() : nil
            try await options.withDirectory { directory in
                if cramMd5, try await Settings(engine: directory.engine).value(SettingKey.cramMD5Allowed) == false {
                    throw CommandFailure("CRAM-MD5 is not allowed: set auth.cram_md5_allowed first")
                }
                var user = UserRecord(name: name)
                user.admin = admin
                user.comments = comments
                user.cramMD5Enabled = cramMd5
                user.maySendInternetMail = !localOnly
                user.apopEnabled = apop
                user.maxOutgoingSize = max(0, maxOutgoingSize)
                guard (-1_000...1_000).contains(sendPriority) else { throw ValidationError("--send-priority must be -1000...1000") }
                user.sendPriority = sendPriority == 0 ? nil : sendPriority
                try await directory.createUser(user, password: password)
            }
            options.output.done(password == nil ? "added user \(name) (no password yet: set one with user passwd)" : "added user \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let users = try await options.withDirectory { directory in
                try await directory.snapshot().users.values.sorted { $0.id < $1.id }
            }
            options.output.print(columns: ["user", "admin", "protocols", "forwarding", "locked", "comments"], rows: users.map {
                [$0.name, $0.admin ? "yes" : "", $0.protocols.map(\.rawValue).joined(separator: ","),
                 $0.useForwarding ? $0.forwardTo : "", $0.lockedOut ? "yes" : "", $0.comments]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one user, with their mailbox use.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            let (user, account) = try await options.withDirectory { directory in
                guard let user = try await directory.snapshot().users[name.lowercased()] else {
                    throw CommandFailure("no user named \(name)")
                }
                return (user, try await directory.mail.reader.account(user.id))
            }
            options.output.print(record: [
                ("user", user.name), ("admin", "\(user.admin)"),
                ("protocols", user.protocols.map(\.rawValue).joined(separator: ",")),
                ("max_outgoing_size", "\(user.maxOutgoingSize)"), ("may_send_internet_mail", "\(user.maySendInternetMail)"),
                ("forward_to", user.forwardTo), ("use_forwarding", "\(user.useForwarding)"),
                ("assistants", user.assistants.joined(separator: ";")),
                ("send_only_to_assistant", "\(user.sendOnlyToAssistant)"), ("reply_to", user.replyTo),
                ("comments", user.comments), ("locked_out", "\(user.lockedOut)"), ("in_everyone", "\(user.inEveryone)"),
                ("cram_md5", "\(user.cramMD5Enabled)"), ("password_set", "\(user.credentials != nil)"),
                ("send_priority", "\(user.sendPriority ?? 0)"),
                ("messages", "\(account?.messages ?? 0)"), ("bytes_used", "\(account?.bytes ?? 0)"),
            ])
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password (read from standard input).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Flag(help: "Read the password from the first line of standard input (the default).") var passwordStdin = false
        func run() async throws {
            let password = try readPasswordFromStandardInput()
            try await options.withDirectory { try await $0.setPassword(name, password: password) }
            options.output.done("changed the password of \(name)")
        }
    }

    struct Forward: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forward a user's incoming mail to an address instead of their mailbox (VPOP3's Forward To and Use Forwarding).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Argument(help: "The address (or local user) to forward to; left out with --off or --on.") var address: String?
        @Flag(help: "Stop forwarding (the address is kept).") var off = false
        @Flag(help: "Forward again to the address kept.") var on = false
        func run() async throws {
            guard [address != nil, off, on].filter({ $0 }).count == 1 else { throw ValidationError("give an address, --off or --on") }
            if let address, address.isEmpty || address.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "," }) {
                throw ValidationError("\(address) is not an address")
            }
            let (address, off) = (self.address, self.off)
            try await options.withDirectory { directory in
                try await directory.updateUser(name) { user in
                    if let address { user.forwardTo = address }
                    guard off || !user.forwardTo.isEmpty else { throw DirectoryError.invalid("forward_to", "no forwarding address is kept") }
                    user.useForwarding = !off
                }
            }
            options.output.done(off ? "\(name)'s mail stays in their mailbox" : "\(name)'s mail is forwarded")
        }
    }

    struct Assistant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A user's assistants: each gets a copy of the user's incoming mail, or with --redirect only they do.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Argument(help: "Local users' names or addresses, separated by ; (replaces the assistants).") var assistants: String?
        @Option(help: "Send only to the assistants (true) or copy to them (false).") var redirect: Bool?
        @Flag(help: "Remove every assistant.") var clear = false
        @Flag(help: "Send every message in the user's INBOX now to each assistant, once (after any change given with it).")
        var copyInbox = false
        func run() async throws {
            guard assistants != nil || redirect != nil || clear || copyInbox else {
                throw ValidationError("give assistants, --redirect, --clear or --copy-inbox")
            }
            if clear && (assistants != nil || copyInbox) { throw ValidationError("--clear with assistants or --copy-inbox") }
            let list = assistants.map { $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            let (redirect, clear, name) = (self.redirect, self.clear, self.name)
            let changes = assistants != nil || redirect != nil || clear
            let copied = try await options.withDirectory { directory -> AssistantCopy.Result? in
                if changes {
                    try await directory.updateUser(name) { user in
                        if let list { user.assistants = list }
                        if clear { user.assistants = [] }
                        if let redirect { user.sendOnlyToAssistant = redirect }
                    }
                }
                guard copyInbox else { return nil }
                return try await AssistantCopy.copyInbox(of: name, engine: directory.engine, logger: directory.engine.logger)
            }
            if changes { options.output.done("changed the assistants of \(name)") }
            if let copied {
                options.output.done("sent \(copied.messages) messages from the INBOX of \(name) to \(copied.assistants.joined(separator: ", "))")
            }
        }
    }

    struct Message: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send an admin message to every member of a group or list, or to everyone, with keywords filled in for each.",
            discussion: "Keywords: " + AdminMessage.keywords.map { "{\($0)}" }.joined(separator: ", ") + ".")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "A group, a list, or everyone.") var target: String
        @Option(help: "The subject.") var subject: String
        @Option(help: "The text.") var text: String?
        @Option(help: "A file holding the text.") var textFile: String?
        @Option(help: "The sender's address (default postmaster@<default domain>).") var from: String?
        func run() async throws {
            guard (text == nil) != (textFile == nil) else { throw ValidationError("give --text or --text-file") }
            let body = try text ?? String(contentsOfFile: textFile!, encoding: .utf8)
            let (target, subject, from) = (self.target, self.subject, self.from)
            let sent = try await options.withDirectory { directory in
                let quota = try await Settings(engine: directory.engine).value(SettingKey<Int>.mailQuotaKiB)
                return try await AdminMessage.send(to: target, subject: subject, text: body, from: from, quotaKiB: quota,
                                                   engine: directory.engine, logger: directory.engine.logger)
            }
            options.output.done("sent the message to \(sent.count) members of \(target): \(sent.joined(separator: ", "))")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user, their aliases and their mail.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeUser(name) }
            options.output.done("removed user \(name), their aliases and their mail")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the users as CSV in VPOP3's column order (passwords as stored hashes).")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let users = try await options.withDirectory { Array(try await $0.snapshot().users.values) }
            FileHandle.standardOutput.write(Data(UserCSV.export(users).utf8))
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge users from a CSV file: new users are created, existing ones updated.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "CSV file; - for standard input.") var file: String
        @Flag(help: "Check every row and report, changing nothing.") var dryRun = false
        func run() async throws {
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
                text = String(decoding: data, as: UTF8.self)
            }
            let report = try await options.withDirectory { try await $0.importUsers(csv: text, dryRun: dryRun) }
            let verb = dryRun ? "would be" : "were"
            print("\(report.created.count) \(verb) created, \(report.updated.count) \(verb) updated, \(report.unchanged.count) unchanged")
        }
    }
}

struct AliasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias", abstract: "Aliases: addresses mapped to a user, a list, *REMOTE or No-one.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Map ADDRESS (name or name@domain) to TARGET.")
        @OptionGroup var options: DirectoryOptions
        @Argument var address: String
        @Argument var target: String
        func run() async throws {
            try await options.withDirectory { try await $0.addAlias(address, target: target) }
            options.output.done("added alias \(address) → \(target)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List aliases.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let aliases = try await options.withDirectory { try await $0.snapshot().aliases }
            options.output.print(columns: ["address", "target"], rows: aliases.sorted { $0.key < $1.key }.map {
                [$0.key, $0.value.description]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an alias.")
        @OptionGroup var options: DirectoryOptions
        @Argument var address: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeAlias(address) }
            options.output.done("removed alias \(address)")
        }
    }
}

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "Groups: the built-in Everyone, Admins and No-one, and custom groups.",
        subcommands: [Add.self, List.self, Show.self, Remove.self, Enable.self, Disable.self, Member.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a custom group.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { try await $0.createGroup(name) }
            options.output.done("added group \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups with their member counts.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let snapshot = try await options.withDirectory { try await $0.snapshot() }
            var rows = DirectoryRules.builtinGroups.map { [$0, "built-in", "yes", "\(snapshot.members(ofGroup: $0).count)"] }
            rows += snapshot.groups.sorted { $0.key < $1.key }.map {
                [$0.value.name, "custom", $0.value.enabled ? "yes" : "no", "\(snapshot.members(ofGroup: $0.key).count)"]
            }
            options.output.print(columns: ["group", "kind", "enabled", "members"], rows: rows)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a group's members.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            let snapshot = try await options.withDirectory { try await $0.snapshot() }
            let known = snapshot.groups[name.lowercased()] != nil
                || DirectoryRules.builtinGroups.contains { $0.lowercased() == name.lowercased() }
            guard known else { throw CommandFailure("no group named \(name)") }
            options.output.print(columns: ["member"], rows: snapshot.members(ofGroup: name).map { [$0] })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a custom group.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeGroup(name) }
            options.output.done("removed group \(name)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let the group's members log in.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { try await $0.setGroupEnabled(name, true) }
            options.output.done("enabled group \(name)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the group's members logging in (mail is still delivered).")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { try await $0.setGroupEnabled(name, false) }
            options.output.done("disabled group \(name)")
        }
    }

    struct Member: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or remove a member (a user is in at most one custom group).",
            subcommands: [MemberAdd.self, MemberRemove.self])
    }

    struct MemberAdd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Put USER in GROUP.")
        @OptionGroup var options: DirectoryOptions
        @Argument var group: String
        @Argument var user: String
        func run() async throws {
            try await options.withDirectory { try await $0.addGroupMember(group, user: user) }
            options.output.done("added \(user) to group \(group)")
        }
    }

    struct MemberRemove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Take USER out of GROUP.")
        @OptionGroup var options: DirectoryOptions
        @Argument var group: String
        @Argument var user: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeGroupMember(group, user: user) }
            options.output.done("removed \(user) from group \(group)")
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Distribution, mailing and forwarding lists.",
        subcommands: [Add.self, Change.self, Remove.self, Show.self, Member.self, Pending.self, Approve.self, Reject.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a list.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Option(help: "distribution, mailing or forwarding.") var kind = "distribution"
        @Flag(help: "Allow incoming mail to be sent to the list.") var `public` = false
        @Option(help: "Description.") var description = ""
        func run() async throws {
            guard let kind = ListRecord.Kind(rawValue: kind) else { throw ValidationError("unknown list kind \(kind)") }
            try await options.withDirectory {
                try await $0.createList(ListRecord(name: name, kind: kind, isPublic: `public`, description: description))
            }
            options.output.done("added \(`public` ? "public" : "members-only") \(kind.rawValue) list \(name)")
        }
    }

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change a list: visibility, description, and a mailing list's posting, subscription and header options.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        @Option(help: "Allow incoming mail to be sent to the list (true/false).") var `public`: Bool?
        @Option(help: "Description (also the List-Id phrase).") var description: String?
        @Option(help: "Who may post: anyone, members, moderated-non-members, moderated.") var posting: String?
        @Option(help: "How addresses join through the ListServer: closed, open, confirm.") var subscription: String?
        @Option(help: "Put before each post's subject, e.g. [team]; empty for none.") var subjectPrefix: String?
        @Option(help: "Replace Reply-To with the list's address (true/false).") var replyToList: Bool?
        @Option(help: "Moderators: user names, addresses or a distribution list, ';'-separated; empty: the main administrator.")
        var moderators: String?
        @Option(help: "Envelope sender of the copies, where bounces go; empty: the main administrator.") var returnAddress: String?
        @Option(help: "One copy per member with the member in To: (true/false).") var slowPosting: Bool?
        @Option(help: "Members may ask the ListServer for the members (true/false).") var membersMayList: Bool?
        @Option(help: "Ban an address or pattern (* and ?) from posting and joining; repeatable.") var ban: [String] = []
        @Option(help: "Lift a ban; repeatable.") var unban: [String] = []
        @Option(help: "Hours a confirmation request or a held post waits.") var confirmHours: Int?

        func run() async throws {
            let posting = try posting.map { value in
                guard let parsed = MailingListOptions.Posting(rawValue: value) else { throw ValidationError("unknown posting \(value)") }
                return parsed
            }
            let subscription = try subscription.map { value in
                guard let parsed = MailingListOptions.Subscription(rawValue: value) else {
                    throw ValidationError("unknown subscription \(value)")
                }
                return parsed
            }
            let mailingChange = posting != nil || subscription != nil || subjectPrefix != nil || replyToList != nil || moderators != nil
                || returnAddress != nil || slowPosting != nil || membersMayList != nil || !ban.isEmpty || !unban.isEmpty || confirmHours != nil
            let command = self
            let list = try await options.withDirectory { directory in
                try await directory.changeList(command.name) { list in
                    if let isPublic = command.public { list.isPublic = isPublic }
                    if let description = command.description { list.description = description }
                    guard mailingChange else { return }
                    guard list.kind == .mailing else {
                        throw CommandFailure("\(list.name) is a \(list.kind.rawValue) list: only a mailing list has these options")
                    }
                    var mailing = list.mailingOptions
                    if let posting { mailing.posting = posting }
                    if let subscription { mailing.subscription = subscription }
                    if let prefix = command.subjectPrefix { mailing.subjectPrefix = prefix }
                    if let value = command.replyToList { mailing.replyToList = value }
                    if let value = command.moderators {
                        mailing.moderators = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    }
                    if let value = command.returnAddress { mailing.returnAddress = value }
                    if let value = command.slowPosting { mailing.slowPosting = value }
                    if let value = command.membersMayList { mailing.membersMayList = value }
                    for pattern in command.ban where !mailing.bans.contains(pattern.lowercased()) { mailing.bans.append(pattern.lowercased()) }
                    mailing.bans.removeAll { banned in command.unban.contains { $0.lowercased() == banned } }
                    if let hours = command.confirmHours { mailing.confirmHours = hours }
                    list.mailing = mailing
                }
            }
            options.output.done("list \(list.name): \(Self.summary(list))")
        }

        static func summary(_ list: ListRecord) -> String {
            var parts = [list.kind.rawValue, list.isPublic ? "public" : "members-only"]
            if list.kind == .mailing {
                let mailing = list.mailingOptions
                parts += ["posting \(mailing.posting.rawValue)", "subscription \(mailing.subscription.rawValue)"]
                if !mailing.subjectPrefix.isEmpty { parts.append("prefix \(mailing.subjectPrefix)") }
                if mailing.replyToList { parts.append("reply to list") }
                if mailing.slowPosting { parts.append("slow posting") }
                if !mailing.moderators.isEmpty { parts.append("moderators \(mailing.moderators.joined(separator: ";"))") }
                if !mailing.bans.isEmpty { parts.append("\(mailing.bans.count) bans") }
            }
            return parts.joined(separator: ", ")
        }
    }

    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Posts held for a moderator and subscription changes waiting to be confirmed, of one list or all.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String?
        func run() async throws {
            let pending = try await options.withDirectory { try await $0.pending(list: name) }
            options.output.print(columns: ["token", "list", "kind", "address", "subject", "reason", "expires"], rows: pending.map {
                [$0.token, $0.list, $0.kind, $0.address, $0.subject ?? "", $0.reason, $0.expiresAt.formatted(.iso8601)]
            })
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a held post on to its list.")
        @OptionGroup var options: DirectoryOptions
        @Argument var token: String
        func run() async throws {
            let post = try await options.withDirectory { try await $0.moderate(token: token, approved: true, reason: nil) }
            options.output.done("approved the post \"\(post.subject ?? "")\" from \(post.address) to \(post.list)")
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a held post; its sender is told.")
        @OptionGroup var options: DirectoryOptions
        @Argument var token: String
        @Option(help: "Why, for the sender.") var reason: String?
        func run() async throws {
            let post = try await options.withDirectory { try await $0.moderate(token: token, approved: false, reason: reason) }
            options.output.done("rejected the post \"\(post.subject ?? "")\" from \(post.address) to \(post.list)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a list and the aliases that point at it.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeList(name) }
            options.output.done("removed list \(name) and the aliases that pointed at it")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a list's members, or every list when no name is given.")
        @OptionGroup var options: DirectoryOptions
        @Argument var name: String?
        func run() async throws {
            let snapshot = try await options.withDirectory { try await $0.snapshot() }
            guard let name else {
                options.output.print(columns: ["list", "kind", "public", "members", "description"],
                                     rows: snapshot.lists.sorted { $0.key < $1.key }.map { id, list in
                    [list.name, list.kind.rawValue, list.isPublic ? "yes" : "no", "\(snapshot.listMembers[id]?.count ?? 0)",
                     list.description]
                })
                return
            }
            guard snapshot.lists[name.lowercased()] != nil else { throw CommandFailure("no list named \(name)") }
            options.output.print(columns: ["member"], rows: (snapshot.listMembers[name.lowercased()] ?? []).map { [$0] })
        }
    }

    struct Member: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or remove a member: a local user name or a full address.",
            subcommands: [MemberAdd.self, MemberRemove.self])
    }

    struct MemberAdd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add ADDRESS to LIST.")
        @OptionGroup var options: DirectoryOptions
        @Argument var list: String
        @Argument var address: String
        func run() async throws {
            try await options.withDirectory { try await $0.addListMember(list, address: address) }
            options.output.done("added \(address) to list \(list)")
        }
    }

    struct MemberRemove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove ADDRESS from LIST.")
        @OptionGroup var options: DirectoryOptions
        @Argument var list: String
        @Argument var address: String
        func run() async throws {
            try await options.withDirectory { try await $0.removeListMember(list, address: address) }
            options.output.done("removed \(address) from list \(list)")
        }
    }
}

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Runtime settings, recorded as events and applied without a restart.",
        subcommands: [Get.self, Change.self, List.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a setting's value (JSON).")
        @OptionGroup var options: DirectoryOptions
        @Argument var key: String
        func run() async throws {
            guard let known = SettingKeys.named(key) else { throw CommandFailure("no setting named \(key)") }
            let value = try await options.withDirectory { try await Settings(engine: $0.engine).json(key) }
            print(value ?? known.defaultJSON)
        }
    }

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change settings: KEY VALUE, and more pairs (JSON values; strings may be bare).")
        @OptionGroup var options: DirectoryOptions
        @Argument var key: String
        @Argument var value: String
        @Argument(help: "More KEY VALUE pairs.") var more: [String] = []

        func validate() throws {
            guard more.count % 2 == 0 else { throw ValidationError("every key needs a value") }
        }

        func run() async throws {
            let pairs = [(key, value)] + stride(from: 0, to: more.count, by: 2).map { (more[$0], more[$0 + 1]) }
            let stored = try await options.withDirectory { directory in
                var stored: [String] = []
                for (key, value) in pairs {
                    stored.append(try await SettingWriter(engine: directory.engine).set(key, to: value, actor: commandLineActor))
                }
                return stored
            }
            for ((key, _), value) in zip(pairs, stored) { print("\(key) = \(value)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every setting with its value.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let settings = try await options.withDirectory { try await Settings(engine: $0.engine).list() }
            options.output.print(columns: ["key", "type", "value", "default", "summary"], rows: settings.map {
                [$0.key.name, $0.key.typeName, $0.json, $0.isDefault ? "yes" : "", $0.key.summary]
            })
        }
    }
}
