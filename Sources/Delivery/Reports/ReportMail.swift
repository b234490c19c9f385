import EventLog
import Facts
import Foundation
import Projections
import Routing

/// What the aggregate report generators (DMARC, TLS) share: who reports, and the report's
/// message put into the queue like any accepted mail.
public enum ReportMail {
    /// The reporting organization and the host in report ids and file names, and the report's
    /// `From:`, envelope sender and contact address.
    public struct Identity: Sendable {
        public var organization: String
        public var hostname: String
        public var address: String

        public init(organization: String, hostname: String, address: String) {
            self.organization = organization
            self.hostname = hostname
            self.address = address
        }

        /// `address` empty is postmaster at `hostname`.
        public init(hostname: String, address: String) {
            self.init(organization: hostname, hostname: hostname, address: address.isEmpty ? "postmaster@\(hostname)" : address)
        }
    }

    static func randomID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// `bytes` in base64, in lines of 76 with CRLF.
    static func base64Lines(_ bytes: [UInt8]) -> String {
        let encoded = Data(bytes).base64EncodedString()
        var text = ""
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let next = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            text += encoded[index..<next] + "\r\n"
            index = next
        }
        return text
    }

    /// The report's message accepted from `identity` for `destinations` (routed as mail from
    /// this server: local mailboxes, LAN hosts or the outgoing queue), ready to append.
    static func accept(_ bytes: [UInt8], to destinations: [String], identity: Identity, service: String, subject: String,
                       snapshot: DirectorySnapshot) throws -> (messageID: String, append: StreamAppend) {
        let messageID = randomID()
        var router = Router(snapshot: snapshot)
        router.defaultMappings = true
        let recipients = destinations.compactMap { address -> MessageAccepted.Recipient? in
            let domain = String(address.split(separator: "@").last ?? "")
            let localPart = address.lastIndex(of: "@").map { String(address[..<$0]) } ?? address
            switch router.route(localPart: localPart, domain: domain, from: RouteSender(user: nil, inRelayNetworks: true)) {
            case .local(let user): return .init(address: address, route: .local, user: user)
            case .remote: return .init(address: address, route: .remote, notify: ["FAILURE"])
            case .lan(let target, let to): return .init(address: to, route: .lan, notify: ["FAILURE"], lan: target)
            default: return nil
            }
        }
        let returnPath = "Return-Path: <\(identity.address)>\r\n"
        let stored = Array(returnPath.utf8) + bytes
        let blob = BlobData(stored)
        let accepted = MessageAccepted(
            messageID: messageID, sessionID: "", service: service, clientIP: "", helo: identity.hostname, tls: nil,
            authUser: nil, reversePath: identity.address, recipients: recipients, body: "7BIT", smtpUTF8: false, ret: "HDRS",
            envelopeID: nil, mailAuth: nil, size: Int64(stored.count), blob: blob.id, returnPathLength: returnPath.utf8.count,
            subject: subject)
        return (messageID, StreamAppend(stream: try DeliveryFacts.stream(messageID), expectedVersion: .noStream,
                                        events: [try EventData(accepted, blobs: [blob])]))
    }
}

/// A daily report generator (DMARC aggregate reports, TLS reports): the earlier days with
/// reports still to make, and making a day's.
public protocol DailyReporter: Sendable {
    associatedtype Fact: Sendable
    func pendingDays(before today: String) async throws -> [String]
    func send(day: String, snapshot: DirectorySnapshot, now: Date) async throws -> [Fact]
}

extension DailyReporter {
    /// Makes the reports of `day`, or of every earlier day of the last week still to make.
    public func send(day: String?, snapshot: DirectorySnapshot, now: Date = Date()) async throws -> [Fact] {
        let days = if let day { [day] } else { try await pendingDays(before: DMARCProjection.day(now)) }
        var sent: [Fact] = []
        for day in days { sent += try await send(day: day, snapshot: snapshot, now: now) }
        return sent
    }
}

extension DMARCReporter: DailyReporter {}
extension TLSReporter: DailyReporter {}
