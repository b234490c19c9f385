import ArgumentParser
import EventLog
import Facts
import Foundation
import MailCore

/// Events encoded and decoded per second by the log's coder (`EventCoding.encode`/`decode`)
/// and by Foundation's `JSONEncoder`/`JSONDecoder` set up the same way, in one run: the hot
/// events of intake (`message_accepted` for two local users, and the `message_delivered` that
/// files it, with its parsed summary).
struct CodecBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "codec", abstract: "Event JSON coding, against Foundation's.")

    @Option(help: "Events coded per measurement.")
    var rounds = 20_000

    func run() throws {
        let body = Array(Self.message.utf8)
        let blob = BlobID.of(body)
        let accepted = MessageAccepted(
            messageID: "8f1c2d3e4b5a69788796a5b4c3d2e1f0", sessionID: "3c9d0e1f2a3b4c5d", service: "smtp", clientIP: "192.0.2.17",
            helo: "mail.example.org", tls: "TLSv1.3", authUser: nil, reversePath: "sender@example.org",
            recipients: [
                .init(address: "alice@example.com", route: .local, user: "alice"),
                .init(address: "bob@example.com", route: .local, user: "bob", notify: ["FAILURE", "DELAY"]),
            ],
            body: "8BITMIME", smtpUTF8: false, ret: nil, envelopeID: nil, mailAuth: nil, size: Int64(body.count), blob: blob,
            returnPathLength: 32, subject: "Quarterly figures", processingTime: 0.0042, spf: "pass")
        let summary = MIMEParser.summariseForStorage(body)
        let delivered = MessageDelivered(
            message: StoredMessage(mailboxID: 1, uid: 4711, modSeq: 9001, flags: [], internalDate: Date(timeIntervalSince1970: 1_765_151_198.25),
                                   size: Int64(body.count), blob: blob),
            summary: summary)

        print("events of each kind per measurement: \(rounds)")
        try measure("message_accepted", accepted)
        try measure("message_delivered", delivered)
    }

    private func measure<E: Event>(_ name: String, _ event: E) throws {
        let foundationEncoder = EventCoding.encoder(), foundationDecoder = EventCoding.decoder()
        let json = try EventCoding.encode(event)
        let data = Data(json)
        let encodeOurs = try rate { _ = try EventCoding.encode(event) }
        let encodeFoundation = try rate { _ = try foundationEncoder.encode(event) }
        let decodeOurs = try rate { _ = try EventCoding.decode(E.self, from: json) }
        let decodeFoundation = try rate { _ = try foundationDecoder.decode(E.self, from: data) }
        print(String(format: "%@ (%d bytes) encode: %.0f/s, Foundation %.0f/s, ratio %.2f", name, json.count,
                     encodeOurs, encodeFoundation, encodeOurs / encodeFoundation))
        print(String(format: "%@ (%d bytes) decode: %.0f/s, Foundation %.0f/s, ratio %.2f", name, json.count,
                     decodeOurs, decodeFoundation, decodeOurs / decodeFoundation))
    }

    /// Codings per second: the best of three passes.
    private func rate(_ work: () throws -> Void) throws -> Double {
        var best = 0.0
        for _ in 0..<3 {
            let start = ContinuousClock.now
            for _ in 0..<rounds { try work() }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            best = max(best, Double(rounds) / seconds)
        }
        return best
    }

    static let message = """
        Return-Path: <sender@example.org>\r
        Received: from mail.example.org (mail.example.org [192.0.2.17]) by mx.example.com with ESMTPS; Mon, 7 Dec 2026 23:00:00 +0000\r
        From: "Sender Person" <sender@example.org>\r
        To: Alice <alice@example.com>, bob@example.com\r
        Cc: "Accounts" <accounts@example.com>\r
        Subject: Quarterly figures\r
        Date: Mon, 7 Dec 2026 22:59:58 +0000\r
        Message-ID: <20261207225958.4711@example.org>\r
        In-Reply-To: <20261201080000.1@example.com>\r
        References: <20261201080000.1@example.com>\r
        MIME-Version: 1.0\r
        Content-Type: multipart/mixed; boundary="outer"\r
        \r
        --outer\r
        Content-Type: multipart/alternative; boundary="inner"\r
        \r
        --inner\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: quoted-printable\r
        \r
        Here are the figures for the quarter, as promised.\r
        --inner\r
        Content-Type: text/html; charset=utf-8\r
        \r
        <p>Here are the figures for the quarter, as promised.</p>\r
        --inner--\r
        --outer\r
        Content-Type: application/pdf; name="figures.pdf"\r
        Content-Disposition: attachment; filename="figures.pdf"\r
        Content-Transfer-Encoding: base64\r
        \r
        JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURlY29kZT4+CnN0cmVhbQp4nDPQM1Qo\r
        --outer--\r

        """
}
