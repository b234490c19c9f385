import ArgumentParser
import EventLog
import Foundation
import Logging
import PostgresNIO

/// Stored bytes per event for a corpus shaped like a mail server's log (accepted messages,
/// delivery attempts, logins, IDS events), without and then with a trained dictionary.
struct CompressionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compression", abstract: "Stored bytes per event.")

    @Option(help: "Server to measure on (a fresh database is created and dropped on it).")
    var databaseURL: String
    @Option(help: "Events in each half of the corpus.")
    var events = 20_000

    func run() async throws {
        let logger = benchLogger()
        let server = try DatabaseEndpoint(url: databaseURL)
        let count = events
        try await BenchDatabase.with(server, logger: logger) { client in
            let store = EventStore(client: client, logger: logger)
            try await store.whileRunning {
                var corpus = MailEventCorpus(seed: 1)
                let jsonBytes = try await appendCorpus(store, corpus: &corpus, count: count, offset: 0)
                let plain = try await storedBytes(client, dictionary: false, logger: logger)

                let trained = try await DictionaryTrainer(store: store, logger: logger).train(samples: count, capacity: 65_536)
                _ = try await appendCorpus(store, corpus: &corpus, count: count, offset: count)
                let withDictionary = try await storedBytes(client, dictionary: true, logger: logger)

                let perEvent = Double(jsonBytes) / Double(count)
                print("events per half          \(count)")
                print(String(format: "JSON bytes per event     %.1f", perEvent))
                print(String(format: "zstd, no dictionary      %.1f bytes/event (%.2f× smaller than JSON)", plain, perEvent / plain))
                print(String(format: "zstd, trained dictionary %.1f bytes/event (%.2f× smaller than JSON; %.2f× smaller than without)",
                             withDictionary, perEvent / withDictionary, plain / withDictionary))
                print("dictionary               \(trained.bytes) bytes (id \(trained.id))")
            }
        }
    }

    /// Appends `count` events in mailbox-sized batches; returns their JSON size.
    func appendCorpus(_ store: EventStore, corpus: inout MailEventCorpus, count: Int, offset: Int) async throws -> Int {
        var bytes = 0
        var index = 0
        while index < count {
            let batch = (0..<min(100, count - index)).map { _ in corpus.next() }
            bytes += batch.reduce(0) { $0 + $1.json.count }
            try await store.append(batch, to: try StreamName(category: "corpus", id: "\((offset + index) / 100)"))
            index += batch.count
        }
        return bytes
    }

    func storedBytes(_ client: PostgresClient, dictionary: Bool, logger: Logger) async throws -> Double {
        let rows = try await client.query("""
            SELECT avg(octet_length(payload))::float8 FROM eventlog.events WHERE (dict_id IS NOT NULL) = \(dictionary)
            """, logger: logger)
        for try await average in rows.decode(Double.self) { return average }
        return 0
    }
}

/// Events shaped like the ones a mail server writes most, with realistic variety.
struct MailEventCorpus {
    var random: SplitMix
    var sequence = 0

    init(seed: UInt64) { random = SplitMix(seed: seed) }

    mutating func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
    mutating func number(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
    mutating func hex(_ count: Int) -> String { (0..<count).map { _ in String(random.next() % 16, radix: 16) }.joined() }
    mutating func address() -> String {
        "\(pick(["alice", "bob", "carol", "dave", "sales", "info", "accounts", "j.smith", "noreply", "support"]))\(number(0...40))@"
            + pick(["example.com", "example.org", "mail.example.net", "customer.co.uk", "partner.de", "gmail.com"])
    }
    mutating func ip() -> String { "\(pick([192, 203, 198, 81, 62]))...\(number(0...255)).\(number(1...254))".replacingOccurrences(of: "...", with: ".\(number(0...255)).") }

    mutating func next() -> EventData {
        sequence += 1
        let session = hex(16)
        let json: String
        switch number(0...9) {
        case 0...3:
            let recipients = (0..<number(1...4)).map { _ in #"{"address":"\#(address())","notify":["failure"],"orcpt":null}"# }
            json = #"{"authIdentity":\#(pick(["null", "\"alice\"", "\"bob\""])),"bodySHA256":"\#(hex(64))","clientIP":"\#(ip())","dsn":{"envid":null,"ret":"hdrs"},"helo":"\#(pick(["mail", "smtp", "mx1", "out"])).\#(pick(["example.com", "example.org", "partner.de"]))","mailFrom":"\#(address())","messageID":"<\#(hex(24))@\#(pick(["example.com", "example.org"]))>","recipients":[\#(recipients.joined(separator: ","))],"sessionID":"\#(session)","size":\#(number(900...250_000)),"tls":{"cipher":"TLS_AES_256_GCM_SHA384","version":"TLSv1.3"}}"#
            return EventData(type: "message_accepted", typeVersion: 1, json: Array(json.utf8))
        case 4...5:
            json = #"{"attempt":\#(number(1...6)),"host":"mx\#(number(1...3)).\#(pick(["example.com", "example.org", "partner.de", "gmail.com"]))","ip":"\#(ip())","messageID":"\#(hex(32))","recipient":"\#(address())","reply":"\#(pick(["250 2.0.0 Ok: queued as \(hex(10))", "451 4.7.1 Greylisted, try again later", "550 5.1.1 User unknown", "421 4.3.2 Service not available"]))","sessionID":"\#(session)","durationMilliseconds":\#(number(40...9000))}"#
            return EventData(type: "delivery_attempted", typeVersion: 1, json: Array(json.utf8))
        case 6...7:
            json = #"{"clientIP":"\#(ip())","mechanism":"\#(pick(["PLAIN", "LOGIN", "SCRAM-SHA-256"]))","protocol":"\#(pick(["imap", "pop3", "submission"]))","sessionID":"\#(session)","tls":true,"user":"\#(pick(["alice", "bob", "carol", "dave"]))"}"#
            return EventData(type: pick(["login_succeeded", "login_failed"]), typeVersion: 1, json: Array(json.utf8))
        default:
            json = #"{"clientIP":"\#(ip())","details":"\#(pick(["RCPT TO:<\(address())>", "AUTH PLAIN", "relay to \(address())"]))","number":\#(pick([1, 3, 4, 5])),"score":\#(pick([50, 100])),"service":"smtp","sessionID":"\#(session)"}"#
            return EventData(type: "ids_event", typeVersion: 1, json: Array(json.utf8))
        }
    }
}
