import ArgumentParser
import Commands
import Facts
import Foundation
import Projections

/// `pillarbox folder`: a user's folders and who else may use them (RFC 4314 rights, the same
/// as IMAP's SETACL and GETACL). The owner `#shared` stands for the public folders (IMAP's
/// `Shared/…`), which no user owns.
struct FolderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "folder", abstract: "A user's folders and the rights others have on them.",
        subcommands: [List.self, Create.self, Share.self, Unshare.self, ACL.self])

    /// How a folder of `owner` shows to someone else.
    static func shown(owner: String, _ name: String) -> String {
        owner == MailboxNames.publicOwner ? "Shared/\(name)" : "Other Users/\(owner)/\(name)"
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a folder for a user, or a public one: pillarbox folder create '#shared' Support.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The folder's owner: a user, or #shared for a public folder.") var owner: String
        @Argument(help: "The folder.") var folder: String
        func run() async throws {
            try await options.withDirectory { directory in
                let snapshot = try await directory.snapshot()
                guard owner == MailboxNames.publicOwner || snapshot.users[owner.lowercased()] != nil else {
                    throw ValidationError("no user \(owner)")
                }
                _ = try await directory.mail.createMailbox(user: owner, name: folder)
            }
            options.output.done("created \(owner == MailboxNames.publicOwner ? "Shared/\(folder)" : "\(owner.lowercased())'s \(folder)")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A user's folders, and the folders others share with them.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The user.") var user: String
        func run() async throws {
            let (own, shared) = try await options.withDirectory { directory in
                (try await directory.mail.reader.mailboxes(user), try await directory.mail.reader.sharedWith(user))
            }
            options.output.print(columns: ["folder", "owner", "messages", "bytes", "rights"], rows:
                own.map { [$0.name, user.lowercased(), "\($0.messages)", "\($0.bytes)", MailboxRights.owner] }
                + shared.map { [FolderCommand.shown(owner: $0.owner, $0.mailbox.name), $0.owner, "\($0.mailbox.messages)", "\($0.mailbox.bytes)",
                                $0.rights] })
        }
    }

    struct Share: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a user (or anyone) rights on a folder: pillarbox folder share OWNER FOLDER with USER RIGHTS.",
            discussion: "Rights are RFC 4314's letters: l lookup, r read, s keep seen, w write flags, i insert, p post, k create, x delete folder, t delete messages, e expunge, a administer. For example lrs to read, lrswite to work in it.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The folder's owner.") var owner: String
        @Argument(help: "The folder.") var folder: String
        @Argument(help: "The word `with`.") var with: String
        @Argument(help: "The user given the rights, or anyone.") var identifier: String
        @Argument(help: "The rights, e.g. lrs.") var rights: String

        func validate() throws {
            guard with.lowercased() == "with" else { throw ValidationError("write: folder share OWNER FOLDER with USER RIGHTS") }
            guard MailboxRights.normalised(rights).map({ !$0.isEmpty }) == true else {
                throw ValidationError("rights are letters of \(MailboxRights.all)")
            }
        }

        func run() async throws {
            try await options.withDirectory { directory in
                let snapshot = try await directory.snapshot()
                guard identifier.lowercased() == "anyone" || snapshot.users[identifier.lowercased()] != nil else {
                    throw ValidationError("no user \(identifier)")
                }
                try await directory.mail.setRights(owner: owner, mailbox: folder, identifier: identifier, rights: rights)
            }
            options.output.done("\(identifier.lowercased()) has \(MailboxRights.normalised(rights) ?? rights) on \(owner.lowercased())'s \(folder)")
        }
    }

    struct Unshare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a user's (or anyone's) rights on a folder away.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The folder's owner.") var owner: String
        @Argument(help: "The folder.") var folder: String
        @Argument(help: "The user, or anyone.") var identifier: String
        func run() async throws {
            try await options.withDirectory { directory in
                try await directory.mail.setRights(owner: owner, mailbox: folder, identifier: identifier, rights: "")
            }
            options.output.done("\(identifier.lowercased()) has no rights on \(owner.lowercased())'s \(folder)")
        }
    }

    struct ACL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "acl", abstract: "Who may do what in a folder.")
        @OptionGroup var options: DirectoryOptions
        @Argument(help: "The folder's owner.") var owner: String
        @Argument(help: "The folder.") var folder: String
        func run() async throws {
            let entries = try await options.withDirectory { directory -> [String: String] in
                guard let mailbox = try await directory.mail.reader.mailbox(owner, named: folder) else {
                    throw ValidationError("\(owner) has no folder \(folder)")
                }
                return try await directory.mail.reader.rights(owner, mailboxID: mailbox.id)
            }
            options.output.print(columns: ["identifier", "rights"],
                                 rows: (owner == MailboxNames.publicOwner ? [] : [[owner.lowercased(), MailboxRights.owner]]) + entries.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
        }
    }
}
