import EventLog
import Facts
import Foundation
import Logging
import Projections
import Routing

/// VPOP3's "Send admin message": one message to every member of a group or list (or every
/// user), each with its own copy in which keywords are filled in for that member. Each copy is
/// a new accepted message (service `admin-message`), all in one transaction.
public enum AdminMessage {
    /// The keywords a subject or text may use, for each member.
    public static let keywords = ["username", "address", "comments", "date", "mailboxsize", "quota"]

    public enum Problem: Error, CustomStringConvertible {
        case unknownKeywords([String])
        case noSuchTarget(String)
        case nobody(String)

        public var description: String {
            switch self {
            case .unknownKeywords(let words):
                "unknown keywords \(words.map { "{\($0)}" }.joined(separator: ", ")); known: "
                    + AdminMessage.keywords.map { "{\($0)}" }.joined(separator: ", ")
            case .noSuchTarget(let name): "no group or list named \(name) (or give \"everyone\")"
            case .nobody(let name): "\(name) has no member mail can go to"
            }
        }
    }

    /// Sends it; the addresses it went to.
    public static func send(to target: String, subject: String, text: String, from: String?, quotaKiB: Int, engine: ProjectionEngine,
                            logger: Logger, now: Date = Date()) async throws -> [String] {
        let unknown = Autoresponder.unknownReplacements(in: subject, known: keywords)
            + Autoresponder.unknownReplacements(in: text, known: keywords)
        guard unknown.isEmpty else { throw Problem.unknownKeywords(unknown) }
        let snapshot = try await DirectorySnapshot.load(from: engine)
        var router = Router(snapshot: snapshot)
        router.defaultMappings = true
        let domain = snapshot.mailDomain ?? "localhost"
        let key = target.lowercased()
        let members: [String]
        if key == "everyone" || key == "*", snapshot.groups[key] == nil, snapshot.lists[key] == nil {
            members = snapshot.users.keys.sorted()
        } else if snapshot.groups[key] != nil {
            members = (snapshot.groupMembers[key] ?? []).sorted()
        } else if snapshot.lists[key] != nil {
            members = snapshot.listMembers[key] ?? []
        } else {
            throw Problem.noSuchTarget(target)
        }
        let reader = MailReader(engine: engine)
        let sender = from ?? "postmaster@\(domain)"
        var appends: [PendingAppend] = []
        var sent: [String] = []
        for member in members {
            let address = member.contains("@") ? member : "\(member)@\(domain)"
            guard let recipient = Answering.recipient(address, router: router),
                  !sent.contains(where: { $0.lowercased() == recipient.address.lowercased() }) else { continue }
            let user = recipient.user.flatMap { snapshot.users[$0] }
            var values = ["address": address, "date": CollectorRun.date(now), "username": user?.name ?? "",
                          "comments": user?.comments ?? "", "mailboxsize": "", "quota": quotaKiB > 0 ? "\(quotaKiB) KiB" : "unlimited"]
            if let user, let account = try await reader.account(user.id) {
                values["mailboxsize"] = "\((account.bytes + 1_023) / 1_024) KiB"
            }
            let id = ReportMail.randomID()
            let notice = NoticeMail(from: "<\(sender)>", to: [address], subject: Autoresponder.fill(subject, values), date: now,
                                    messageID: "\(id)@\(domain)", autoSubmitted: "auto-generated", text: Autoresponder.fill(text, values))
            appends.append(try Answering.accepted(notice.bytes(), id: id, from: sender, to: [recipient], helo: domain,
                                                  subject: Autoresponder.fill(subject, values), service: "admin-message"))
            sent.append(recipient.address)
        }
        guard !appends.isEmpty else { throw Problem.nobody(target) }
        _ = try await engine.transaction { try await $0.append(appends) }
        logger.info("admin message sent", metadata: ["to": "\(target)", "copies": "\(appends.count)"])
        return sent
    }
}
