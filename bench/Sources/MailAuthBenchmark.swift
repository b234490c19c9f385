import ArgumentParser
import Foundation
import MailAuth

/// DKIM signatures per second over a 4 KiB message (canonicalization, body hash, header hash
/// and the signature itself), with an RSA-2048 key and with an Ed25519 key.
struct DKIMSignBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dkim-sign", abstract: "DKIM signatures per second.")

    @Option(help: "Seconds per key type.") var seconds = 5.0
    @Option(help: "Message size in bytes.") var size = 4_096

    func run() throws {
        let message = Self.message(size: size)
        for (name, ed25519) in [("rsa2048", false), ("ed25519", true)] {
            let key = try DKIMKey.generate(domain: "sender.auth.bench", selector: "s", ed25519: ed25519)
            let start = Date()
            var count = 0
            while Date().timeIntervalSince(start) < seconds {
                _ = try DKIMSigner.sign(message, keys: [key], at: start)
                count += 1
            }
            print(String(format: "%@ %.1f", name, Double(count) / Date().timeIntervalSince(start)))
        }
    }

    static func message(size: Int) -> [UInt8] {
        var text = "From: Sender <news@sender.auth.bench>\r\nTo: b@test\r\nSubject: the weekly figures\r\n"
        text += "Date: Sat, 05 Dec 2026 12:00:00 +0000\r\nMessage-ID: <bench@sender.auth.bench>\r\n\r\n"
        let line = "The quick brown fox jumps over the lazy dog, and again, and again.\r\n"
        while text.utf8.count < size { text += line }
        return Array(text.utf8)
    }
}

/// Writes a message signed with a new RSA-2048 key, and the key's DNS record, for bench/auth.
struct DKIMMessageBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dkim-message", abstract: "A signed message and its key record.")

    @Option(help: "Where the signed message goes.") var message: String
    @Option(help: "Where the key's TXT record value goes.") var record: String
    @Option(help: "Message size in bytes.") var size = 4_096

    func run() throws {
        let key = try DKIMKey.generate(domain: "sender.auth.bench", selector: "s", ed25519: false)
        let body = DKIMSignBenchmark.message(size: size)
        let signed = try DKIMSigner.sign(body, keys: [key], at: Date()) + body
        try Data(signed).write(to: URL(fileURLWithPath: message))
        try key.record.write(toFile: record, atomically: true, encoding: .utf8)
    }
}
