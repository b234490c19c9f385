import EventLog
import Facts
import Foundation
import Logging
import MailCore
import PostgresNIO
import Projections
import Routing
import ServiceLifecycle

/// Transmission receipts (VPOP3's): a consumer of `delivered` that tells a local sender their
/// message has left, when it carries one of `receipts.header_fields`. One receipt per delivery
/// (each `delivered` names the recipients one receiving server took); the receipt, its
/// `transmission_receipt_sent` and the consumer's checkpoint commit together.
public struct ReceiptAgent: ConsumerAgent {
    public static let consumerName = "receipts"

    public let consumer: LogConsumer

    public init(engine: ProjectionEngine, directory: LiveDirectory, logger: Logger) {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(Self.consumerName)"
        let receipts = Receipts(engine: engine, directory: directory, logger: logger)
        consumer = LogConsumer(name: Self.consumerName, categories: [MessageAccepted.category], store: engine.store,
                               registry: EventTypeRegistry([Delivered.self], passingOver: EventCatalogue.all),
                               gather: LogConsumer.unhurried, logger: logger) { batch, connection in
            try await receipts.handle(batch, on: connection)
        }
    }
}

struct Receipts: Sendable {
    let engine: ProjectionEngine
    let directory: LiveDirectory
    let logger: Logger

    func handle(_ batch: ConsumerBatch, on connection: PostgresConnection) async throws {
        guard batch.items.contains(where: { $0.event is Delivered }) else { return }
        let settings = try await Settings(engine: engine).snapshot(on: connection)
        let fields = settings.value(SettingKey<[String]>.receiptHeaderFields)
        guard !fields.isEmpty else { return }
        var router = Router(snapshot: directory.snapshot)
        router.defaultMappings = !settings.value(SettingKey<Bool>.disableDefaultMappings)
        // The streams of the delivered messages that asked for a receipt (or whose `delivered`
        // does not say), read together: one query per batch.
        let ids = batch.items.compactMap { $0.event as? Delivered }.filter { $0.receiptRequested != false }.map(\.messageID)
        let messages = try await OutboundMessage.load(Array(Set(ids)), from: engine.store, logger: logger)
        var transaction: ProjectionTransaction?
        for item in batch.items {
            guard let delivered = item.event as? Delivered, delivered.receiptRequested != false,
                  let (message, _) = messages[delivered.messageID],
                  message.accepted.receiptRequested == true
            else { continue }
            let accepted = message.accepted
            let sender = accepted.reversePath
            // Only a local user's mail: a receipt to anyone else would be backscatter.
            guard !sender.isEmpty, accepted.authUser != nil || router.localUser(sender) != nil,
                  let route = Answering.recipient(sender, router: router),
                  let stored = try await engine.store.blobs([accepted.blob], on: connection)[accepted.blob] else { continue }
            let header = MessageHeader.parse(ListPost.withoutReturnPath(stored))
            let addresses = message.recipients.filter { delivered.recipients.contains($0.rcptid) }.map(\.address)
            guard !addresses.isEmpty else { continue }

            let snapshot = router.snapshot
            let domain = snapshot.mailDomain ?? "localhost"
            let id = ReportMail.randomID()
            let subject = accepted.subject?.value ?? ""
            var text = "Your message\n\n  Subject: \(DeliveryReport.oneLine(subject))\n"
            if let original = header.first("Message-ID")?.trimmingCharacters(in: .whitespaces) {
                text += "  Message-ID: \(DeliveryReport.oneLine(original))\n"
            }
            text += "\nwas handed to \(delivered.mxHost.map { "the receiving server \($0)" } ?? "the receiving server") on "
                + "\(CollectorRun.date(item.recorded.recordedAt)) for:\n\n" + addresses.map { "  \($0)\n" }.joined()
                + "\nThis says it left this server; it does not say the recipient has read it.\n"
            let notice = NoticeMail(from: "<postmaster@\(domain)>", to: [sender], subject: "Transmission receipt: \(subject)",
                                    date: item.recorded.recordedAt, messageID: "\(id)@\(domain)", autoSubmitted: "auto-generated",
                                    text: text)
            if transaction == nil { transaction = try await engine.transaction(joining: connection) }
            try await transaction!.append([
                try Answering.accepted(notice.bytes(), id: id, from: "", to: [route], helo: domain, subject: "transmission receipt",
                                       service: "receipts"),
                PendingAppend(stream: try TransmissionReceiptSent.stream(messageID: accepted.messageID), expectedVersion: .any,
                              events: [PendingEvent(TransmissionReceiptSent(messageID: accepted.messageID, recipients: addresses,
                                                                            receiptID: id))]),
            ])
            logger.info("transmission receipt sent", metadata: ["message": "\(accepted.messageID)", "to": "\(sender)"])
        }
    }
}
